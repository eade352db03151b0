"""Writing a file whole or not at all: a hidden temporary file beside it, then os.replace."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never half of one; an existing file keeps
    its permissions. Raises OSError, leaving no temporary file behind."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")  # hidden: corpus discovery skips it
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
