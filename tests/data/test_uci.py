"""The vendored UCI sets (nnlab/data/uci.py): their numbers, checksums, splits and failures, against reference values.

Reference values come from the UCI files themselves (their first rows, class counts and column means), from
scikit-learn's loaders when scikit-learn is installed, and from hand-computed stratified quotas.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from nnlab.data import datasets, load_dataset, uci
from nnlab.errors import DataError

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "nnlab" / "data" / "files"

# sha256 of x as little-endian float64 followed by y as little-endian int64, as UCI stores them (digits 0..16)
SHA256 = {
    "wine": "3a28849ef2366c4b9d4e382b3fa5624a66f693c04d7fdcf43c529bbb0bb338d7",
    "breast_cancer": "25e2eb7b7a8745b1bde5ba18bc4969983d2e2f403291ecd5bde4a29ef30c3859",
    "digits": "f6d9e39f37dc45d327f6db33428ee58970ccceabb2535a5c179de35886b70443",
}
SHAPES = {"wine": (178, 13), "breast_cancer": (569, 30), "digits": (1797, 64)}
CLASS_COUNTS = {"wine": [59, 71, 48], "breast_cancer": [212, 357],
                "digits": [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]}


def stored(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The vendored arrays read with plain numpy, not through the loader."""
    with np.load(FILES / f"{name}.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["decimals", "x", "y"]
        return z["x"] / 10.0 ** z["decimals"].astype(np.int64), z["y"].astype(np.int64)


# ------------------------------------------------------------------ the vendored numbers


@pytest.mark.parametrize("name", SHA256)
def test_the_vendored_arrays_have_their_checksum_shape_and_classes(name):
    x, y = stored(name)
    digest = hashlib.sha256(x.astype("<f8").tobytes() + y.astype("<i8").tobytes()).hexdigest()
    assert digest == SHA256[name], "the vendored file changed: python tools/vendor_uci.py --check"
    assert x.shape == SHAPES[name] and y.shape == (SHAPES[name][0],)
    assert np.bincount(y).tolist() == CLASS_COUNTS[name]
    assert uci.VENDORED[name][3] == SHA256[name]  # what the loader checks at run time
    rx, ry = uci.read_vendored(name)
    np.testing.assert_array_equal(rx, x)
    np.testing.assert_array_equal(ry, y)
    assert rx.dtype == np.float64 and ry.dtype == np.int64


def test_the_vendored_numbers_are_the_uci_files():
    x, y = uci.read_vendored("wine")  # the first line of UCI's wine.data (class 1 there is 0 here)
    np.testing.assert_array_equal(x[0], [14.23, 1.71, 2.43, 15.6, 127, 2.8, 3.06, .28, 2.29, 5.64, 1.04, 3.92, 1065])
    assert y[0] == 0 and y[-1] == 2
    np.testing.assert_allclose(x.mean(axis=0)[[0, 4, 12]], [13.0006, 99.7416, 746.8933], atol=1e-4)
    x, y = uci.read_vendored("breast_cancer")  # the first line of wdbc.data: 842302, M, 17.99, ...
    np.testing.assert_array_equal(x[0, [0, 3, 4, 23, 29]], [17.99, 1001, 0.1184, 2019, 0.1189])
    assert y[0] == 0  # malignant
    assert x[:, 23].max() == 4254.0
    x, y = uci.read_vendored("digits")  # integers 0..16
    assert x.min() == 0 and x.max() == 16 and (x == np.round(x)).all()
    np.testing.assert_array_equal(x[0, :8], [0, 0, 5, 13, 9, 1, 0, 0])
    assert y[:10].tolist() == list(range(10))


def test_the_features_have_very_different_scales():
    """What the sets are for: standardizing inputs whose units differ (the claim of the notes)."""
    for name, at_least in (("wine", 2000), ("breast_cancer", 2e5)):
        x, _ = uci.read_vendored(name)
        sd = x.std(axis=0)
        assert sd.max() / sd.min() > at_least
    x, _ = uci.read_vendored("wine")
    sd = x.std(axis=0)
    assert np.argmax(sd) == 12 and np.argmin(sd) == 7  # proline (~315) and nonflavanoid phenols (~0.12)


@pytest.mark.slow  # importing scikit-learn takes a second or two
def test_the_vendored_arrays_equal_scikit_learns():
    datasets_ = pytest.importorskip("sklearn.datasets")
    for name, load in (("wine", datasets_.load_wine), ("breast_cancer", datasets_.load_breast_cancer),
                       ("digits", datasets_.load_digits)):
        sx, sy = load(return_X_y=True)
        x, y = uci.read_vendored(name)
        np.testing.assert_array_equal(x, sx)  # bit for bit
        np.testing.assert_array_equal(y, sy)


@pytest.mark.slow
def test_the_vendoring_script_reproduces_the_files_from_scikit_learn():
    pytest.importorskip("sklearn")
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "vendor_uci.py"), "--check"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("same as") == 3


# ------------------------------------------------------------------ loading and splitting


def test_wine_split_is_stratified_by_hand_computed_quotas():
    raw = datasets.build({"name": "wine", "test_fraction": 0.25, "seed": 0})
    # round(178 * 0.25) = 45 test rows (half up); quotas 14.75, 17.75, 12 -> floors 14, 17, 12 (43), the two
    # largest remainders (.75, .75) get one more
    assert np.bincount(raw.y_test).tolist() == [15, 18, 12]
    assert np.bincount(raw.y).tolist() == [44, 53, 36]
    assert raw.x.dtype == raw.x_test.dtype == np.float64


@pytest.mark.parametrize("name", SHA256)
def test_the_split_is_a_deterministic_partition_in_shuffled_order(name):
    x, y = uci.read_vendored(name)
    if name == "digits":
        x = x / 16.0
    raw = datasets.build({"name": name, "test_fraction": 0.3, "seed": 5})
    both_x, both_y = np.concatenate([raw.x, raw.x_test]), np.concatenate([raw.y, raw.y_test])
    key = np.lexsort(np.c_[both_y, both_x].T)
    ref = np.lexsort(np.c_[y, x].T)
    np.testing.assert_array_equal(both_x[key], x[ref])  # every row once, with its own label
    np.testing.assert_array_equal(both_y[key], y[ref])
    assert abs(len(raw.y_test) - 0.3 * len(y)) <= 0.5
    assert (np.diff(raw.y) != 0).sum() > len(np.unique(y))  # not ordered by class, as in the files
    again = datasets.build({"name": name, "test_fraction": 0.3, "seed": 5})
    np.testing.assert_array_equal(again.x_test, raw.x_test)
    other = datasets.build({"name": name, "test_fraction": 0.3, "seed": 6})
    assert not np.array_equal(other.x_test, raw.x_test)


def test_digits_are_scaled_to_the_unit_interval_in_sixteenths():
    ds = load_dataset({"name": "digits", "val_fraction": 0.0, "preprocess": "none"}, dtype="float64")
    x = np.concatenate([ds.x_train, ds.x_test])
    assert x.shape == (1797, 64) and x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(x * 16, np.round(x * 16))
    assert ds.n_classes == 10 and ds.task == "classification"


def test_load_dataset_gives_float32_and_validation_splits():
    ds = load_dataset({"name": "breast_cancer", "val_fraction": 0.1, "preprocess": "standardize"})
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert (len(ds.x_train), len(ds.x_val), len(ds.x_test)) == (384, 43, 142)  # 427 -> 43 of them validate
    assert ds.n_classes == 2 and ds.n_features == 30
    np.testing.assert_allclose(ds.x_train.mean(axis=0), 0, atol=1e-5)


@pytest.mark.parametrize("options, expected", [
    ({"test_fraction": 0}, "data.test_fraction: must be greater than 0"),
    ({"test_fraction": 1}, "data.test_fraction: must be less than 1"),
    ({"test_fraction": 0.001}, "data: test_fraction 0.001 of the 178 samples gives an empty test set; use at "
                               "least 0.00281"),
    ({"path": "x.csv"}, "data.path: unknown option 'path' for dataset 'wine'; choose from seed, test_fraction"),
])
def test_bad_options_are_config_errors(options, expected):
    errors: list[str] = []
    assert datasets.resolve({"name": "wine", **options}, "data", errors) is None
    assert errors and errors[0].startswith(expected), errors


def test_the_registry_lists_the_sets_with_one_line_descriptions():
    from helpers import invoke

    r = invoke("list", "datasets")
    assert r.exit_code == 0, r.output
    lines = {line.split("\t")[1]: line for line in r.output.splitlines() if line.startswith("dataset\t")}
    assert "UCI Wine: 178 wines, 3 cultivars" in lines["wine"]
    assert "UCI Breast Cancer Wisconsin (Diagnostic): 569 tumours" in lines["breast_cancer"]
    assert "UCI optical handwritten digits: 1797 images of 8x8" in lines["digits"]
    assert "test_fraction: float > 0, < 1 (0.25), seed: int >= 0 (0)" in lines["wine"]


# ------------------------------------------------------------------ a damaged or missing file


@pytest.fixture
def files_dir(tmp_path, monkeypatch):
    """A copy of the vendored files that a test may damage, read in place of the real ones."""
    folder = tmp_path / "files"
    shutil.copytree(FILES, folder)
    monkeypatch.setattr(uci, "FILES_DIR", folder)
    return folder


def one_line_error(name: str = "wine") -> str:
    with pytest.raises(DataError) as exc:
        datasets.build({"name": name, "test_fraction": 0.25, "seed": 0})
    lines = exc.value.lines
    assert len(lines) == 1 and "\n" not in lines[0], lines
    assert lines[0].startswith(f"dataset '{name}': ")
    return lines[0]


def test_a_copy_of_the_files_loads_the_same(files_dir):
    raw = datasets.build({"name": "wine"})
    assert len(raw.y) + len(raw.y_test) == 178


def test_a_missing_file_is_one_line(files_dir):
    (files_dir / "wine.npz").unlink()
    msg = one_line_error()
    assert "wine.npz: file not found; this nnlab installation is damaged, reinstall nnlab" in msg


def test_changed_numbers_in_a_valid_archive_are_caught_by_the_checksum(files_dir):
    with np.load(files_dir / "wine.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["x"] = arrays["x"].copy()
    arrays["x"][5, 3] += 1  # one value off by 0.1 in the fourth column
    np.savez_compressed(files_dir / "wine.npz", **arrays)
    msg = one_line_error()
    assert "its numbers differ from the ones nnlab shipped (sha256 " in msg and "expected 3a28849ef236..." in msg


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_damaged_bytes_are_one_line(files_dir, damage):
    path = files_dir / "breast_cancer.npz"
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[len(data) // 2] ^= 0xFF  # inside the compressed x array: a CRC or inflate error
    elif damage == "garbage":
        data = bytearray(b"not an archive at all\n" * 10)
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    msg = one_line_error("breast_cancer")
    assert "breast_cancer.npz: " in msg and "reinstall nnlab" in msg


def test_wrong_arrays_are_one_line(files_dir):
    np.savez(files_dir / "digits.npz", x=np.zeros((3, 64), np.uint8), decimals=np.zeros(64, np.int8),
             y=np.zeros(3, np.uint8))
    assert "expected integers shaped (1797, 64), (64,), (1797,)" in one_line_error("digits")
    np.savez(files_dir / "digits.npz", x=np.zeros((1797, 64), np.uint8))
    assert "no array decimals, y (it has x)" in one_line_error("digits")
    np.savez(files_dir / "digits.npz", x=np.array([{"a": 1}], dtype=object), decimals=np.zeros(1), y=np.zeros(1))
    assert "cannot be read as an .npz archive" in one_line_error("digits")


def test_a_zip_bomb_is_refused_before_it_is_unpacked(files_dir):
    with zipfile.ZipFile(files_dir / "wine.npz", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", b"\0" * (5 << 20))  # 5 MiB of zeros compress to a few KB
    assert "its arrays unpack to 5 MiB, more than the 4 MiB nnlab's copy takes" in one_line_error()


def test_a_file_that_is_not_regular_or_too_large_is_refused_without_reading_it(files_dir):
    path = files_dir / "wine.npz"
    path.unlink()
    path.mkdir()
    assert "is a folder, not a regular file" in one_line_error()
    path.rmdir()
    if hasattr(os, "mkfifo"):
        os.mkfifo(path)  # opening a FIFO for reading would block without O_NONBLOCK and the check
        assert "is a named pipe (FIFO), not a regular file" in one_line_error()
        path.unlink()
    path.write_bytes(b"\0" * ((1 << 20) + 1))
    assert "larger than 1 MiB, the most nnlab reads for nnlab's copy of the UCI wine data" in one_line_error()


# ------------------------------------------------------------------ packaging


@pytest.mark.slow
def test_a_wheel_holds_the_vendored_files(tmp_path):
    pytest.importorskip("hatchling")  # building without isolation needs the build backend installed
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    (wheel,) = tmp_path.glob("nnlab-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        for name in SHA256:
            member = f"nnlab/data/files/{name}.npz"
            assert member in names
            assert z.read(member) == (FILES / f"{name}.npz").read_bytes()
        assert "nnlab/data/files/README.md" in names  # the sources and the licence travel with the data
