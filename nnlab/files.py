"""Atomic file writes: a temporary file in the same folder, then os.replace.

A crash or Ctrl-C mid-write never leaves a half-written file behind, and readers
see either the old file or the new one.  The new file gets the usual permissions
(0666 minus the umask), not mkstemp's private 0600.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from nnlab.errors import OutputError


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def output_target(path: str | os.PathLike) -> Path:
    """The file an output to ``path`` will replace, checked before anything is opened or written.

    Only a regular file (or nothing) is ever replaced: a device, FIFO, socket or folder is refused
    (as root, replacing /dev/full would turn the device into a file).  A symlink to a regular file
    is written through: the file it points to is replaced and the link stays.  The folder must exist.
    Raises OutputError (a RunError, one line).
    """
    path = Path(path)
    if os.path.lexists(path):
        try:
            mode = os.stat(path).st_mode
        except OSError:
            raise OutputError(f"{path}: is a broken symbolic link; outputs only replace regular files; "
                              "choose another path") from None
        if not stat.S_ISREG(mode):
            kind = next((text for test, text in _KINDS if test(mode)), "not a file")
            raise OutputError(f"{path}: is not a regular file ({kind}); outputs only replace regular files; "
                              "choose another path")
        if os.path.islink(path):
            path = Path(os.path.realpath(path))
    parent = path.parent
    if not parent.is_dir():
        raise OutputError(f"{path}: folder {parent} does not exist")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None):
    """Yield a temporary path next to ``path``; on success it replaces ``path``, on error it is removed.

    ``path`` is checked first (output_target): only a regular file is replaced.
    """
    path = output_target(path)
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
