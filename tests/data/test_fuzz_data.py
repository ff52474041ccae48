"""Hostile data files: any bytes in a CSV, npz or IDX file give a Dataset or one DataError line, never a crash."""

from __future__ import annotations

import gzip
import io
import struct

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlab.data import load_dataset
from nnlab.errors import NnlabError

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def load_or_error(spec: dict):
    try:
        return load_dataset(spec)
    except NnlabError as exc:
        assert exc.lines and all(line and "\n" not in line for line in exc.lines), exc.lines
        return None


cells = st.sampled_from(["0", "1", "2", "1.0", "2.5", "-1", "nan", "inf", "", " ", "x", "1e400", "label",
                         "0x1", "१", "\ufeff3", '"1"', "1,2", "9" * 30])


@FUZZ
@given(rows=st.lists(st.lists(cells, min_size=1, max_size=4), max_size=12), sep=st.sampled_from([",", ";", "\t"]))
def test_any_csv_table(tmp_path_factory, rows, sep):
    path = tmp_path_factory.mktemp("csv") / "d.csv"
    path.write_text("\n".join(sep.join(r) for r in rows) + "\n", encoding="utf-8")
    d = load_or_error({"name": "csv", "path": str(path), "val_fraction": 0.0})
    if d is not None:
        assert np.isfinite(d.x_train).all() and len(d.x_train) >= 1 and len(d.x_test) >= 1


@FUZZ
@given(blob=st.binary(max_size=300))
def test_any_bytes_as_csv_and_npz(tmp_path_factory, blob):
    folder = tmp_path_factory.mktemp("bytes")
    for name, kind in (("d.csv", "csv"), ("d.npz", "npz")):
        (folder / name).write_bytes(blob)
        load_or_error({"name": kind, "path": str(folder / name), "val_fraction": 0.0})


arrays = st.sampled_from([
    np.zeros((5, 2)), np.arange(5), np.array([0.0, 1.0, 2.0, 1.0, 0.0]), np.array([[1, 2], [3, 4]]),
    np.array(["a", "b"]), np.array([np.nan, 1.0]), np.zeros((0, 3)), np.zeros(()), np.ones((5, 0)),
    np.array([3, 3, 3, 3, 3]), np.array([-1, 0, 1, 0, 1]), np.zeros((5, 2, 2)), np.array([1e30, -1e30]),
    np.array([True, False, True, False, True]), np.array([0.5, 1.5, 2.5, 3.5, 4.5]),
])


@FUZZ
@given(content=st.dictionaries(st.sampled_from(["x", "y", "x_test", "y_test", "z"]), arrays, max_size=4))
def test_any_npz_archive(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("npz") / "d.npz"
    np.savez(path, **content)
    load_or_error({"name": "npz", "path": str(path), "val_fraction": 0.0})


def _idx(kind: int, shape, payload: bytes) -> bytes:
    return bytes([0, 0, kind, len(shape)]) + b"".join(struct.pack(">I", s) for s in shape) + payload


@FUZZ
@given(kind=st.sampled_from([0x08, 0x09, 0x0B, 0x0D, 0x0E, 0x07]), shape=st.lists(st.integers(0, 4), max_size=3),
       payload=st.binary(max_size=64), gz=st.booleans(), which=st.integers(0, 3))
def test_any_idx_file(tmp_path_factory, kind, shape, payload, gz, which):
    folder = tmp_path_factory.mktemp("idx")
    good = {"train-images-idx3-ubyte": _idx(0x08, [3, 2, 2], bytes(12)),
            "train-labels-idx1-ubyte": _idx(0x08, [3], bytes([0, 1, 0])),
            "t10k-images-idx3-ubyte": _idx(0x08, [2, 2, 2], bytes(8)),
            "t10k-labels-idx1-ubyte": _idx(0x08, [2], bytes([1, 0]))}
    name = list(good)[which]
    good[name] = _idx(kind, shape, payload)
    for n, b in good.items():
        if gz and n == name:
            buf = io.BytesIO()
            with gzip.GzipFile(fileobj=buf, mode="wb") as f:
                f.write(b)
            (folder / (n + ".gz")).write_bytes(buf.getvalue())
        else:
            (folder / n).write_bytes(b)
    load_or_error({"name": "idx", "path": str(folder), "val_fraction": 0.0})
