"""The data model and the checks every data set passes: RawData -> checked arrays, and the splits.

``check_raw`` turns a loader's RawData into checked, converted arrays (or one
DataError line); ``holdout_mask`` draws stratified validation and test splits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nnlab.errors import DataError

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
    # why the labels made this task, in one line for the user, e.g. "y holds non-integer numbers
    # (e.g. 0.37), so this is regression (mean squared error)"
    task_reason: str = ""

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_outputs(self) -> int:
        """Network output width: n_classes, or the number of regression target columns."""
        return int(self.n_classes) if self.task == "classification" else int(self.y_train.shape[1])

    def summary(self) -> dict:
        """What a run folder's summary.json says of its data (plain numbers)."""
        return {"name": self.name, "task": self.task, "n_train": len(self.x_train),
                "n_val": 0 if self.x_val is None else len(self.x_val),
                "n_test": 0 if self.x_test is None else len(self.x_test), "n_features": self.n_features,
                "n_classes": self.n_classes, "n_outputs": self.n_outputs, "fingerprint": self.fingerprint(test=True)}

    def fingerprint(self, test: bool = False) -> str:
        """A hash of the training and validation arrays (with ``test``, the test arrays too): a resumed run
        must see the same data, an ensemble of finished runs must be scored on theirs."""
        import hashlib

        h = hashlib.blake2b(digest_size=16)
        for a in (self.x_train, self.y_train, self.x_val, self.y_val, *((self.x_test, self.y_test) if test else ())):
            if a is not None:
                h.update(str((a.shape, a.dtype.str)).encode())
                h.update(np.ascontiguousarray(a).data)
        return h.hexdigest()

    def without_test(self) -> "Dataset":
        """The same data with the test set held back (a sweep chooses on validation data only)."""
        from dataclasses import replace

        return replace(self, x_test=None, y_test=None)



def round_half_up(v: float) -> int:
    # round half up: Python's round(0.5) == 0 would make thresholds surprising
    return int(np.floor(v + 0.5))


def split_test(x, y, test_fraction: float, seed: int, source: str) -> RawData:
    """Hold out a random test_fraction of the rows (stratified by class for integer labels)."""
    x, y = _check_pair(x, y, source, "x", "y")
    if y.dtype.kind == "f":  # whole-number float labels are classes: stratify by them
        whole = _whole_labels(y)
        y = y if whole is None else whole
    if len(x) == 0:
        raise DataError(f"{source}: the data set is empty (0 rows); it needs samples to train and test on")
    if test_fraction == 0:
        raise DataError(f"{source}: has no separate test set and test_fraction is 0; "
                        "set data.test_fraction > 0 (or store x_test, y_test in an .npz)")
    is_test = holdout_mask(y, test_fraction, np.random.default_rng(seed), stratify=y.dtype.kind in "biu")
    if not is_test.any():
        if len(y) < 2:  # no fraction below 1 holds out a row and leaves one to train on
            raise DataError(f"{source}: has only {len(y)} row, too few to hold out a test set; use more rows, or "
                            "store x_test, y_test in an .npz")
        raise DataError(f"{source}: test_fraction {test_fraction} of {len(y)} rows gives an empty test set; "
                        f"use a test_fraction of at least {1 / len(y):.3g} (and below 1)")
    return RawData(x[~is_test], y[~is_test], x[is_test], y[is_test])



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


def check_raw(raw: RawData, source: str, task: str = "auto"):
    """All checks on a loader's output; returns (x, y, x_test, y_test, task, n_classes, reason) converted.

    ``task``: auto (integer labels, or floats that are all whole numbers, are classes; other floats regression
    targets), regression (any numbers are targets: counts, ages) or classification (the labels must be whole
    numbers 0..K-1)."""
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
    reason = ""
    if task == "regression":
        y, y_test = y.astype(np.float64), y_test.astype(np.float64)
        reason = "data.task is regression"
    elif "f" in (y.dtype.kind, y_test.dtype.kind):
        # float labels that are all whole numbers in 0..MAX_CLASSES-1 (0.0, 1.0, 2.0) are classes
        wy = _whole_labels(y) if y.dtype.kind == "f" else y
        wt = _whole_labels(y_test) if y_test.dtype.kind == "f" else y_test
        if wy is not None and wt is not None:
            y, y_test = wy, wt
            reason = "y holds whole numbers stored as floats"
        elif task == "classification":
            raise DataError(f"{source}: data.task is classification, but {_regression_reason(y, y_test)}; class "
                            f"labels are whole numbers 0..K-1 (or set data.task: regression)")
        else:
            reason = _regression_reason(y, y_test)
    classify = y.dtype.kind in "biu"  # other float labels mean regression
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
        return x, y, x_test, y_test, "regression", None, reason + ", so this is regression (mean squared error)"
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
    if int(y.min()) == top:  # one distinct value, whatever it is (all 3s would otherwise make 4 classes)
        raise DataError(f"{source}: every training label is {top}; classification needs at least 2 classes "
                        "(labels 0..K-1)")
    if int(y_test.max()) >= n_classes:
        raise DataError(f"{source}: y_test has labels up to {int(y_test.max())} but the training labels "
                        f"only go up to {top}; test classes must be among 0..{top}")
    reason = (reason or "y holds integer labels") + f", so this is classification with {n_classes} classes " \
        f"(0..{top}, cross-entropy)"
    return x, y.astype(np.int64), x_test, y_test.astype(np.int64), "classification", n_classes, reason


def _whole_labels(y: np.ndarray) -> np.ndarray | None:
    """Float labels as int64 class labels when they are one column of whole numbers in 0..MAX_CLASSES-1.

    0.0, 1.0, 2.0 (a CSV's "1.0", an npz saved as floats) are classes; anything else
    (fractions, NaN, negative or huge whole numbers, several target columns) is None:
    regression targets.
    """
    if y.ndim == 2 and y.shape[1] != 1:
        return None
    y = y.reshape(len(y))
    if y.size == 0:
        return None
    with np.errstate(invalid="ignore"):
        if not (np.isfinite(y).all() and (y == np.floor(y)).all()):
            return None
    if y.min() < 0 or y.max() >= MAX_CLASSES:
        return None
    return y.astype(np.int64)


def _regression_reason(y: np.ndarray, y_test: np.ndarray) -> str:
    """Why float labels are regression targets, e.g. 'y holds non-integer numbers (e.g. 0.37)'."""
    for a, name in ((y, "y"), (y_test, "y_test")):
        if a.dtype.kind != "f":
            continue
        if a.ndim == 2 and a.shape[1] > 1:
            return f"{name} has {a.shape[1]} target columns of floats"
        flat = a.reshape(-1)
        with np.errstate(invalid="ignore"):
            frac = flat[np.isfinite(flat) & (flat != np.floor(flat))]
        if frac.size:
            return f"{name} holds non-integer numbers (e.g. {frac[0]:.6g})"
    for a, name in ((y, "y"), (y_test, "y_test")):
        flat = a.reshape(-1)[np.isfinite(a.reshape(-1))] if a.dtype.kind == "f" else a.reshape(-1)
        if flat.size and flat.min() < 0:
            return f"{name} holds whole numbers but some are negative (smallest {flat.min():.6g})"
        if flat.size and flat.max() >= MAX_CLASSES:
            return (f"{name} holds whole numbers up to {flat.max():.6g}, more than the {MAX_CLASSES} "
                    "classes allowed")
    return "y holds floats"


def holdout_mask(y: np.ndarray, fraction: float, rng: np.random.Generator, stratify: bool) -> np.ndarray:
    """Boolean mask of round(n * fraction) random rows to hold out.

    Stratified: class c gets a quota proportional to its count (largest remainders
    fill up to the total), at most count - 1 so every class keeps a row; rows are
    picked at random within each class.
    """
    n = len(y)
    n_out = round_half_up(n * fraction)
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


