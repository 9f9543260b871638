"""Writing user-facing files so that a failure never leaves half a file behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def write_atomically(path: "str | os.PathLike", write: Callable[[Path], None]) -> Path:
    """Call write(temp_path) on a temp file beside `path`, fsync it, then os.replace it onto
    `path`. On any failure (Ctrl-C included) the temp file is removed and `path` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(Path(temp))
        with open(temp, "rb") as written:
            os.fsync(written.fileno())
        os.chmod(temp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomically(path: "str | os.PathLike", text: str) -> Path:
    return write_atomically(path, lambda temp: temp.write_text(text, encoding="utf-8"))
