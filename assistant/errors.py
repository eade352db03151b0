"""Exceptions the assistant raises, one small tree:

    AssistantError
     ├── ConfigError            bad settings or environment overrides
     ├── CorpusError            a corpus file or the metadata file cannot be used
     ├── ModelError             the embedding model cannot be loaded
     ├── IndexError_            the index is missing, damaged or built with other settings
     │    └── IndexMismatchError   the index on disk was built with other settings
     ├── PassageIdError         a passage id is malformed or names nothing this index has seen
     ├── BriefingError          a briefing cannot be written (bad path, unknown format or style)
     └── PageViewError          a cited page cannot be shown (page does not render, not a PDF)
          └── SourceChangedError   the cited file changed or is gone since indexing

Every message names the file or setting and says what to do.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base of every error the assistant reports to a user."""


class ConfigError(AssistantError):
    """A setting or ASSISTANT_* environment variable is invalid."""


class CorpusError(AssistantError):
    """A corpus file (or the metadata file) cannot be read or has no text."""


class ModelError(AssistantError):
    """The embedding model cannot be loaded."""


class IndexError_(AssistantError):  # noqa: N801 - trailing underscore avoids shadowing the builtin
    """The index is missing or unreadable."""


class IndexMismatchError(IndexError_):
    """The index on disk was built with other settings."""


class PassageIdError(AssistantError):
    """A passage id cannot be parsed or resolved."""


class BriefingError(AssistantError):
    """A briefing cannot be exported."""


class PageViewError(AssistantError):
    """A cited page cannot be shown as an image."""


class SourceChangedError(PageViewError):
    """The cited file changed or is gone since indexing: its pages no longer hold the quote."""

    @classmethod
    def of(cls, path: str) -> SourceChangedError:
        return cls(f"{path}: the source changed since indexing; run `assistant index`")
