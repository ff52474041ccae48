"""Tests for nnlab.data: loaders, checks, splits and preprocessing, against hand-computed values."""

from __future__ import annotations

import gzip
import random
import struct

import numpy as np
import pytest

from nnlab import data
from nnlab.data import load_dataset, preprocess
from nnlab.errors import DataError


def load(name, val_fraction=0.0, preprocess="none", dtype="float32", **options):
    return load_dataset({"name": name, **options, "val_fraction": val_fraction,
                         "preprocess": preprocess}, dtype=dtype)


# ------------------------------------------------------------------ file writers


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def idx_bytes(arr: np.ndarray, type_code: int = 0x08) -> bytes:
    """Real IDX bytes: 0x0000, type, ndim, big-endian uint32 dims, big-endian data."""
    dt = {0x08: ">u1", 0x0C: ">i4"}[type_code]
    header = bytes([0, 0, type_code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(dt).tobytes()


def write_idx_folder(folder, images, labels, test_images, test_labels, gz=False, dotted=False):
    folder.mkdir(exist_ok=True)
    files = {"train-images-idx3-ubyte": images, "train-labels-idx1-ubyte": labels,
             "t10k-images-idx3-ubyte": test_images, "t10k-labels-idx1-ubyte": test_labels}
    for name, arr in files.items():
        if dotted:
            name = name.replace("-idx", ".idx")
        raw = idx_bytes(arr)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return folder


def mnist_like(seed=0, n=12, n_test=6):
    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 256, (n, 4, 3), dtype=np.uint8)
    imgs[0, 0, 0], imgs[0, 0, 1] = 255, 0  # make sure both ends of the range appear
    labels = np.arange(n, dtype=np.uint8) % 3
    t_imgs = rng.integers(0, 256, (n_test, 4, 3), dtype=np.uint8)
    t_labels = np.arange(n_test, dtype=np.uint8) % 3
    return imgs, labels, t_imgs, t_labels


# ------------------------------------------------------------------ npz


def test_npz_with_test_set_keeps_values(tmp_path):
    x = np.arange(12.0).reshape(6, 2)
    y = np.array([0, 1, 2, 0, 1, 2])
    xt = np.array([[100.0, 200.0]])
    p = write_npz(tmp_path / "d.npz", x=x, y=y, x_test=xt, y_test=np.array([1]))
    ds = load("npz", path=p)
    assert ds.task == "classification" and ds.n_classes == 3 and ds.n_outputs == 3
    np.testing.assert_array_equal(ds.x_train, x.astype(np.float32))
    np.testing.assert_array_equal(ds.y_train, y)
    np.testing.assert_array_equal(ds.x_test, [[100.0, 200.0]])
    assert ds.y_train.dtype == np.int64 and ds.x_train.dtype == np.float32
    assert ds.x_val is None and ds.y_val is None


def test_npz_without_test_set_is_split_stratified(tmp_path):
    n = 100
    x = np.c_[np.arange(n), np.zeros(n)].astype(float)  # column 0 identifies each row
    y = np.repeat([0, 1], [60, 40])
    p = write_npz(tmp_path / "d.npz", x=x, y=y)
    ds = load("npz", path=p, test_fraction=0.2, seed=3)
    assert len(ds.x_train) == 80 and len(ds.x_test) == 20
    np.testing.assert_array_equal(np.bincount(ds.y_test), [12, 8])  # 20% of 60 and of 40
    ids = np.concatenate([ds.x_train[:, 0], ds.x_test[:, 0]]).astype(int)
    np.testing.assert_array_equal(np.sort(ids), np.arange(n))  # a partition, nothing lost
    np.testing.assert_array_equal(y[ds.x_test[:, 0].astype(int)], ds.y_test)  # rows keep their labels
    again = load("npz", path=p, test_fraction=0.2, seed=3)
    np.testing.assert_array_equal(again.x_test, ds.x_test)
    other = load("npz", path=p, test_fraction=0.2, seed=4)
    assert not np.array_equal(other.x_test, ds.x_test)


def test_npz_images_are_flattened_and_float_targets_are_regression(tmp_path):
    x = np.arange(5 * 2 * 3, dtype=float).reshape(5, 2, 3)
    y = np.linspace(0, 1, 5)
    p = write_npz(tmp_path / "r.npz", x=x, y=y, x_test=x[:2], y_test=y[:2])
    ds = load("npz", path=p)
    assert ds.task == "regression" and ds.n_classes is None
    assert ds.x_train.shape == (5, 6) and ds.y_train.shape == (5, 1) and ds.n_outputs == 1
    assert ds.y_train.dtype == np.float32
    np.testing.assert_allclose(ds.y_train[:, 0], y)


# ------------------------------------------------------------------ csv


def test_csv_without_header_label_last(tmp_path):
    rows = [[0.5, 1.0, 0], [1.5, 2.0, 1], [2.5, 3.0, 2], [3.5, 4.0, 0], [4.5, 5.0, 1], [5.5, 6.0, 2]] * 5
    p = tmp_path / "d.csv"
    p.write_text("\n".join(",".join(str(v) for v in r) for r in rows) + "\n\n")  # trailing blank line
    ds = load("csv", path=str(p), test_fraction=0.2)
    assert ds.task == "classification" and ds.n_classes == 3
    assert len(ds.x_train) + len(ds.x_test) == 30 and len(ds.x_test) == 6
    np.testing.assert_array_equal(np.bincount(ds.y_test), [2, 2, 2])
    # each row's label is its first value's integer part mod 3, whichever split it went to
    for xs, ys in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        np.testing.assert_array_equal(np.floor(xs[:, 0]).astype(int) % 3, ys)
        np.testing.assert_array_equal(xs[:, 1] - xs[:, 0], 0.5)


def test_csv_header_with_label_column_not_last(tmp_path):
    lines = ["a,label,b"] + [f"{i},{i % 2},{10 * i}" for i in range(20)]
    p = tmp_path / "d.csv"
    p.write_text("\n".join(lines))
    ds = load("csv", path=str(p), test_fraction=0.25)
    assert ds.n_features == 2 and ds.n_classes == 2
    x = np.concatenate([ds.x_train, ds.x_test])
    y = np.concatenate([ds.y_train, ds.y_test])
    np.testing.assert_array_equal(x[:, 1], 10 * x[:, 0])  # columns a, b kept in order
    np.testing.assert_array_equal(y, x[:, 0].astype(int) % 2)


def test_csv_regression_when_labels_are_not_integers(tmp_path):
    lines = ["x1,x2,target"] + [f"{i},{-i},{i * 0.5}" for i in range(10)]
    p = tmp_path / "r.csv"
    p.write_text("\n".join(lines))
    ds = load("csv", path=str(p), test_fraction=0.2)
    assert ds.task == "regression" and ds.y_train.shape == (8, 1) and ds.n_outputs == 1
    np.testing.assert_allclose(ds.y_train[:, 0], ds.x_train[:, 0] * 0.5)


# ------------------------------------------------------------------ idx


@pytest.mark.parametrize("gz,dotted", [(False, False), (True, False), (False, True), (True, True)])
def test_idx_raw_and_gzipped(tmp_path, gz, dotted):
    imgs, labels, t_imgs, t_labels = mnist_like()
    folder = write_idx_folder(tmp_path / "mnist", imgs, labels, t_imgs, t_labels, gz=gz, dotted=dotted)
    ds = load("idx", path=str(folder))
    assert ds.x_train.shape == (12, 12) and ds.x_test.shape == (6, 12)
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    np.testing.assert_allclose(ds.x_train, imgs.reshape(12, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_train, labels)
    np.testing.assert_array_equal(ds.y_test, t_labels)
    assert ds.n_classes == 3


def test_read_idx_parses_header_and_big_endian_ints(tmp_path):
    arr = np.array([[1, 70000], [-3, 2**30]], dtype=np.int64)
    f = tmp_path / "a.idx"
    f.write_bytes(idx_bytes(arr, 0x0C))
    out = data.read_idx(f)
    assert out.shape == (2, 2)
    np.testing.assert_array_equal(out, arr)


# ------------------------------------------------------------------ synthetic sets

SYNTHETIC = {"spiral": 3, "moons": 2, "circles": 2, "xor": 2, "blobs": 3}


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_shapes_balance_and_seeds(name):
    ds = load(name, n_samples=300, seed=0, test_fraction=0.25)
    k = SYNTHETIC[name]
    assert ds.x_train.shape == (300, 2) and ds.x_test.shape == (100, 2)  # 300 * 0.25 / 0.75
    assert ds.n_classes == k
    assert np.ptp(np.bincount(ds.y_train, minlength=k)) <= 1
    assert np.ptp(np.bincount(ds.y_test, minlength=k)) <= 1
    assert 0 < ds.y_train[:30].mean() < k - 1  # rows are shuffled, not sorted by class
    same = load(name, n_samples=300, seed=0, test_fraction=0.25)
    np.testing.assert_array_equal(same.x_train, ds.x_train)
    np.testing.assert_array_equal(same.y_test, ds.y_test)
    other = load(name, n_samples=300, seed=1, test_fraction=0.25)
    assert not np.allclose(other.x_train, ds.x_train)


def test_synthetic_does_not_touch_global_random_state():
    np.random.seed(5)
    before = np.random.random()
    np.random.seed(5)
    load("blobs", n_samples=50)
    assert np.random.random() == before


def test_spiral_matches_cs231n_formula_at_noise_zero():
    n_per_class, k = 40, 3
    ds = load("spiral", n_samples=n_per_class * k, noise=0.0, classes=k, test_fraction=0.2)
    x = np.concatenate([ds.x_train, ds.x_test]).astype(np.float64)
    y = np.concatenate([ds.y_train, ds.y_test])
    m = n_per_class + 10  # train 40 + test 10 per class, drawn together
    for j in range(k):
        r = np.linspace(0.0, 1, m)  # CS231n: X = c_[r sin t, r cos t], t = linspace(4j, 4(j+1))
        t = np.linspace(j * 4, (j + 1) * 4, m)
        expected = np.c_[r * np.sin(t), r * np.cos(t)]
        pts = x[y == j]
        pts = pts[np.argsort(np.hypot(pts[:, 0], pts[:, 1]))]  # radius orders points along the arm
        np.testing.assert_allclose(pts, expected, atol=1e-6)
    np.testing.assert_allclose(expected[1], [np.sin(8 + 4 / 49) / 49, np.cos(8 + 4 / 49) / 49])


def test_moons_circles_xor_blobs_reference_geometry():
    moons = load("moons", n_samples=200, noise=0.0)
    outer = moons.x_train[moons.y_train == 0].astype(float)
    inner = moons.x_train[moons.y_train == 1].astype(float)
    np.testing.assert_allclose(np.hypot(*outer.T), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.hypot(inner[:, 0] - 1, inner[:, 1] - 0.5), 1.0, atol=1e-6)
    assert (outer[:, 1] >= -1e-6).all() and (inner[:, 1] <= 0.5 + 1e-6).all()

    circ = load("circles", n_samples=200, noise=0.0, factor=0.3)
    radius = np.hypot(*circ.x_train.astype(float).T)
    np.testing.assert_allclose(radius, np.where(circ.y_train == 0, 1.0, 0.3), atol=1e-6)

    xor = load("xor", n_samples=400, noise=0.0)
    x = xor.x_train
    np.testing.assert_array_equal(xor.y_train, (x[:, 0] > 0) ^ (x[:, 1] > 0))
    assert np.abs(x).max() <= 1.0

    blobs = load("blobs", n_samples=3000, noise=0.5, classes=3, n_features=4)
    assert blobs.x_train.shape == (3000, 4)
    for j in range(3):
        pts = blobs.x_train[blobs.y_train == j].astype(float)
        np.testing.assert_allclose(pts.std(axis=0), 0.5, rtol=0.1)
        assert np.abs(pts.mean(axis=0)).max() <= 5.1


def test_synthetic_config_check_rules():
    errors = []
    assert data.datasets.resolve({"name": "spiral", "n_samples": 2, "classes": 3}, "data", errors) is None
    assert "at least the number of classes" in errors[0]
    errors = []
    assert data.datasets.resolve({"name": "moons", "n_samples": 10, "test_fraction": 0.0}, "data", errors) is None
    assert "empty test set" in errors[0]


# ------------------------------------------------------------------ mnist1d


def _same_np_state(a, b):
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


SLOW_FIXTURES = ('mnist1d_cache',)  # made once for the module, in seconds: their tests are slow (conftest)


@pytest.fixture(scope="module")
def mnist1d_cache(tmp_path_factory):
    """Generate MNIST-1D once into a temporary cache; record the global random states around it."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NNLAB_CACHE", str(folder))
        np.random.seed(123)
        random.seed(456)
        before = (np.random.get_state(), random.getstate())
        ds = load("mnist1d", val_fraction=0.1, preprocess="standardize")
        after = (np.random.get_state(), random.getstate())
    return folder, ds, before, after


@pytest.mark.slow
def test_mnist1d_shapes_and_classes(mnist1d_cache):
    _, ds, _, _ = mnist1d_cache
    assert ds.x_train.shape == (3600, 40) and ds.x_val.shape == (400, 40) and ds.x_test.shape == (1000, 40)
    assert ds.n_classes == 10 and ds.n_features == 40
    np.testing.assert_array_equal(np.unique(ds.y_test), np.arange(10))


def test_mnist1d_restores_global_random_state(mnist1d_cache):
    _, _, before, after = mnist1d_cache
    assert _same_np_state(before[0], after[0])
    assert before[1] == after[1]


def test_mnist1d_cache_is_written_and_reused(mnist1d_cache, monkeypatch):
    folder, ds, _, _ = mnist1d_cache
    cache = folder / "mnist1d_v1.npz"
    assert cache.is_file()
    with np.load(cache) as z:
        assert z["x"].shape == (4000, 40) and z["x_test"].shape == (1000, 40)
    import mnist1d.data

    def boom(*a, **k):
        raise AssertionError("regenerated although the cache exists")

    monkeypatch.setattr(mnist1d.data, "make_dataset", boom)
    monkeypatch.setenv("NNLAB_CACHE", str(folder))
    again = load("mnist1d", val_fraction=0.1, preprocess="standardize")
    np.testing.assert_array_equal(again.x_train, ds.x_train)
    np.testing.assert_array_equal(again.y_test, ds.y_test)


def test_mnist1d_corrupt_cache_is_regenerated(mnist1d_cache, tmp_path, monkeypatch):
    import mnist1d.data

    (tmp_path / "mnist1d_v1.npz").write_bytes(b"not a zip file")
    rng = np.random.default_rng(0)
    fake = {"x": rng.normal(size=(20, 40)), "y": np.arange(20) % 10,
            "x_test": rng.normal(size=(10, 40)), "y_test": np.arange(10)}
    monkeypatch.setattr(mnist1d.data, "make_dataset", lambda args: fake)
    monkeypatch.setenv("NNLAB_CACHE", str(tmp_path))
    ds = load("mnist1d")
    assert ds.x_train.shape == (20, 40)
    with np.load(tmp_path / "mnist1d_v1.npz") as z:
        np.testing.assert_array_equal(z["x"], fake["x"])
    assert [p.name for p in tmp_path.iterdir()] == ["mnist1d_v1.npz"]  # no temp file left behind


def test_cache_dir_fallbacks(monkeypatch, tmp_path):
    monkeypatch.delenv("NNLAB_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert data.cache_dir() == tmp_path / "nnlab"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data.cache_dir() == tmp_path / ".cache" / "nnlab"


def test_path_option_belongs_to_file_sets_only():
    errors = []
    data.datasets.resolve({"name": "mnist1d", "path": "x.npz"}, "data", errors)
    assert len(errors) == 1 and "unknown option" in errors[0]
    errors = []
    data.datasets.resolve({"name": "npz"}, "data", errors)
    assert errors == ["data.path: missing required value"]


# ------------------------------------------------------------------ validation split


def test_stratified_validation_split_keeps_class_proportions(tmp_path):
    y = np.repeat([0, 1, 2], [60, 30, 10])
    x = np.c_[np.arange(100.0), y]
    p = write_npz(tmp_path / "d.npz", x=x, y=y, x_test=x[:3], y_test=y[:3])
    ds = load("npz", path=p, val_fraction=0.2)
    np.testing.assert_array_equal(np.bincount(ds.y_val), [12, 6, 2])
    np.testing.assert_array_equal(np.bincount(ds.y_train), [48, 24, 8])
    ids = np.concatenate([ds.x_train[:, 0], ds.x_val[:, 0]]).astype(int)
    np.testing.assert_array_equal(np.sort(ids), np.arange(100))
    np.testing.assert_array_equal(ds.x_val[:, 1], ds.y_val)


def test_regression_validation_split_sizes(tmp_path):
    x = np.arange(50.0)[:, None]
    # (targets with a fraction: whole-number floats would be class labels)
    p = write_npz(tmp_path / "r.npz", x=x, y=x[:, 0] * 2 + 0.5, x_test=x[:5], y_test=x[:5, 0] + 0.5)
    ds = load("npz", path=p, val_fraction=0.3)
    assert ds.task == "regression"
    assert len(ds.x_val) == 15 and len(ds.x_train) == 35
    np.testing.assert_array_equal(ds.y_val[:, 0], 2 * ds.x_val[:, 0] + 0.5)


# ------------------------------------------------------------------ preprocessing


@pytest.fixture
def correlated(tmp_path):
    rng = np.random.default_rng(0)
    mix = np.array([[2.0, 0.0, 0.0], [1.5, 0.5, 0.0], [0.3, -1.0, 3.0]])
    x = rng.normal(size=(400, 3)) @ mix + [5.0, -2.0, 1.0]
    y = rng.integers(0, 2, 400)
    xt = rng.normal(size=(100, 3)) @ mix + [5.0, -2.0, 1.0]
    return write_npz(tmp_path / "c.npz", x=x, y=y, x_test=xt, y_test=y[:100]), x, xt


def test_standardize_uses_training_split_only(correlated):
    p, x, xt = correlated
    ds = load("npz", path=p, val_fraction=0.25, preprocess={"name": "standardize"}, dtype="float64")
    np.testing.assert_allclose(ds.x_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(ds.x_train.std(axis=0), 1, atol=1e-12)
    assert np.abs(ds.x_test.mean(axis=0)).max() > 1e-3  # test statistics were not used
    assert np.abs(ds.x_val.mean(axis=0)).max() > 1e-3
    prep = ds.preprocessor
    np.testing.assert_allclose(ds.x_test, (xt - prep.mean) / prep.std)


def test_standardize_leaves_constant_feature_unscaled():
    x = np.c_[np.full(10, 0.1), np.arange(10.0)]
    out = preprocess.Standardize().fit(x).transform(x)
    np.testing.assert_allclose(out[:, 0], 0, atol=1e-12)
    np.testing.assert_allclose(out[:, 1].std(), 1)


def test_center_subtracts_train_mean():
    x = np.array([[1.0, 2.0], [3.0, 6.0]])
    np.testing.assert_array_equal(preprocess.Center().fit(x).transform([[0.0, 0.0]]), [[-2.0, -4.0]])


def test_pca_and_zca_whitening(correlated):
    p, x, _ = correlated
    pca = load("npz", path=p, preprocess={"name": "pca_whiten", "eps": 1e-8}, dtype="float64")
    zca = load("npz", path=p, preprocess={"name": "zca_whiten", "eps": 1e-8}, dtype="float64")
    cov_p = np.cov(pca.x_train, rowvar=False, bias=True)
    cov_z = np.cov(zca.x_train, rowvar=False, bias=True)
    np.testing.assert_allclose(cov_p, np.eye(3), atol=1e-6)
    np.testing.assert_allclose(cov_z, np.eye(3), atol=1e-6)
    U = zca.preprocessor.U
    np.testing.assert_allclose(zca.x_train, pca.x_train @ U.T, atol=1e-10)  # zca_i = U pca_i
    np.testing.assert_allclose(zca.x_test, pca.x_test @ U.T, atol=1e-10)
    # ZCA is the symmetric whitening matrix W = Cov^(-1/2): W x_c
    cov = np.cov(x, rowvar=False, bias=True)
    w, v = np.linalg.eigh(cov)
    W = v @ np.diag(1 / np.sqrt(w + 1e-8)) @ v.T
    np.testing.assert_allclose(zca.x_train, (x - x.mean(axis=0)) @ W, atol=1e-8)
    assert np.all(np.diff(pca.preprocessor.S) <= 0)  # principal directions largest first


def test_pca_eps_shrinks_low_variance_directions():
    x = np.random.default_rng(1).normal(size=(200, 2)) * [1.0, 1e-3]
    pca = preprocess.PCAWhiten(eps=1e-2).fit(x)
    var = pca.transform(x).var(axis=0)
    np.testing.assert_allclose(var, pca.S / (pca.S + 1e-2))  # whitened variance is S / (S + eps)
    assert pca.S[1] == pytest.approx(1e-6, rel=0.3) and var[1] < 1e-3  # not blown up to 1


def test_dtype_float32_default_and_float64(tmp_path):
    assert load("xor", n_samples=20).x_train.dtype == np.float32
    ds = load("xor", n_samples=20, dtype="float64")
    assert ds.x_train.dtype == np.float64 and ds.y_train.dtype == np.int64


# ------------------------------------------------------------------ errors


def test_error_missing_files(tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(DataError, match=r"nope\.npz: file not found"):
        load("npz", path=str(missing))
    with pytest.raises(DataError, match=r"nope\.csv: file not found"):
        load("csv", path=str(tmp_path / "nope.csv"))
    with pytest.raises(DataError, match=r"mnistdir: folder not found"):
        load("idx", path=str(tmp_path / "mnistdir"))
    with pytest.raises(DataError, match=r"is a folder"):
        load("npz", path=str(tmp_path))


def test_error_not_an_npz(tmp_path):
    p = tmp_path / "text.npz"
    p.write_text("hello,1\n")
    with pytest.raises(DataError, match=r"text\.npz: not a NumPy \.npz archive"):
        load("npz", path=str(p))
    q = tmp_path / "single.npz"
    with open(q, "wb") as fh:
        np.save(fh, np.zeros(3))
    with pytest.raises(DataError, match=r"single\.npz: holds a single \.npy array"):
        load("npz", path=str(q))


def test_error_missing_keys_lists_existing(tmp_path):
    p = write_npz(tmp_path / "k.npz", inputs=np.zeros((3, 2)), y=np.zeros(3, int))
    with pytest.raises(DataError, match=r"k\.npz: missing key x; the archive has keys inputs, y"):
        load("npz", path=p)
    p = write_npz(tmp_path / "t.npz", x=np.zeros((3, 2)), y=np.zeros(3, int), x_test=np.zeros((1, 2)))
    with pytest.raises(DataError, match=r"t\.npz: has x_test but no y_test"):
        load("npz", path=p)


@pytest.mark.parametrize("arrays,pattern", [
    ({"x": np.arange(4.0), "y": np.arange(4) % 2}, r"x must be 2-D \(samples, features\), got shape \(4,\)"),
    ({"x": np.zeros((5, 2)), "y": np.arange(4) % 2}, r"x has 5 rows but y has 4"),
    ({"x": np.zeros((3, 2)), "y": np.array(["cat", "dog", "cat"])}, r"labels y are not numbers.*'cat'"),
    ({"x": np.zeros((3, 2)), "y": np.array([0, -1, 1])}, r"y has 1 negative label \(smallest -1\)"),
    ({"x": np.zeros((0, 2)), "y": np.zeros(0, int)}, r"the training set is empty \(0 rows\)"),
    ({"x": np.zeros((3, 3)), "y": np.array([0, 1, 0])}, r"x_test has 2 features but x has 3"),
    ({"x": np.zeros((4, 2)), "y": np.array([0, 1, 0, 1]), "y_test": np.array([2, 0])},
     r"y_test has labels up to 2 but the training labels only go up to 1"),
    ({"x": np.zeros((2, 2)), "y": np.array([0, 0])}, r"every training label is 0; classification needs at least 2 classes"),
    ({"x": np.zeros((2, 2)), "y": np.array([0, 20000])}, r"labels go up to 20000.*floats for regression"),
    ({"x": np.zeros((2, 2)), "y": np.array([0, 1]), "y_test": np.array([0.5, 1.0])},
     r"y holds integer class labels but y_test holds float"),
])
def test_error_bad_arrays(tmp_path, arrays, pattern):
    arrays = {"x_test": np.zeros((2, 2)), "y_test": np.array([0, 1]), **arrays}
    p = write_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=r"bad\.npz: " + pattern):
        load("npz", path=p)


def test_error_nan_and_inf_counted(tmp_path):
    x = np.zeros((4, 2))
    x[0, 0], x[1, 1], x[1, 0] = np.nan, np.inf, np.nan
    p = write_npz(tmp_path / "n.npz", x=x, y=np.array([0, 1, 0, 1]), x_test=np.zeros((1, 2)), y_test=[0])
    with pytest.raises(DataError, match=r"n\.npz: x has 3 non-finite values \(2 NaN, 1 inf\) in 2 rows"):
        load("npz", path=p)
    p = write_npz(tmp_path / "m.npz", x=np.zeros((2, 2)), y=np.array([0, 1]),
                  x_test=np.array([[np.nan, 0.0]]), y_test=[0])
    with pytest.raises(DataError, match=r"m\.npz: x_test has 1 non-finite value \(1 NaN, 0 inf\)"):
        load("npz", path=p)


def test_error_object_labels_never_unpickled(tmp_path):
    p = tmp_path / "o.npz"
    np.savez(p, x=np.zeros((2, 2)), y=np.array([0, "a"], dtype=object))
    with pytest.raises(DataError, match=r"o\.npz: array 'y' holds Python objects"):
        load("npz", path=str(p))


def test_error_csv_non_numeric_cell_gives_line(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,b,label\n1,2,0\n3,4,1\n5,oops,0\n")
    with pytest.raises(DataError, match=r"d\.csv:4: column 2 \('b'\): cannot read 'oops' as a number"):
        load("csv", path=str(p))
    p.write_text("1,2,0\n3,4\n")
    with pytest.raises(DataError, match=r"d\.csv:2: has 2 columns, expected 3"):
        load("csv", path=str(p))
    p.write_text("")
    with pytest.raises(DataError, match=r"d\.csv: no rows"):
        load("csv", path=str(p))


@pytest.mark.parametrize("sep, name", [(";", "';'"), ("\t", "tabs"), ("|", "'|'"), (None, None)])
def test_error_csv_with_one_column_names_the_separator_it_seems_to_use(tmp_path, sep, name):
    p = tmp_path / "d.csv"
    p.write_text("x\n1\n2\n" if sep is None else sep.join(["a", "b", "label"]) + "\n" + sep.join("120") + "\n")
    with pytest.raises(DataError) as info:
        load("csv", path=str(p))
    hint = "" if sep is None else f" (its lines look separated by {name}; nnlab reads comma-separated values)"
    assert str(info.value) == f"{p}: has 1 column; expected input columns and a label column{hint}"


def test_error_idx_bad_magic_truncated_and_missing(tmp_path):
    imgs, labels, t_imgs, t_labels = mnist_like()
    folder = write_idx_folder(tmp_path / "m", imgs, labels, t_imgs, t_labels)
    f = folder / "train-images-idx3-ubyte"
    good = f.read_bytes()
    f.write_bytes(b"\x12\x34" + good[2:])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: bad IDX magic number 0x12340803"):
        load("idx", path=str(folder))
    f.write_bytes(good[:-5])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: truncated IDX file: the header says "
                                        r"shape \(12, 4, 3\) \(144 data bytes\) but 139 bytes follow"):
        load("idx", path=str(folder))
    f.write_bytes(gzip.compress(good)[:-10])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: cannot read"):
        load("idx", path=str(folder))
    f.unlink()
    with pytest.raises(DataError, match=r"m: no train-images-idx3-ubyte"):
        load("idx", path=str(folder))
    f.write_bytes(good)
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(t_labels[:4]))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte has 6 images but t10k-labels-idx1-ubyte has 4"):
        load("idx", path=str(folder))


def test_error_validation_split_empty(tmp_path):
    x = np.zeros((10, 2))
    p = write_npz(tmp_path / "v.npz", x=x, y=np.arange(10) % 2, x_test=x[:2], y_test=[0, 1])
    with pytest.raises(DataError, match=r"v\.npz: val_fraction 0.01 of 10 training samples gives an empty "
                                        r"validation set"):
        load("npz", path=p, val_fraction=0.01)
    q = write_npz(tmp_path / "w.npz", x=x[:1], y=[0.5], x_test=x[:1], y_test=[0.5])
    with pytest.raises(DataError, match=r"w\.npz: val_fraction 0.9 leaves the training split empty"):
        load("npz", path=q, val_fraction=0.9)


def test_error_names_synthetic_dataset():
    with pytest.raises(DataError, match=r"dataset 'moons': val_fraction 0.001 of 10 training samples"):
        load("moons", n_samples=10, val_fraction=0.001)


def test_error_empty_file_set(tmp_path):
    p = write_npz(tmp_path / "e.npz", x=np.zeros((0, 3)), y=np.zeros(0, int))
    with pytest.raises(DataError, match=r"e\.npz: the data set is empty \(0 rows\)"):
        load("npz", path=p)
    q = write_npz(tmp_path / "f.npz", x=np.zeros((2, 3)), y=np.array([0, 1]),
                  x_test=np.zeros((0, 3)), y_test=np.zeros(0, int))
    with pytest.raises(DataError, match=r"f\.npz: the test set is empty \(0 rows\)"):
        load("npz", path=q)


def test_error_split_test_needs_fraction(tmp_path):
    p = write_npz(tmp_path / "s.npz", x=np.zeros((4, 2)), y=np.array([0, 1, 0, 1]))
    with pytest.raises(DataError, match=r"s\.npz: has no separate test set and test_fraction is 0"):
        load("npz", path=p, test_fraction=0.0)


# ------------------------------------------------------------------ which task the labels make


def test_npz_whole_number_float_labels_are_classes(tmp_path):
    x = np.arange(24.0).reshape(12, 2)
    y = (np.arange(12) % 3).astype(np.float64)  # 0.0, 1.0, 2.0
    p = write_npz(tmp_path / "f.npz", x=x, y=y, x_test=x[:3], y_test=y[:3])
    ds = load("npz", path=p)
    assert ds.task == "classification" and ds.n_classes == 3 and ds.n_outputs == 3
    assert ds.y_train.dtype == np.int64
    np.testing.assert_array_equal(ds.y_train, np.arange(12) % 3)
    assert ds.task_reason == ("y holds whole numbers stored as floats, so this is classification with 3 classes "
                              "(0..2, cross-entropy)")
    # without a stored test set the split is stratified by those classes
    p = write_npz(tmp_path / "g.npz", x=x, y=y)
    ds = load("npz", path=p, test_fraction=0.25)
    np.testing.assert_array_equal(np.bincount(ds.y_test), [1, 1, 1])


def test_csv_labels_written_with_decimal_point_are_classes(tmp_path):
    lines = ["a,b,label"] + [f"{i},{2 * i},{i % 2}.0" for i in range(20)]
    p = tmp_path / "d.csv"
    p.write_text("\n".join(lines))
    ds = load("csv", path=str(p), test_fraction=0.2)
    assert ds.task == "classification" and ds.n_classes == 2
    np.testing.assert_array_equal(np.bincount(ds.y_test), [2, 2])
    np.testing.assert_array_equal(ds.y_train, ds.x_train[:, 0].astype(int) % 2)


def test_task_reason_for_regression_and_integer_labels(tmp_path):
    x = np.arange(10.0).reshape(5, 2)
    p = write_npz(tmp_path / "r.npz", x=x, y=np.array([0.5, 1, 2, 3, 4]), x_test=x[:2], y_test=np.array([1.0, 2]))
    ds = load("npz", path=p)
    assert ds.task == "regression"
    assert ds.task_reason == "y holds non-integer numbers (e.g. 0.5), so this is regression (mean squared error)"
    p = write_npz(tmp_path / "n.npz", x=x, y=np.array([-1.0, 1, 2, 3, 4]), x_test=x[:2], y_test=np.array([1.0, 2]))
    ds = load("npz", path=p)
    assert ds.task == "regression"
    assert ds.task_reason == ("y holds whole numbers but some are negative (smallest -1), so this is regression "
                              "(mean squared error)")
    p = write_npz(tmp_path / "i.npz", x=x, y=np.array([0, 1, 2, 0, 1]), x_test=x[:2], y_test=np.array([1, 2]))
    ds = load("npz", path=p)
    assert ds.task_reason == "y holds integer labels, so this is classification with 3 classes (0..2, cross-entropy)"
    # whole-number floats in y but fractions in y_test: regression for both
    p = write_npz(tmp_path / "m.npz", x=x, y=np.array([0.0, 1, 2, 0, 1]), x_test=x[:2], y_test=np.array([0.5, 2]))
    ds = load("npz", path=p)
    assert ds.task == "regression" and ds.y_test.dtype == np.float32
    assert ds.task_reason.startswith("y_test holds non-integer numbers (e.g. 0.5), so this is regression")


@pytest.mark.parametrize("y", [np.full(6, 3), np.full(6, 3.0), np.full(6, 1)])
def test_one_class_only_is_an_error(tmp_path, y):
    x = np.arange(12.0).reshape(6, 2)
    p = write_npz(tmp_path / "one.npz", x=x, y=y, x_test=x[:2], y_test=y[:2])
    with pytest.raises(DataError) as info:
        load("npz", path=p)
    assert info.value.lines == [f"{p}: every training label is {int(y[0])}; classification needs at least 2 "
                                "classes (labels 0..K-1)"]


def test_values_beyond_the_run_dtype_are_one_line_not_inf(tmp_path):
    """1e300 is a finite float64 that float32 turns into inf: before, such targets trained to an
    immediate 'diverged', and such inputs to NaN weights."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 3)), rng.standard_normal(40)
    p = tmp_path / "d.npz"
    np.savez(p, x=x, y=np.where(np.arange(40) == 3, 1e300, y))
    with pytest.raises(DataError) as info:
        load_dataset({"name": "npz", "path": str(p), "val_fraction": 0.0, "preprocess": "none"})
    assert str(info.value) == (f"{p}: regression targets reach |v| = 1e+300, beyond float32 (at most 3.4e+38); "
                               "scale them, or set dtype: float64")
    ds = load_dataset({"name": "npz", "path": str(p), "val_fraction": 0.0, "preprocess": "none"}, dtype="float64")
    assert max(ds.y_train.max(), ds.y_test.max()) == 1e300  # float64 holds it
    big = x.copy()
    big[5, 1] = -2e200
    np.savez(p, x=big, y=rng.integers(0, 2, 40))
    for pre, what in (("none", "inputs"), ("center", "inputs after data.preprocess center")):
        with pytest.raises(DataError) as info:
            load_dataset({"name": "npz", "path": str(p), "val_fraction": 0.0, "preprocess": pre})
        assert str(info.value).startswith(f"{p}: {what} reach |v| = ") and "beyond float32" in str(info.value)
    with pytest.raises(DataError) as info:
        load_dataset({"name": "npz", "path": str(p), "val_fraction": 0.0, "preprocess": "pca_whiten"})
    assert str(info.value) == (f"{p}: data.preprocess pca_whiten turns the inputs into NaN or inf (inputs up to "
                               "|v| = 2e+200 overflow its statistics); scale them first")
