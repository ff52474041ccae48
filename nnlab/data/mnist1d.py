"""MNIST-1D (Greydanus 2020), generated locally by the official mnist1d package and cached."""

from __future__ import annotations

import os
import random
import warnings
from pathlib import Path

import numpy as np

from nnlab.data.formats import open_data_file
from nnlab.data.splits import RawData
from nnlab.errors import DataError
from nnlab.files import atomic_savez

MNIST1D_CACHE_FILE = "mnist1d_v1.npz"


def cache_dir() -> Path:
    """Folder for cached data: $NNLAB_CACHE, else $XDG_CACHE_HOME/nnlab, else ~/.cache/nnlab."""
    if os.environ.get("NNLAB_CACHE"):
        return Path(os.environ["NNLAB_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "nnlab"
    return Path.home() / ".cache" / "nnlab"


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
    """The cached arrays, or None when the cache is missing or damaged (then it is regenerated).

    A cache path that is not a regular file (a FIFO, a device) or is absurdly large is a
    DataError: reading it would hang or exhaust memory, and replacing it could destroy
    something that is not ours.
    """
    try:
        f = open_data_file(file, "the mnist1d cache (an .npz archive; delete it to regenerate)")
    except (FileNotFoundError, OSError):
        return None
    try:
        with f, np.load(f, allow_pickle=False) as z:
            data = {k: z[k] for k in ("x", "y", "x_test", "y_test")}
    except Exception:  # noqa: BLE001 - any unreadable cache (partial, not npz) is regenerated
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


