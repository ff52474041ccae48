"""Atomic file writes: a temporary file in the same folder, then os.replace.

A crash or Ctrl-C mid-write never leaves a half-written file behind, and readers
see either the old file or the new one.  The new file gets the usual permissions
(0666 minus the umask), not mkstemp's private 0600.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None):
    """Yield a temporary path next to ``path``; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix or path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write(path: str | os.PathLike, data: bytes | str) -> None:
    """Write a whole file (text as UTF-8) atomically."""
    if not isinstance(data, (bytes, str)):
        raise TypeError(f"atomic_write needs str or bytes, got {type(data).__name__}")
    with atomic_path(path) as tmp:
        with open(tmp, "w" if isinstance(data, str) else "wb", **({"encoding": "utf-8"} if isinstance(data, str) else {})) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def atomic_savez(path: str | os.PathLike, arrays: dict) -> None:
    """np.savez atomically (no pickle: plain arrays only)."""
    import numpy as np

    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
