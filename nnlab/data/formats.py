"""Data files: NumPy .npz archives, CSV tables and MNIST-format IDX folders."""

from __future__ import annotations

import csv as csvlib
import gzip
import io
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from nnlab import files
from nnlab.data.splits import RawData, split_test
from nnlab.errors import DataError
from nnlab.options import Fraction, NonNegativeInt, is_number

_CAP_HINT = " (set NNLAB_MAX_DATA_BYTES to allow more)"


def read_data_bytes(path, what: str) -> bytes:
    """A data file's bytes: a regular file of at most files.data_max_bytes(), else one DataError line."""
    return files.read_bytes_bounded(path, files.data_max_bytes(), what, DataError, _CAP_HINT)


def open_data_file(path, what: str):
    """A data file opened for binary reading, with the checks of read_data_bytes."""
    return files.open_regular_file(path, files.data_max_bytes(), what, DataError, _CAP_HINT)


def _existing_file(path: str, what: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{p}: file not found; data.path must name {what}")
    if p.is_dir():
        raise DataError(f"{p}: is a folder; data.path must name {what}")
    return p


def npz(*, path: str, test_fraction: Fraction = 0.2, seed: NonNegativeInt = 0) -> RawData:
    """Arrays from a NumPy .npz archive: keys x, y and optionally x_test, y_test.

    Loaded with allow_pickle=False (never unpickles).  Without x_test/y_test a random
    test_fraction of the rows (stratified by class for integer labels) becomes the
    test set, drawn with default_rng(seed).
    """
    p = _existing_file(path, "an existing .npz archive")
    with open_data_file(p, "an .npz archive") as f:
        try:
            archive = np.load(f, allow_pickle=False)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile):
            raise DataError(f"{p}: not a NumPy .npz archive; save one with np.savez(path, x=..., y=...)") from None
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DataError(f"{p}: holds a single .npy array, not an .npz archive; "
                            "save one with np.savez(path, x=..., y=...)")
        with archive:
            keys = list(archive.files)
            missing = [k for k in ("x", "y") if k not in keys]
            if missing:
                raise DataError(f"{p}: missing key{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
                                f"the archive has {_key_list(keys)}; expected x, y and optionally x_test, y_test")
            if ("x_test" in keys) != ("y_test" in keys):
                have, lack = ("x_test", "y_test") if "x_test" in keys else ("y_test", "x_test")
                raise DataError(f"{p}: has {have} but no {lack}; store both, or neither to split "
                                "a test set off x, y")
            _check_unpacked_size(archive, p)
            arrays = {k: _read_member(archive, k, p) for k in ("x", "y", "x_test", "y_test") if k in keys}
    if "x_test" in arrays:
        return RawData(**arrays)
    return split_test(arrays["x"], arrays["y"], test_fraction, seed, str(p))


def _check_unpacked_size(archive, p: Path) -> None:
    """A compressed archive may unpack to far more than its file size: cap the unpacked size too."""
    limit = files.data_max_bytes()
    unpacked = sum(info.file_size for info in archive.zip.infolist())
    if unpacked > limit:
        raise DataError(f"{p}: its arrays unpack to {files.size_text(unpacked)}, larger than "
                        f"{files.size_text(limit)}, the most nnlab reads for a data file{_CAP_HINT}")


def _key_list(keys) -> str:
    return "keys " + ", ".join(keys) if keys else "no arrays"


def _read_member(archive, key: str, p: Path) -> np.ndarray:
    try:
        return archive[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DataError(f"{p}: array '{key}' holds Python objects (would need unpickling, which nnlab "
                            "never does); store numbers, e.g. labels as integers 0..K-1") from None
        raise DataError(f"{p}: cannot read array '{key}' ({exc}); the archive looks damaged") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{p}: cannot read array '{key}' ({exc}); the archive looks damaged") from None


def csv(*, path: str, test_fraction: Fraction = 0.2, seed: NonNegativeInt = 0) -> RawData:
    """Numeric table from a CSV file: one row per sample, the target in column `label` or the last.

    An optional header row names the columns.  Labels that are all whole numbers
    (``1`` or ``1.0``) in 0..K-1 mean classification, anything else regression.  A random test_fraction of the rows
    (stratified by class) is the test set, drawn with default_rng(seed).
    """
    p = _existing_file(path, "an existing CSV file")
    try:
        text = read_data_bytes(p, "a CSV file").decode("utf-8-sig")  # -sig: drop a BOM spreadsheet programs write
    except UnicodeDecodeError:
        raise DataError(f"{p}: not a UTF-8 text file; expected comma-separated numbers") from None
    except OSError as exc:
        raise DataError(f"{p}: cannot read the file ({exc.strerror or exc})") from None
    reader = csvlib.reader(io.StringIO(text))
    rows, lines = [], []
    try:
        for row in reader:  # text parsing is inherently line by line
            if any(cell.strip() for cell in row):
                rows.append([cell.strip() for cell in row])
                lines.append(reader.line_num)
    except csvlib.Error as exc:
        raise DataError(f"{p}:{reader.line_num}: malformed CSV ({exc})") from None
    if not rows:
        raise DataError(f"{p}: no rows; expected one row per sample of comma-separated numbers")
    header = None
    if not all(is_number(c) for c in rows[0]):
        header, rows, lines = rows[0], rows[1:], lines[1:]
        if not rows:
            raise DataError(f"{p}: has a header row but no data rows")
    width = len(header) if header is not None else len(rows[0])
    lengths = np.array([len(r) for r in rows])
    bad = np.flatnonzero(lengths != width)
    if bad.size:
        i = bad[0]
        raise DataError(f"{p}:{lines[i]}: has {lengths[i]} columns, expected {width} like the "
                        f"{'header' if header is not None else 'first row'}")
    if width < 2:
        first = (header if header is not None else rows[0])[0]
        sep = next((f" (its lines look separated by {name}; nnlab reads comma-separated values)"
                    for ch, name in ((";", "';'"), ("\t", "tabs"), ("|", "'|'")) if ch in first), "")
        raise DataError(f"{p}: has 1 column; expected input columns and a label column{sep}")
    cells = np.array(rows, dtype=str)
    try:
        values = cells.astype(np.float64)
    except ValueError:
        r, c = np.argwhere(~np.vectorize(is_number, otypes=[bool])(cells))[0]
        name = f" ({header[c]!r})" if header is not None else ""
        raise DataError(f"{p}:{lines[r]}: column {c + 1}{name}: cannot read {str(cells[r, c])!r} as a number; "
                        "every cell must be numeric (only the first row may be a header)") from None
    lower = [h.lower() for h in header] if header is not None else []
    col = lower.index("label") if "label" in lower else width - 1
    try:  # integer-looking labels mean classes
        y = cells[:, col].astype(np.int64)
    except (ValueError, OverflowError):
        y = values[:, col]
    x = np.delete(values, col, axis=1)
    return split_test(x, y, test_fraction, seed, str(p))


_IDX_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_IDX_FILES = {"x": "train-images-idx3-ubyte", "y": "train-labels-idx1-ubyte",
              "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}


def read_idx(file: str | os.PathLike) -> np.ndarray:
    """Parse one IDX file, raw or gzip-compressed, into an array.

    Layout: magic 0x00 0x00 TT DD (TT element type: 08 ubyte, 09 byte, 0B short,
    0C int, 0D float, 0E double; DD number of dimensions), DD big-endian uint32
    sizes, then the elements big-endian.  Source: yann.lecun.com/exdb/mnist.
    """
    file = Path(file)
    limit = files.data_max_bytes()
    try:
        raw = read_data_bytes(file, "an IDX file")
        if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
                raw = gz.read(limit + 1)
            if len(raw) > limit:
                raise DataError(f"{file}: unpacks to more than {files.size_text(limit)}, the most nnlab "
                                f"reads for a data file{_CAP_HINT}")
    except FileNotFoundError:
        raise DataError(f"{file}: file not found; expected an IDX file, raw or gzip-compressed") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{file}: cannot read ({exc}); expected an IDX file, raw or gzip-compressed") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES or raw[3] == 0:
        raise DataError(f"{file}: bad IDX magic number 0x{raw[:4].hex() or 'none'}; expected 0x0000TTDD "
                        "with type TT in 08, 09, 0b, 0c, 0d, 0e and DD >= 1 dimensions")
    ndim, dtype = raw[3], _IDX_TYPES[raw[2]]
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise DataError(f"{file}: truncated IDX header: {ndim} dimension sizes need {start} bytes, "
                        f"the file has {len(raw)}")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    count = int(np.prod(shape))
    need, have = count * dtype.itemsize, len(raw) - start
    if have != need:
        what = "truncated IDX file" if have < need else "malformed IDX file"
        raise DataError(f"{file}: {what}: the header says shape {shape} ({need} data bytes) "
                        f"but {have} bytes follow")
    return np.frombuffer(raw, dtype, count, start).reshape(shape).astype(dtype.newbyteorder("="))


def _find_idx(folder: Path, base: str) -> Path:
    dotted = base.replace("-idx", ".idx")
    for name in (base, base + ".gz", dotted, dotted + ".gz"):
        if (folder / name).exists():  # not is_file(): a FIFO or device gets its own message in read_idx
            return folder / name
    raise DataError(f"{folder}: no {base} (or {base}.gz, {dotted}); expected the four MNIST-format "
                    f"IDX files {', '.join(_IDX_FILES.values())}, each raw or .gz")


def idx(*, path: str) -> RawData:
    """MNIST-format IDX files from a folder (MNIST, Fashion-MNIST, ...), pixels scaled to [0, 1].

    Reads train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
    t10k-labels-idx1-ubyte, each raw or .gz (``train-images.idx3-ubyte`` naming too);
    images are flattened to rows and scaled: x = pixel / 255.
    """
    folder = Path(path).expanduser()
    if not folder.exists():
        raise DataError(f"{folder}: folder not found; data.path must name a folder holding "
                        f"{', '.join(_IDX_FILES.values())}")
    if not folder.is_dir():
        raise DataError(f"{folder}: is a file; the idx dataset needs a folder holding "
                        f"{', '.join(_IDX_FILES.values())}")
    return read_idx_set(lambda key: _find_idx(folder, _IDX_FILES[key]), folder)


def read_idx_set(locate, folder) -> RawData:
    """The four IDX files of an MNIST-format set, checked and scaled; ``locate(key)`` gives the path of each
    (x, y, x_test, y_test), in that order."""
    arrays, files = {}, {}
    for key in _IDX_FILES:
        files[key] = f = Path(locate(key))
        a = read_idx(f)
        if key.startswith("x"):
            if a.dtype != np.uint8 or a.ndim < 2:
                raise DataError(f"{f}: images must be unsigned bytes (type 08) shaped (n, rows, cols), "
                                f"got {a.dtype} shaped {a.shape}")
            a = a.reshape(len(a), int(np.prod(a.shape[1:]))) / 255.0  # -1 fails for 0 images
        elif a.ndim != 1 or a.dtype.kind not in "iu":
            raise DataError(f"{f}: labels must be a 1-D array of integers, got {a.dtype} shaped {a.shape}")
        arrays[key] = a
    for xk, yk in (("x", "y"), ("x_test", "y_test")):
        if len(arrays[xk]) != len(arrays[yk]):
            raise DataError(f"{folder}: {files[xk].name} has {len(arrays[xk])} images but {files[yk].name} "
                            f"has {len(arrays[yk])} labels; they must match")
    return RawData(**arrays)


