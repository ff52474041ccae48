"""Datasets and input preprocessing: a config's ``data:`` mapping -> arrays ready to train on.

Two registries, each component's keyword-only parameters being its YAML options:

* ``datasets``: loaders returning :class:`RawData` (train and test arrays as
  stored, unconverted).  Synthetic sets (spiral, moons, circles, xor, blobs)
  are drawn from their own ``seed`` with ``np.random.default_rng`` (never the
  global state); file sets (npz, csv, idx) read ``path``; mnist1d is generated
  by the official ``mnist1d`` package once and cached; mnist, fashion_mnist, kmnist and
  cifar10 are downloaded once, checksum-checked and cached (nnlab.data.vision).  ravine and
  sparse are synthetic sets for the optimizer claims; wine, breast_cancer and digits are
  small UCI sets shipped with nnlab (nnlab/data/files/).
* ``preprocessors``: classes with ``fit(x) -> self`` (training split only) and
  ``transform(x) -> new array`` (every split).

:func:`load_dataset` runs load -> check -> validation split -> preprocess ->
cast and returns a :class:`Dataset`.  Anything wrong with the data is one
:class:`~nnlab.errors.DataError` line naming the file (or dataset), the
problem and what is allowed.
"""
from __future__ import annotations

import numpy as np

from nnlab.data.formats import csv, idx, npz, read_idx
from nnlab.data.mnist1d import cache_dir, mnist1d
from nnlab.data.optimizer_sets import ravine, sparse
from nnlab.data.preprocess import preprocessors
from nnlab.data.splits import MAX_CLASSES, Dataset, RawData, check_raw, holdout_mask
from nnlab.data.synthetic import blobs, circles, moons, spiral, xor
from nnlab.data.uci import breast_cancer, digits, wine
from nnlab.data.vision import cifar10, fashion_mnist, kmnist, mnist
from nnlab.errors import ConfigError, DataError
from nnlab.options import Registry

# The registry, filled explicitly: adding a data set is its loader function plus one line here.
datasets = Registry("dataset", {
    "spiral": spiral, "moons": moons, "circles": circles, "xor": xor, "blobs": blobs,
    "mnist1d": mnist1d, "npz": npz, "csv": csv, "idx": idx,
    "wine": wine,
    "breast_cancer": breast_cancer,
    "digits": digits,
    "ravine": ravine,
    "sparse": sparse,
    "mnist": mnist, "fashion_mnist": fashion_mnist, "kmnist": kmnist, "cifar10": cifar10,
})

__all__ = ["Dataset", "RawData", "MAX_CLASSES", "cache_dir", "datasets", "load_dataset", "prepare_dataset",
           "preprocessors", "read_idx"]


_SPLIT_KEYS = ("val_fraction", "preprocess", "augment", "task")  # data: keys that are not the loader's options


def _abs_max(a: np.ndarray) -> float:
    """The largest finite |value| of ``a`` (inf when it has none)."""
    finite = a[np.isfinite(a)] if a.dtype.kind == "f" else a
    return float(np.max(np.abs(finite.astype(np.float64)))) if finite.size else float("inf")


def _settings(data_cfg: dict, errors: list[str]) -> tuple:
    """(val_fraction, preprocessor spec, task) of a data mapping; a problem with any is a line in ``errors``."""
    val_fraction = data_cfg.get("val_fraction", 0.1)
    pre = preprocessors.resolve(data_cfg.get("preprocess", "standardize") or "none", "data.preprocess", errors)
    task = data_cfg.get("task", "auto")
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0 <= val_fraction < 1:
        errors.append(f"data.val_fraction: must be a number in [0, 1), got {val_fraction!r}")
    if task not in ("auto", "classification", "regression"):
        errors.append(f"data.task: must be auto, classification or regression, got {task!r}")
    return val_fraction, pre, task


def load_dataset(data_cfg: dict, dtype="float32") -> Dataset:
    """Load, check, split, preprocess and cast the dataset a resolved ``data:`` mapping describes.

    load -> check -> validation split off the training data (stratified by class;
    rng = default_rng(the loader's seed option, else 0)) -> preprocessor fitted on the
    train split only -> transform train / val / test -> x as ``dtype``, labels int64,
    regression targets ``dtype`` shaped (n, k).  The test set is never used for fitting.
    """
    name = data_cfg.get("name", "mnist1d")
    errors: list[str] = []
    # resolving again is cheap and fills defaults for callers passing a partial mapping
    spec = datasets.resolve({"name": name, **{k: v for k, v in data_cfg.items()
                                              if k not in ("name", *_SPLIT_KEYS)}}, "data", errors)
    _settings(data_cfg, errors)
    if errors:
        raise ConfigError(lines=errors)
    return prepare_dataset(datasets.build(spec), data_cfg, dtype, spec.get("path") or f"dataset '{name}'",
                           seed=spec.get("seed", 0))


def prepare_dataset(raw: RawData, data_cfg: dict, dtype="float32", source: str = "data", seed: int = 0) -> Dataset:
    """Arrays as a loader gives them (RawData) -> checked, split, preprocessed and cast, as load_dataset does for a
    data set by name; ``data_cfg`` gives val_fraction, preprocess and task (the rest is the loader's), ``seed``
    the validation split's generator.  nnlab.sklearn's estimators give fit()'s arrays this way."""
    name = data_cfg.get("name", "mnist1d")
    errors: list[str] = []
    val_fraction, pre, task = _settings(data_cfg, errors)
    if errors:
        raise ConfigError(lines=errors)

    x, y, x_test, y_test, task, n_classes, task_reason = check_raw(raw, source, task)

    x_val = y_val = None
    if val_fraction > 0:
        rng = np.random.default_rng(seed)
        is_val = holdout_mask(y, val_fraction, rng, stratify=task == "classification")
        n_val, n = int(is_val.sum()), len(y)
        if n_val == 0:
            raise DataError(f"{source}: val_fraction {val_fraction} of {n} training samples gives an empty "
                            f"validation set; use at least {1 / n:.3g}, or 0 for no validation split")
        if n_val == n:
            raise DataError(f"{source}: val_fraction {val_fraction} leaves the training split empty "
                            f"({n} samples); lower data.val_fraction")
        x, y, x_val, y_val = x[~is_val], y[~is_val], x[is_val], y[is_val]

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # statistics that overflow: see cast_x
        prep = preprocessors.build(pre).fit(x)  # training split only
    fdtype = np.dtype(dtype)

    def fits(a, what: str):
        """``a`` cast to the run's dtype, where a finite value must stay finite (1e300 is inf in float32)."""
        with np.errstate(over="ignore"):  # an overflow is the error below, not a RuntimeWarning
            out = a.astype(fdtype)
        if out.dtype.kind == "f" and not np.isfinite(out).all():
            raise DataError(f"{source}: {what} reach |v| = {_abs_max(a):.3g}, beyond {fdtype.name} "
                            f"(at most {float(np.finfo(fdtype).max):.3g}); scale them, or set dtype: float64")
        return out

    def cast_x(a):
        if a is None:
            return None
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # reported below, in one line
            t = prep.transform(a)  # the loaders' values are finite (checked): only the preprocessor can break that
        if t.dtype.kind == "f" and not np.isfinite(t).all():
            raise DataError(f"{source}: data.preprocess {pre['name']} turns the inputs into NaN or inf (inputs "
                            f"up to |v| = {_abs_max(a):.3g} overflow its statistics); scale them first")
        return fits(t, "inputs" if pre["name"] == "none" else f"inputs after data.preprocess {pre['name']}")

    def cast_y(a):
        if a is None:
            return None
        return a.astype(np.int64) if task == "classification" else fits(a, "regression targets")

    return Dataset(name=name, task=task, x_train=cast_x(x), y_train=cast_y(y),
                   x_val=cast_x(x_val), y_val=cast_y(y_val), x_test=cast_x(x_test), y_test=cast_y(y_test),
                   n_classes=n_classes, preprocessor=prep, task_reason=task_reason)

