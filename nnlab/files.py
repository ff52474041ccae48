"""Files, safely: the one write path, bounded reads, folder locks, and removing only what nnlab made.

Writes: every whole file goes to a temporary file in the same folder, then os.replace, so a crash or
Ctrl-C mid-write never leaves a half-written file behind and readers see the old file or the new one;
a file appended to (metrics.csv) is opened without following links.  Only a regular file (or nothing)
is ever replaced, and never through a symbolic link: nnlab often runs as root.  The new file gets the
usual permissions (0666 minus the umask), not mkstemp's private 0600.

Locks: ``FolderLock`` holds ``<folder>/.lock`` (flock) for as long as a process changes the folder;
the lock file is opened without following links and must be a regular file.

Removing: ``remove_made`` deletes a folder tree only when every entry in it is one nnlab writes there
(the caller says which), and none is a link; otherwise it deletes nothing and says what it found.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from nnlab.errors import OutputError, RunError


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask




def output_target(path: str | os.PathLike) -> Path:
    """The file an output to ``path`` will replace, checked before anything is opened or written.

    Only a regular file (or nothing) is ever replaced: a device, FIFO, socket or folder is refused
    (as root, replacing /dev/full would turn the device into a file), and so is a symbolic link, whatever
    it points to (nnlab never writes through a link).  The folder must exist.  Raises OutputError (a
    RunError, one line).
    """
    path = Path(path)
    if os.path.islink(path):
        what = "a broken symbolic link" if not os.path.exists(path) else "a symbolic link"
        raise OutputError(f"{path}: is {what}; nnlab never writes through a link (outputs only replace regular "
                          "files); choose another path")
    if os.path.lexists(path):
        mode = os.lstat(path).st_mode
        if not stat.S_ISREG(mode):
            raise OutputError(f"{path}: is not a regular file ({_kind_of(mode)}); outputs only replace regular "
                              "files; choose another path")
    parent = path.parent
    if not parent.is_dir():
        if os.path.lexists(parent):  # 'results.csv/x.html': the folder part names a file
            raise OutputError(f"{path}: {parent} is a file, not a folder")
        raise OutputError(f"{path}: folder {parent} does not exist")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None, prefix: str | None = None):
    """Yield a temporary path next to ``path``; on success it replaces ``path``, on error it is removed.

    ``path`` is checked first (output_target): only a regular file is replaced.  The temporary file is
    ``.<stem>.<random><suffix>``, or ``<prefix><random><suffix>`` (a name that a reader of the folder must not
    take for the file, e.g. TensorBoard, which reads every file with 'tfevents' in its name).
    """
    path = output_target(path)
    fd, tmp = tempfile.mkstemp(prefix=prefix or f".{path.stem}.", suffix=suffix or path.suffix or ".tmp",
                               dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write(path: str | os.PathLike, data: bytes | str, prefix: str | None = None) -> None:
    """Write a whole file (text as UTF-8) atomically (``prefix``: of the temporary file, see atomic_path)."""
    if not isinstance(data, (bytes, str)):
        raise TypeError(f"atomic_write needs str or bytes, got {type(data).__name__}")
    with atomic_path(path, prefix=prefix) as tmp:
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
    """'a folder', 'a named pipe (FIFO)', ...: what a path that is not a regular file is."""
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


# ---------------------------------------------------------------- appending, locks, removing what nnlab made


def open_for_append(path: str | os.PathLike, new: bool, binary: bool = False):
    """A text file to append rows to (flushed by the caller): a new one (created, or an existing regular file
    emptied) or, ``new=False``, an existing one continued; ``binary``: bytes, not text (a download's partial
    file).  Never through a link: a link, a folder or a device in its place is an OutputError line."""
    path = Path(path)
    flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | \
        getattr(os, "O_NONBLOCK", 0)
    if new:
        output_target(path)
        flags |= os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(path, flags, _default_mode())
    except OSError as exc:
        if os.path.islink(path):
            raise OutputError(f"{path}: is a symbolic link; nnlab never writes through a link") from None
        raise OutputError(f"{path}: cannot be written ({exc.strerror or exc})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise OutputError(f"{path}: is {_kind_of(mode)}, not a regular file; nnlab appends only to regular files")
    os.set_blocking(fd, True)
    if binary:
        return os.fdopen(fd, "ab")
    return os.fdopen(fd, "a", newline="", encoding="utf-8")


def promote(done: str | os.PathLike, path: str | os.PathLike) -> None:
    """Put the finished temporary file ``done`` (in the same folder, already checked by the caller: a download
    whose checksum matched) in place of ``path`` in one os.replace, with the usual permissions.  ``path`` is
    checked as every output is (output_target): only a regular file, or nothing, is replaced."""
    path = output_target(path)
    os.chmod(done, _default_mode())
    os.replace(done, path)


class LockBusy(RunError):
    """Another process holds the folder's lock."""


class FolderLock:
    """``<folder>/.lock``, held (flock, exclusive) from ``acquire()`` until ``release()`` or this process ends.

    The lock file is opened without following links and must be a regular file (a link, a FIFO or a
    folder in its place is one line, and nothing is written to it); it holds the holder's pid.  ``busy``
    is the message when another process holds it (its pid is added).
    """

    NAME = ".lock"

    def __init__(self, folder: str | os.PathLike):
        self.path = Path(folder) / self.NAME
        self.fd: int | None = None

    def acquire(self, busy: str) -> "FolderLock":
        import fcntl

        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | \
            getattr(os, "O_NONBLOCK", 0)
        if os.path.islink(self.path):
            raise OutputError(f"{self.path}: is a symbolic link, not nnlab's lock file; nnlab never writes through "
                              "a link; remove it and try again")
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            mode = os.lstat(self.path).st_mode if os.path.lexists(self.path) else None
            if mode is not None and not stat.S_ISREG(mode):
                raise OutputError(f"{self.path}: is {_kind_of(mode)}, not nnlab's lock file; remove it and try "
                                  "again") from None
            raise OutputError(f"{self.path}: cannot be opened as nnlab's lock file ({exc.strerror or exc}); nothing "
                              "in the folder was changed") from None
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise OutputError(f"{self.path}: is {_kind_of(mode)}, not nnlab's lock file; remove it and try again")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            pid = ""
            try:
                pid = f" (pid {int(read_text_bounded(self.path, 64, 'a lock file'))})"
            except (OSError, ValueError):  # empty, or not a pid: the message goes without one
                pass
            raise LockBusy(f"{busy}{pid}; wait for it or stop it first") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    @property
    def held(self) -> bool:
        return self.fd is not None

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def remove_made(folder: str | os.PathLike, made, keep: tuple = ()) -> None:
    """Delete the tree ``folder`` (but the entries named in ``keep`` at its top) only when ``made(relative
    path, is a folder)`` says nnlab writes every entry of it, and none is a link; otherwise delete nothing
    and raise RunError naming the first entry nnlab cannot prove it made."""
    folder = Path(folder)
    entries = []
    for root, dirs, names in os.walk(folder, topdown=True, followlinks=False):
        for name in sorted(dirs) + sorted(names):
            p = Path(root) / name
            rel = p.relative_to(folder)
            if len(rel.parts) == 1 and name in keep:
                if name in dirs:
                    dirs.remove(name)
                continue
            if p.is_symlink() or not made(rel, name in dirs):
                what = "a symbolic link" if p.is_symlink() else "not a file nnlab writes there"
                raise RunError(f"{p}: {what}; nnlab deletes only what it can prove it made, so it leaves "
                               f"{folder} as it is: move it away (or that entry out of it) and run again")
            entries.append((p, name in dirs))
    for p, is_dir in reversed(entries):  # children before their folders
        (os.rmdir if is_dir else os.unlink)(p)
    if not keep:
        os.rmdir(folder)
