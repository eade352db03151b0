"""What the sections of the Documents & index tab share: the library they change, the rebuild
that follows every change, and the wrapper that lets only editors make one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..config import Settings
from ..pipeline import Assistant

Rebuild = Callable[[list[str]], Iterator[tuple[Any, ...]]]
"""The page's one background rebuild (DocumentsTab.rebuild): log lines to start from, then
it yields the build log, the index panel and the chat's scope."""
Guard = Callable[[Callable[..., Any]], Callable[..., Any]]
"""Wraps a callback that changes the library so that it runs for editors only (access.editors_only)."""


@dataclass(frozen=True)
class LibrarySection:
    """A section that changes the corpus folder of `settings`, then runs `rebuild`."""

    settings: Settings
    assistant: Assistant
    rebuild: Rebuild
