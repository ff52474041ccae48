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
        if os.path.lexists(parent):  # 'results.csv/x.html': the folder part names a file
            raise OutputError(f"{path}: {parent} is a file, not a folder")
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


# ---------------------------------------------------------------- bounded reads
# Reading a path that is not a regular file (/dev/zero, a FIFO, a socket, a device)
# would read without end or block forever; an enormous file would exhaust memory.

CONFIG_MAX_BYTES = 1 << 20  # 1 MiB: a config is a few hundred bytes
DATA_MAX_BYTES = 4 << 30  # 4 GiB unless NNLAB_MAX_DATA_BYTES says otherwise


def _env_data_cap() -> int | None:
    """$NNLAB_MAX_DATA_BYTES as a positive whole number of bytes; None when unset, 0 when it is not one."""
    text = os.environ.get("NNLAB_MAX_DATA_BYTES", "").strip()
    if not text:
        return None
    try:
        return max(0, int(text))
    except ValueError:
        return 0


def data_cap_problem() -> str | None:
    """What is wrong with $NNLAB_MAX_DATA_BYTES (the CLI refuses to start with it), or None."""
    if _env_data_cap() == 0:
        return (f"NNLAB_MAX_DATA_BYTES: must be a whole number of bytes > 0 (the most nnlab reads of one data "
                f"file), got {os.environ['NNLAB_MAX_DATA_BYTES'].strip()!r}; unset it for "
                f"{size_text(DATA_MAX_BYTES)}")
    return None


def data_max_bytes() -> int:
    """The cap on one data file: $NNLAB_MAX_DATA_BYTES (a whole number of bytes) or 4 GiB."""
    return _env_data_cap() or DATA_MAX_BYTES


def size_text(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


def _kind_of(mode: int) -> str:
    import stat

    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def read_bytes_bounded(path: str | os.PathLike, limit: int, what: str, error=OSError, hint: str = "") -> bytes:
    """The whole content of a regular file of at most ``limit`` bytes, else ``error`` with one line.

    Symlinks are followed (a link to a regular file is fine).  The file is opened with
    O_NONBLOCK, so opening a FIFO never blocks, and fstat-checked before anything is
    read; at most limit + 1 bytes are ever read, so a file growing meanwhile is still
    caught.  ``what`` names the expected file in the message, e.g. 'a YAML config file';
    ``hint`` is appended to the too-large message.  Missing files raise FileNotFoundError
    (callers word that case themselves).
    """
    fd = _open_regular(path, limit, what, error, hint)
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise error(f"{path}: larger than {size_text(limit)}, the most nnlab reads for {what}{hint}")
    return data


def read_text_bounded(path: str | os.PathLike, limit: int, what: str, error=OSError) -> str:
    """read_bytes_bounded as UTF-8 text (UnicodeDecodeError for bytes that are not)."""
    return read_bytes_bounded(path, limit, what, error).decode("utf-8")


# a run's metrics.csv takes about 100 bytes an epoch and a run at most 1,000,000 epochs; a sweep's
# trials.csv one line a trial: 256 MiB bounds both without refusing any file nnlab wrote
TABLE_MAX_BYTES = 256 << 20
YAML_MAX_VALUES = 100_000  # a config holds a few dozen values, a sweep spec a few hundred


def too_many_values(value, limit: int = YAML_MAX_VALUES) -> bool:
    """Whether ``value`` holds more than ``limit`` values, counting a shared or self-containing part
    once for every place it appears: what YAML aliases ('*name') expand to when the value is walked,
    copied or printed.  A few lines of anchors and aliases can stand for billions of values (the
    'billion laughs' document); this looks at no more than ``limit`` of them."""
    count, stack = 0, [value]
    while stack:
        v = stack.pop()
        count += 1
        if count > limit:
            return True
        if isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, (list, tuple, set)):
            stack.extend(v)
    return False


class YAMLRefused(ValueError):
    """YAML that parses but is refused: aliases that expand without end, or nesting thousands deep."""


def yaml_load_bounded(text: str, limit: int = YAML_MAX_VALUES):
    """yaml.safe_load, refusing a document that expands to more than ``limit`` values or nests thousands
    of levels deep (ValueError)."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except RecursionError:  # '[[[[...' thousands deep
        raise YAMLRefused("nested too deeply (thousands of levels)") from None
    if too_many_values(value, limit):
        raise YAMLRefused(f"its aliases ('*name') expand to more than {limit:,} values")
    return value


def load_npz_bounded(path: str | os.PathLike, what: str, error=OSError) -> dict:
    """The arrays of an .npz archive that is a regular file of at most data_max_bytes() and unpacks to
    no more than that, never unpickled; anything else is ``error`` with one line."""
    import zipfile

    import numpy as np

    limit = data_max_bytes()
    with open_regular_file(path, limit, what, error) as f:
        try:
            archive = np.load(f, allow_pickle=False)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile):
            raise error(f"{path}: not an .npz archive; expected {what}") from None
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise error(f"{path}: a single .npy array, not an .npz archive; expected {what}")
        with archive:
            unpacked = sum(info.file_size for info in archive.zip.infolist())
            if unpacked > limit:
                raise error(f"{path}: its arrays unpack to {size_text(unpacked)}, larger than {size_text(limit)}, "
                            f"the most nnlab reads for {what}")
            try:
                return {k: archive[k] for k in archive.files}
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
                raise error(f"{path}: cannot read its arrays ({type(exc).__name__}); expected {what}") from None


def open_regular_file(path: str | os.PathLike, limit: int, what: str, error=OSError, hint: str = ""):
    """Open a regular file of at most ``limit`` bytes for binary reading (same checks as read_bytes_bounded)."""
    return os.fdopen(_open_regular(path, limit, what, error, hint), "rb")


def _open_regular(path, limit: int, what: str, error, hint: str = "") -> int:
    import stat

    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc}); expected {what}") from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{path}: is {_kind_of(st.st_mode)}, not a regular file; expected {what}")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc}); expected {what}") from None
    try:
        st = os.fstat(fd)  # the path may have been swapped since os.stat
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{path}: is {_kind_of(st.st_mode)}, not a regular file; expected {what}")
        if st.st_size > limit:
            raise error(f"{path}: is {size_text(st.st_size)}, larger than {size_text(limit)}, "
                        f"the most nnlab reads for {what}{hint}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd
