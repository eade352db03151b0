"""Command line: `assistant index | add | remove | ask | eval | show | brief | serve`, a thin adapter over
the pipeline (parser.py: the arguments; commands.py: what each does)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from ..errors import AssistantError
from .parser import build_parser

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (head, less) stopped reading: not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0

