"""Cited-answer assistant: questions about policy documents, answered with verbatim excerpts."""

from .config import Settings
from .errors import AssistantError, CorpusError, IndexError_, IndexMismatchError, ModelError
from .pipeline import Assistant, build_index
from .types import Answer, BuildReport, Citation

__all__ = [
    "Answer",
    "Assistant",
    "AssistantError",
    "BuildReport",
    "Citation",
    "CorpusError",
    "IndexError_",
    "IndexMismatchError",
    "ModelError",
    "Settings",
    "build_index",
]
