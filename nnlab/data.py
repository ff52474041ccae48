"""Datasets and input preprocessing: a config's ``data:`` mapping -> arrays ready to train on.

Two registries, each component's keyword-only parameters being its YAML options:

* ``datasets``: loaders returning :class:`RawData` (train and test arrays as
  stored, unconverted).  Synthetic sets (spiral, moons, circles, xor, blobs)
  are drawn from their own ``seed`` with ``np.random.default_rng`` (never the
  global state); file sets (npz, csv, idx) read ``path``; mnist1d is generated
  by the official ``mnist1d`` package once and cached.
* ``preprocessors``: classes with ``fit(x) -> self`` (training split only) and
  ``transform(x) -> new array`` (every split).

:func:`load_dataset` runs load -> check -> validation split -> preprocess ->
cast and returns a :class:`Dataset`.  Anything wrong with the data is one
:class:`~nnlab.errors.DataError` line naming the file (or dataset), the
problem and what is allowed.
"""

from __future__ import annotations

import csv as csvlib
import gzip
import io
import os
import random
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnlab.errors import ConfigError, DataError
from nnlab.files import atomic_savez
from nnlab.registry import Fraction, NonNegative, NonNegativeInt, Positive, PositiveInt, Registry

datasets = Registry("dataset")
preprocessors = Registry("preprocessor")

# More classes than this is almost always integer regression targets read as labels;
# one-hot encoding them would exhaust memory instead of failing clearly.
MAX_CLASSES = 10_000

MNIST1D_CACHE_FILE = "mnist1d_v1.npz"


@dataclass
class RawData:
    """What a loader returns: train and test arrays as stored (checked and converted later)."""

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass
class Dataset:
    """Arrays ready for training: x is (n, d) floats; y is (n,) int labels or (n, k) float targets."""

    name: str
    task: str  # "classification" | "regression"
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None  # None when val_fraction == 0
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int | None  # classification only: max training label + 1
    preprocessor: Any = None  # the fitted preprocessor, to transform new inputs the same way

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_outputs(self) -> int:
        """Network output width: n_classes, or the number of regression target columns."""
        return int(self.n_classes) if self.task == "classification" else int(self.y_train.shape[1])


# ============================================================ synthetic sets


def _round(v: float) -> int:
    # round half up: Python's round(0.5) == 0 would make thresholds surprising
    return int(np.floor(v + 0.5))


def _n_test(n_samples: int, test_fraction: float) -> int:
    """Test rows so that test / (train + test) == test_fraction: n * f / (1 - f), rounded."""
    return _round(n_samples * test_fraction / (1.0 - test_fraction))


def _balanced_counts(n: int, k: int) -> np.ndarray:
    """n items over k classes as evenly as possible (the first n % k classes get one more)."""
    return n // k + (np.arange(k) < n % k).astype(int)


def _check_synthetic(options: dict) -> None:
    """Config-time rule across options: every class gets a training sample and the test set is not empty."""
    n, k = options["n_samples"], options.get("classes", 2)
    if n < k:
        raise ValueError(f"n_samples ({n}) must be at least the number of classes ({k}) "
                         "so every class has a training sample")
    if _n_test(n, options["test_fraction"]) < 1:
        raise ValueError(f"test_fraction {options['test_fraction']} of n_samples {n} gives an empty "
                         "test set; raise test_fraction or n_samples")


def _synthetic(make_class, n_classes: int, n_samples: int, test_fraction: float,
               rng: np.random.Generator) -> RawData:
    """Draw class-balanced train and test sets from ``make_class(j, m) -> (m, d) points of class j``.

    Each class is drawn once for train and test together (same curve, same cloud),
    its points are split at random so both sets are balanced, then each set is shuffled
    so the rows are not ordered by class.
    """
    n_tr = _balanced_counts(n_samples, n_classes)
    n_te = _balanced_counts(_n_test(n_samples, test_fraction), n_classes)
    xs, ys, test_marks = [], [], []
    for j in range(n_classes):  # a loop over classes, not samples
        m = int(n_tr[j] + n_te[j])
        xs.append(np.asarray(make_class(j, m), dtype=np.float64).reshape(m, -1))
        ys.append(np.full(m, j, dtype=np.int64))
        test_marks.append(rng.permutation(np.arange(m) < n_te[j]))
    x, y, is_test = np.concatenate(xs), np.concatenate(ys), np.concatenate(test_marks)
    tr = rng.permutation(np.flatnonzero(~is_test))
    te = rng.permutation(np.flatnonzero(is_test))
    return RawData(x[tr], y[tr], x[te], y[te])


@datasets.register()
def spiral(*, n_samples: PositiveInt = 1000, classes: PositiveInt = 3, noise: NonNegative = 0.2,
           seed: NonNegativeInt = 0, test_fraction: Fraction = 0.2) -> RawData:
    """Interleaved 2-D spiral arms, one per class (the CS231n toy set).

    Arm j with m points: r = linspace(0, 1, m), t = linspace(4j, 4(j+1), m) + noise * N(0, 1),
    point = (r sin t, r cos t).  Source: CS231n, "Putting it together: minimal neural
    network case study" (noise 0.2 there).  Train and test come from the same arms.
    """
    rng = np.random.default_rng(seed)

    def arm(j, m):
        r = np.linspace(0.0, 1.0, m)
        t = np.linspace(j * 4, (j + 1) * 4, m) + rng.standard_normal(m) * noise
        return np.c_[r * np.sin(t), r * np.cos(t)]

    return _synthetic(arm, classes, n_samples, test_fraction, rng)


@datasets.register()
def moons(*, n_samples: PositiveInt = 1000, noise: NonNegative = 0.1, seed: NonNegativeInt = 0,
          test_fraction: Fraction = 0.2) -> RawData:
    """Two interleaving half circles, 2 classes (like sklearn.datasets.make_moons).

    s = linspace(0, pi, m); class 0: (cos s, sin s); class 1: (1 - cos s, 0.5 - sin s);
    plus N(0, noise^2) on each coordinate.
    """
    rng = np.random.default_rng(seed)

    def moon(j, m):
        s = np.linspace(0.0, np.pi, m)
        pts = np.c_[np.cos(s), np.sin(s)] if j == 0 else np.c_[1 - np.cos(s), 0.5 - np.sin(s)]
        return pts + noise * rng.standard_normal((m, 2))

    return _synthetic(moon, 2, n_samples, test_fraction, rng)


@datasets.register()
def circles(*, n_samples: PositiveInt = 1000, factor: Fraction = 0.5, noise: NonNegative = 0.05,
            seed: NonNegativeInt = 0, test_fraction: Fraction = 0.2) -> RawData:
    """A small circle inside a large one, 2 classes (like sklearn.datasets.make_circles).

    s = linspace(0, 2 pi, m, endpoint=False); class 0: (cos s, sin s);
    class 1: factor * (cos s, sin s); plus N(0, noise^2) on each coordinate.
    """
    rng = np.random.default_rng(seed)

    def ring(j, m):
        s = np.linspace(0.0, 2 * np.pi, m, endpoint=False)
        radius = 1.0 if j == 0 else factor
        return radius * np.c_[np.cos(s), np.sin(s)] + noise * rng.standard_normal((m, 2))

    return _synthetic(ring, 2, n_samples, test_fraction, rng)


@datasets.register()
def xor(*, n_samples: PositiveInt = 1000, noise: NonNegative = 0.1, seed: NonNegativeInt = 0,
        test_fraction: Fraction = 0.2) -> RawData:
    """Points uniform in [-1, 1]^2 labelled by quadrant: y = (x0 > 0) xor (x1 > 0).

    Each class is drawn uniformly from its two quadrants (so classes are balanced),
    then N(0, noise^2) is added after labelling, blurring the boundary.
    """
    rng = np.random.default_rng(seed)

    def quadrants(j, m):
        mag = 1.0 - rng.random((m, 2))  # in (0, 1]: never exactly on an axis
        s0 = rng.choice([-1.0, 1.0], m)
        s1 = s0 if j == 0 else -s0  # class 0: same signs, class 1: opposite signs
        return mag * np.c_[s0, s1] + noise * rng.standard_normal((m, 2))

    return _synthetic(quadrants, 2, n_samples, test_fraction, rng)


@datasets.register()
def blobs(*, n_samples: PositiveInt = 1000, classes: PositiveInt = 3, n_features: PositiveInt = 2,
          noise: NonNegative = 1.0, seed: NonNegativeInt = 0, test_fraction: Fraction = 0.2) -> RawData:
    """Isotropic Gaussian clusters, one per class (like sklearn.datasets.make_blobs).

    Centers c_j ~ U[-5, 5]^n_features from the seed; class j points are c_j + noise * N(0, I)
    (noise is the cluster standard deviation, 1 by default as in sklearn).
    """
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-5.0, 5.0, (classes, n_features))

    def blob(j, m):
        return centers[j] + noise * rng.standard_normal((m, n_features))

    return _synthetic(blob, classes, n_samples, test_fraction, rng)


for _f in (spiral, moons, circles, xor, blobs):
    _f.check = _check_synthetic  # Registry.resolve calls check(options) at config time


# ============================================================ MNIST-1D


def cache_dir() -> Path:
    """Folder for cached data: $NNLAB_CACHE, else $XDG_CACHE_HOME/nnlab, else ~/.cache/nnlab."""
    if os.environ.get("NNLAB_CACHE"):
        return Path(os.environ["NNLAB_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "nnlab"
    return Path.home() / ".cache" / "nnlab"


@datasets.register()
def mnist1d() -> RawData:
    """MNIST-1D: 10 classes of 40-point 1-D signals, 4000 train / 1000 test (Greydanus, 2020).

    Generated (never downloaded) by the official ``mnist1d`` package:
    make_dataset(get_dataset_args()), its fixed seed 42.  Cached in
    cache_dir()/mnist1d_v1.npz; a missing or corrupt cache is regenerated.
    """
    file = cache_dir() / MNIST1D_CACHE_FILE
    data = _read_mnist1d_cache(file)
    if data is None:
        data = _generate_mnist1d()
        _write_cache_atomically(file, data)
    return RawData(**data)


def _read_mnist1d_cache(file: Path) -> dict | None:
    try:
        with np.load(file, allow_pickle=False) as z:
            data = {k: z[k] for k in ("x", "y", "x_test", "y_test")}
    except Exception:  # noqa: BLE001 - any unreadable cache (missing, partial, not npz) is regenerated
        return None
    x, y, xt, yt = data["x"], data["y"], data["x_test"], data["y_test"]
    sane = (x.ndim == 2 and xt.ndim == 2 and x.shape[1] == xt.shape[1] and y.shape == (len(x),)
            and yt.shape == (len(xt),) and x.dtype.kind == "f" and y.dtype.kind in "iu")
    return data if sane else None


def _generate_mnist1d() -> dict:
    # make_dataset seeds the GLOBAL numpy and random states; put them back so loading
    # data never changes what the rest of the program draws
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        try:
            from mnist1d.data import get_dataset_args, make_dataset  # slow: imports matplotlib
        except ImportError:
            raise DataError("dataset 'mnist1d': the mnist1d package is not installed; "
                            "install it (pip install mnist1d) or choose another data.name") from None
        d = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {"x": np.asarray(d["x"], np.float64), "y": np.asarray(d["y"], np.int64),
            "x_test": np.asarray(d["x_test"], np.float64), "y_test": np.asarray(d["y_test"], np.int64)}


def _write_cache_atomically(file: Path, arrays: dict) -> None:
    """Write an .npz via a temporary file in the same folder + os.replace, so readers never see half a file."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        atomic_savez(file, arrays)
    except OSError as exc:  # a read-only cache only costs time, so it is not an error
        warnings.warn(f"{file}: cannot write the data cache ({exc.strerror or exc}); "
                      "the data will be generated again next time", stacklevel=3)


# ============================================================ file sets


def _existing_file(path: str, what: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{p}: file not found; data.path must name {what}")
    if p.is_dir():
        raise DataError(f"{p}: is a folder; data.path must name {what}")
    return p


@datasets.register()
def npz(*, path: str, test_fraction: Fraction = 0.2, seed: NonNegativeInt = 0) -> RawData:
    """Arrays from a NumPy .npz archive: keys x, y and optionally x_test, y_test.

    Loaded with allow_pickle=False (never unpickles).  Without x_test/y_test a random
    test_fraction of the rows (stratified by class for integer labels) becomes the
    test set, drawn with default_rng(seed).
    """
    p = _existing_file(path, "an existing .npz archive")
    try:
        archive = np.load(p, allow_pickle=False)
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
        arrays = {k: _read_member(archive, k, p) for k in ("x", "y", "x_test", "y_test") if k in keys}
    if "x_test" in arrays:
        return RawData(**arrays)
    return _split_test(arrays["x"], arrays["y"], test_fraction, seed, str(p))


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


@datasets.register()
def csv(*, path: str, test_fraction: Fraction = 0.2, seed: NonNegativeInt = 0) -> RawData:
    """Numeric table from a CSV file: one row per sample, the target in column `label` or the last.

    An optional header row names the columns.  Labels that all parse as integers mean
    classification, anything else regression.  A random test_fraction of the rows
    (stratified by class) is the test set, drawn with default_rng(seed).
    """
    p = _existing_file(path, "an existing CSV file")
    try:
        text = p.read_text(encoding="utf-8-sig")  # -sig: drop a BOM spreadsheet programs write
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
    if not all(_is_number(c) for c in rows[0]):
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
        raise DataError(f"{p}: has 1 column; expected input columns and a label column")
    cells = np.array(rows, dtype=str)
    try:
        values = cells.astype(np.float64)
    except ValueError:
        r, c = np.argwhere(~np.vectorize(_is_number, otypes=[bool])(cells))[0]
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
    return _split_test(x, y, test_fraction, seed, str(p))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


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
    try:
        raw = file.read_bytes()
        if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
            raw = gzip.decompress(raw)
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
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder}: no {base} (or {base}.gz, {dotted}); expected the four MNIST-format "
                    f"IDX files {', '.join(_IDX_FILES.values())}, each raw or .gz")


@datasets.register()
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
    arrays, files = {}, {}
    for key, base in _IDX_FILES.items():
        files[key] = f = _find_idx(folder, base)
        a = read_idx(f)
        if key.startswith("x"):
            if a.dtype != np.uint8 or a.ndim < 2:
                raise DataError(f"{f}: images must be unsigned bytes (type 08) shaped (n, rows, cols), "
                                f"got {a.dtype} shaped {a.shape}")
            a = a.reshape(len(a), -1) / 255.0
        elif a.ndim != 1 or a.dtype.kind not in "iu":
            raise DataError(f"{f}: labels must be a 1-D array of integers, got {a.dtype} shaped {a.shape}")
        arrays[key] = a
    for xk, yk in (("x", "y"), ("x_test", "y_test")):
        if len(arrays[xk]) != len(arrays[yk]):
            raise DataError(f"{folder}: {files[xk].name} has {len(arrays[xk])} images but {files[yk].name} "
                            f"has {len(arrays[yk])} labels; they must match")
    return RawData(**arrays)


def _split_test(x, y, test_fraction: float, seed: int, source: str) -> RawData:
    """Hold out a random test_fraction of the rows (stratified by class for integer labels)."""
    x, y = _check_pair(x, y, source, "x", "y")
    if len(x) == 0:
        raise DataError(f"{source}: the data set is empty (0 rows); it needs samples to train and test on")
    if test_fraction == 0:
        raise DataError(f"{source}: has no separate test set and test_fraction is 0; "
                        "set data.test_fraction > 0 (or store x_test, y_test in an .npz)")
    is_test = _holdout_mask(y, test_fraction, np.random.default_rng(seed), stratify=y.dtype.kind in "biu")
    if not is_test.any():
        raise DataError(f"{source}: test_fraction {test_fraction} of {len(y)} rows gives an empty test set; "
                        f"use a test_fraction of at least {1 / len(y):.3g}")
    return RawData(x[~is_test], y[~is_test], x[is_test], y[is_test])


# ============================================================ checks and splits


def _check_pair(x, y, source: str, xname: str, yname: str) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and labels of one split: numbers, x 2-D (or (n, ...) flattened), one label per row."""
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind not in "biuf":
        raise DataError(f"{source}: inputs {xname} are not numbers (dtype {x.dtype}); inputs must be "
                        "integers or floats")
    if y.dtype.kind not in "biuf":
        example = f", e.g. {str(y.flat[0])!r}" if y.size else ""
        raise DataError(f"{source}: labels {yname} are not numbers (dtype {y.dtype}{example}); use integers "
                        "0..K-1 for classes or floats for regression targets")
    if x.ndim < 2:
        raise DataError(f"{source}: {xname} must be 2-D (samples, features), got shape {x.shape}")
    x = x.reshape(x.shape[0], int(np.prod(x.shape[1:])))  # (n, h, w, ...) images become rows
    if y.ndim == 0 or y.ndim > 2 or (y.ndim == 2 and y.dtype.kind != "f" and y.shape[1] != 1):
        allowed = "(n,) or (n, k) for regression" if y.dtype.kind == "f" else "(n,) class labels"
        raise DataError(f"{source}: {yname} has shape {y.shape}; expected {allowed}")
    if y.ndim == 2 and y.dtype.kind != "f":
        y = y[:, 0]
    if len(x) != len(y):
        raise DataError(f"{source}: {xname} has {len(x)} rows but {yname} has {len(y)}; "
                        "each sample needs exactly one label")
    return x, y


def _check_finite(a: np.ndarray, source: str, name: str, what: str) -> None:
    if a.dtype.kind != "f":
        return
    nan, inf = np.isnan(a), np.isinf(a)
    n_bad = int(nan.sum() + inf.sum())
    if n_bad:
        rows = int((nan | inf).reshape(len(a), -1).any(axis=1).sum())
        raise DataError(f"{source}: {name} has {n_bad} non-finite value{'s' if n_bad > 1 else ''} "
                        f"({int(nan.sum())} NaN, {int(inf.sum())} inf) in {rows} row{'s' if rows > 1 else ''}; "
                        f"{what} must be finite numbers")


def _check(raw: RawData, source: str):
    """All checks on a loader's output; returns (x, y, x_test, y_test, task, n_classes) converted."""
    x, y = _check_pair(raw.x, raw.y, source, "x", "y")
    x_test, y_test = _check_pair(raw.x_test, raw.y_test, source, "x_test", "y_test")
    if len(x) == 0:
        raise DataError(f"{source}: the training set is empty (0 rows); it needs at least one sample")
    if len(x_test) == 0:
        raise DataError(f"{source}: the test set is empty (0 rows); it needs at least one sample")
    if x.shape[1] == 0:
        raise DataError(f"{source}: x has no feature columns (shape {x.shape})")
    if x_test.shape[1] != x.shape[1]:
        raise DataError(f"{source}: x_test has {x_test.shape[1]} features but x has {x.shape[1]}; "
                        "train and test rows must have the same columns")
    _check_finite(x, source, "x", "inputs")
    _check_finite(x_test, source, "x_test", "inputs")
    classify = y.dtype.kind in "biu"  # float labels mean regression
    if classify != (y_test.dtype.kind in "biu"):
        kinds = {True: "integer class labels", False: "float regression targets"}
        raise DataError(f"{source}: y holds {kinds[classify]} but y_test holds {kinds[not classify]}; "
                        "both must be integers (classification) or both floats (regression)")
    if not classify:
        _check_finite(y, source, "y", "regression targets")
        _check_finite(y_test, source, "y_test", "regression targets")
        y = y.reshape(len(y), -1)
        y_test = y_test.reshape(len(y_test), -1)
        if y_test.shape[1] != y.shape[1]:
            raise DataError(f"{source}: y_test has {y_test.shape[1]} target columns but y has {y.shape[1]}")
        return x, y, x_test, y_test, "regression", None
    for a, name in ((y, "y"), (y_test, "y_test")):
        neg = int((a < 0).sum())
        if neg:
            raise DataError(f"{source}: {name} has {neg} negative label{'s' if neg > 1 else ''} "
                            f"(smallest {a.min()}); class labels must be integers 0..K-1")
    top = int(y.max())
    if top >= MAX_CLASSES:
        raise DataError(f"{source}: labels go up to {top}; class labels must be 0..K-1 with K <= {MAX_CLASSES} "
                        "(store targets as floats for regression)")
    n_classes = top + 1
    if n_classes < 2:
        raise DataError(f"{source}: every training label is 0; classification needs at least 2 classes "
                        "(labels 0..K-1)")
    if int(y_test.max()) >= n_classes:
        raise DataError(f"{source}: y_test has labels up to {int(y_test.max())} but the training labels "
                        f"only go up to {top}; test classes must be among 0..{top}")
    return x, y.astype(np.int64), x_test, y_test.astype(np.int64), "classification", n_classes


def _holdout_mask(y: np.ndarray, fraction: float, rng: np.random.Generator, stratify: bool) -> np.ndarray:
    """Boolean mask of round(n * fraction) random rows to hold out.

    Stratified: class c gets a quota proportional to its count (largest remainders
    fill up to the total), at most count - 1 so every class keeps a row; rows are
    picked at random within each class.
    """
    n = len(y)
    n_out = _round(n * fraction)
    mask = np.zeros(n, dtype=bool)
    if not stratify:
        mask[rng.permutation(n)[:n_out]] = True
        return mask
    _, inv, counts = np.unique(y, return_inverse=True, return_counts=True)
    exact = counts * (n_out / n)
    quota = np.floor(exact).astype(int)
    quota[np.argsort(-(exact - quota), kind="stable")[: n_out - quota.sum()]] += 1
    quota = np.minimum(quota, counts - 1)
    order = rng.permutation(n)
    order = order[np.argsort(inv[order], kind="stable")]  # grouped by class, random within each
    rank = np.arange(n) - np.concatenate([[0], np.cumsum(counts)[:-1]])[inv[order]]
    mask[order] = rank < quota[inv[order]]
    return mask


# ============================================================ preprocessors


class _Preprocessor:
    """Shared plumbing: statistics are float64 and come only from what ``fit`` saw."""

    fitted = False

    def fit(self, x) -> _Preprocessor:
        self._fit(np.asarray(x, dtype=np.float64))
        self.fitted = True
        return self

    def transform(self, x) -> np.ndarray:
        if not self.fitted:
            raise RuntimeError(f"{type(self).__name__}.transform called before fit")
        return self._transform(np.asarray(x, dtype=np.float64))

    def _fit(self, x: np.ndarray) -> None:
        pass

    def _transform(self, x: np.ndarray) -> np.ndarray:
        return x.copy()


@preprocessors.register("none")
class NoPreprocessing(_Preprocessor):
    """Inputs used as stored.

    x' = x.
    """

    def __init__(self):
        pass


@preprocessors.register("center")
class Center(_Preprocessor):
    """Subtract the per-feature training mean.

    x' = x - mean_train(x).
    """

    def __init__(self):
        self.mean = None

    def _fit(self, x):
        self.mean = x.mean(axis=0)

    def _transform(self, x):
        return x - self.mean


@preprocessors.register("standardize")
class Standardize(_Preprocessor):
    """Per-feature zero mean and unit variance, from training statistics.

    x' = (x - mean_train) / std_train; a constant feature (std ~ 0) is only centered.
    """

    def __init__(self):
        self.mean = self.std = None

    def _fit(self, x):
        self.mean = x.mean(axis=0)
        std = x.std(axis=0)
        # a constant column's std is 0, or round-off like 1e-17: dividing would blow up noise
        self.std = np.where(std > 1e-12 * (1.0 + np.abs(self.mean)), std, 1.0)

    def _transform(self, x):
        return (x - self.mean) / self.std


@preprocessors.register("pca_whiten")
class PCAWhiten(_Preprocessor):
    """PCA whitening: decorrelate and scale every principal direction to unit variance.

    Cov = Xc^T Xc / n = U diag(S) U^T (training data, centered); x' = (x - mean) U / sqrt(S + eps).
    Source: CS231n notes "Neural Networks Part 2: data preprocessing"; CS224n/UFLDL whitening.
    """

    def __init__(self, *, eps: Positive = 1e-5):
        self.eps = eps
        self.mean = self.U = self.S = None

    def _fit(self, x):
        self.mean = x.mean(axis=0)
        xc = x - self.mean
        S, U = np.linalg.eigh(xc.T @ xc / len(x))
        order = np.argsort(S)[::-1]  # largest variance first, like an SVD
        self.S = np.clip(S[order], 0.0, None)  # eigh gives tiny negatives for singular covariances
        self.U = U[:, order]

    def _transform(self, x):
        return (x - self.mean) @ self.U / np.sqrt(self.S + self.eps)


@preprocessors.register("zca_whiten")
class ZCAWhiten(PCAWhiten):
    """ZCA whitening: PCA whitening rotated back, so features stay aligned with the originals.

    x' = (x - mean) U diag(1 / sqrt(S + eps)) U^T, with Cov = U diag(S) U^T from the training data.
    Source: CS231n notes; Bell & Sejnowski (1997) "The independent components of natural scenes".
    """

    def __init__(self, *, eps: Positive = 1e-5):
        super().__init__(eps=eps)

    def _transform(self, x):
        return super()._transform(x) @ self.U.T


# ============================================================ top level

_SPLIT_KEYS = ("val_fraction", "preprocess")


def load_dataset(data_cfg: dict, dtype="float32") -> Dataset:
    """Load, check, split, preprocess and cast the dataset a resolved ``data:`` mapping describes.

    load -> check -> validation split off the training data (stratified by class;
    rng = default_rng(the loader's seed option, else 0)) -> preprocessor fitted on the
    train split only -> transform train / val / test -> x as ``dtype``, labels int64,
    regression targets ``dtype`` shaped (n, k).  The test set is never used for fitting.
    """
    name = data_cfg.get("name", "mnist1d")
    val_fraction = data_cfg.get("val_fraction", 0.1)
    pre_spec = data_cfg.get("preprocess", "standardize") or "none"
    errors: list[str] = []
    # resolving again is cheap and fills defaults for callers passing a partial mapping
    spec = datasets.resolve({"name": name, **{k: v for k, v in data_cfg.items()
                                              if k not in ("name", *_SPLIT_KEYS)}}, "data", errors)
    pre = preprocessors.resolve(pre_spec, "data.preprocess", errors)
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0 <= val_fraction < 1:
        errors.append(f"data.val_fraction: must be a number in [0, 1), got {val_fraction!r}")
    if errors:
        raise ConfigError(lines=errors)
    source = spec.get("path") or f"dataset '{name}'"

    x, y, x_test, y_test, task, n_classes = _check(datasets.build(spec), source)

    x_val = y_val = None
    if val_fraction > 0:
        rng = np.random.default_rng(spec.get("seed", 0))
        is_val = _holdout_mask(y, val_fraction, rng, stratify=task == "classification")
        n_val, n = int(is_val.sum()), len(y)
        if n_val == 0:
            raise DataError(f"{source}: val_fraction {val_fraction} of {n} training samples gives an empty "
                            f"validation set; use at least {1 / n:.3g}, or 0 for no validation split")
        if n_val == n:
            raise DataError(f"{source}: val_fraction {val_fraction} leaves the training split empty "
                            f"({n} samples); lower data.val_fraction")
        x, y, x_val, y_val = x[~is_val], y[~is_val], x[is_val], y[is_val]

    prep = preprocessors.build(pre).fit(x)  # training split only
    fdtype = np.dtype(dtype)

    def cast_x(a):
        return None if a is None else prep.transform(a).astype(fdtype)

    def cast_y(a):
        if a is None:
            return None
        return a.astype(np.int64) if task == "classification" else a.astype(fdtype)

    return Dataset(name=name, task=task, x_train=cast_x(x), y_train=cast_y(y),
                   x_val=cast_x(x_val), y_val=cast_y(y_val), x_test=cast_x(x_test), y_test=cast_y(y_test),
                   n_classes=n_classes, preprocessor=prep)
