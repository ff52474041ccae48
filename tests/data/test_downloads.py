"""Data sets by name (nnlab.data.download, nnlab.data.vision): the whole download path against a local HTTP
server on 127.0.0.1 serving small files in the real formats (gzipped IDX files, CIFAR-10's python tarball),
through data set entries whose checksums the tests compute: resumed after a cut, refused when the checksum
differs, atomic, a mirror, one line and no hang without network; the per-channel preprocessors."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import socket
import struct
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from nnlab import progress
from nnlab.data import datasets, load_dataset, preprocessors
from nnlab.data import vision
from nnlab.data.download import Remote, RemoteFile, fetch
from nnlab.errors import DataError

# ------------------------------------------------------------------ a small HTTP server with faults


class Handler(BaseHTTPRequestHandler):
    """Serves ``server.files`` (path -> bytes) with Range support; ``server.cut`` (path -> n): send only the
    first n bytes, once, then close; ``server.hang``: paths answered never; every request is logged."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server
        srv.log.append((self.path, self.headers.get("Range")))
        if self.path in srv.hang:
            time.sleep(srv.hang_seconds)
            return
        data = srv.files.get(self.path)
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and srv.ranges and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(data):
                self.send_error(416, "Range Not Satisfiable")
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = srv.cut.pop(self.path, None)
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.files, srv.cut, srv.hang, srv.log, srv.ranges, srv.hang_seconds = {}, {}, set(), [], True, 5.0
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NNLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NNLAB_DATA_MIRROR", raising=False)
    monkeypatch.setenv("NNLAB_DOWNLOAD_TIMEOUT", "5")
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "cache"


def md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


# ------------------------------------------------------------------ files in the real formats


def idx_gz(arr: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return gzip.compress(head + arr.astype(np.uint8).tobytes(), mtime=0)


def mnist_files(seed=0, n=20, n_test=10):
    rng = np.random.default_rng(seed)
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (n, 28, 28)),
              "train-labels-idx1-ubyte.gz": np.arange(n) % 10,
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28)),
              "t10k-labels-idx1-ubyte.gz": (np.arange(n_test) * 3) % 10}
    return {name: idx_gz(a) for name, a in arrays.items()}, arrays


def idx_remote(name, blobs, urls):
    return Remote(name, tuple(RemoteFile(f, md5(blobs[f])) for f in vision.IDX_NAMES), tuple(urls))


def cifar_tarball(seed=0, n=4, n_test=3):
    """A cifar-10-python.tar.gz in the real layout: cifar-10-batches-py/data_batch_1..5 and test_batch, each a
    pickle (protocol 2) of {b'data': (n, 3072) uint8 in channel planes, b'labels': [...]}, plus batches.meta."""
    rng = np.random.default_rng(seed)
    batches = {}
    for i in range(1, 6):
        batches[f"data_batch_{i}"] = {b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),
                                      b"labels": [int(v) for v in rng.integers(0, 10, n)], b"batch_label": b"x"}
    batches["test_batch"] = {b"data": rng.integers(0, 256, (n_test, 3072)).astype(np.uint8),
                             b"labels": [int(v) for v in rng.integers(0, 10, n_test)]}
    blobs = {f"cifar-10-batches-py/{k}": pickle.dumps(v, protocol=2) for k, v in batches.items()}
    blobs["cifar-10-batches-py/batches.meta"] = pickle.dumps({b"label_names": [b"airplane"]}, protocol=2)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in blobs.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    members = {k: md5(v) for k, v in blobs.items() if not k.endswith("meta")}
    return buf.getvalue(), batches, members


# ------------------------------------------------------------------ the whole path, by name


def test_mnist_by_name_downloads_checks_caches_and_reads_the_idx_files(server, monkeypatch, cache):
    blobs, arrays = mnist_files()
    for f, b in blobs.items():
        server.files[f"/mnist/{f}"] = b
    monkeypatch.setitem(vision.REMOTES, "mnist", idx_remote("mnist", blobs, [server.url + "/mnist/"]))
    ds = load_dataset({"name": "mnist", "val_fraction": 0, "preprocess": "none"})
    assert ds.x_train.shape == (20, 784) and ds.x_test.shape == (10, 784) and ds.n_classes == 10
    np.testing.assert_allclose(ds.x_train, (arrays["train-images-idx3-ubyte.gz"].reshape(20, 784) / 255.0)
                               .astype(np.float32))
    assert list(ds.y_test) == [0, 3, 6, 9, 2, 5, 8, 1, 4, 7]
    assert sorted(os.listdir(cache / "mnist")) == [".lock", *sorted(vision.IDX_NAMES)]  # no .part left
    assert (cache / "mnist" / "train-images-idx3-ubyte.gz").read_bytes() == blobs["train-images-idx3-ubyte.gz"]
    n = len(server.log)
    again = load_dataset({"name": "mnist", "val_fraction": 0, "preprocess": "none"})
    assert len(server.log) == n  # the cache: nothing downloaded the second time
    np.testing.assert_array_equal(again.x_train, ds.x_train)


def test_cifar10_by_name_reads_the_python_tarball_as_hwc_rows(server, monkeypatch, cache):
    tarball, batches, members = cifar_tarball()
    server.files["/kriz/cifar-10-python.tar.gz"] = tarball
    monkeypatch.setitem(vision.REMOTES, "cifar10", Remote(
        "cifar10", (RemoteFile("cifar-10-python.tar.gz", md5(tarball), members),), (server.url + "/kriz/",)))
    raw = datasets.build({"name": "cifar10"})
    assert raw.x.shape == (20, 3072) and raw.x_test.shape == (3, 3072)
    first = batches["data_batch_1"][b"data"][0]  # channel planes: R[1024], G[1024], B[1024], row-major 32x32
    # row 5, column 7, channel 2 (blue) sits at 3 * (32 * 5 + 7) + 2 in the HWC row
    assert raw.x[0, 3 * (32 * 5 + 7) + 2] == first[2 * 1024 + 32 * 5 + 7] / 255.0
    assert raw.x[0, 0] == first[0] / 255.0 and raw.x[0, 1] == first[1024] / 255.0
    assert list(raw.y[:4]) == batches["data_batch_1"][b"labels"]
    assert list(raw.y_test) == batches["test_batch"][b"labels"]


def test_a_cut_download_is_resumed_and_never_trusted_half(server, monkeypatch, cache):
    blobs, _ = mnist_files(n=200)
    big = "train-images-idx3-ubyte.gz"
    for f, b in blobs.items():
        server.files[f"/m/{f}"] = b
    half = len(blobs[big]) // 2
    server.cut[f"/m/{big}"] = half
    remote = idx_remote("mnist", blobs, [server.url + "/m/"])
    with pytest.raises(DataError) as exc:
        fetch(remote)
    line = str(exc.value)
    assert "\n" not in line and f"{server.url}/m/{big}" in line and "run again to resume" in line
    assert not (cache / "mnist" / big).exists()  # the half file is never where a reader looks
    assert (cache / "mnist" / f".{big}.part").stat().st_size == half
    paths = fetch(remote)
    assert paths[big].read_bytes() == blobs[big]
    assert (f"/m/{big}", f"bytes={half}-") in server.log  # continued where it stopped
    assert not (cache / "mnist" / f".{big}.part").exists()


def test_a_server_that_cannot_resume_sends_the_whole_file_again(server, cache):
    blobs, _ = mnist_files()
    for f, b in blobs.items():
        server.files[f"/m/{f}"] = b
    server.ranges = False
    (cache / "mnist").mkdir(parents=True)
    part = cache / "mnist" / ".train-images-idx3-ubyte.gz.part"
    part.write_bytes(blobs["train-images-idx3-ubyte.gz"][:50])
    paths = fetch(idx_remote("mnist", blobs, [server.url + "/m/"]))
    assert paths["train-images-idx3-ubyte.gz"].read_bytes() == blobs["train-images-idx3-ubyte.gz"]


def test_a_downloaded_file_whose_checksum_differs_is_refused_and_removed(server, cache):
    blobs, _ = mnist_files()
    for f, b in blobs.items():
        server.files[f"/m/{f}"] = b
    wrong = dict(blobs, **{"t10k-labels-idx1-ubyte.gz": b"other bytes"})
    with pytest.raises(DataError) as exc:
        fetch(idx_remote("mnist", wrong, [server.url + "/m/"]))
    line = str(exc.value)
    got = hashlib.md5(blobs["t10k-labels-idx1-ubyte.gz"]).hexdigest()
    want = hashlib.md5(b"other bytes").hexdigest()
    assert f"its md5 is {got}, not the published {want}" in line and "\n" not in line
    assert not (cache / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()
    assert not (cache / "mnist" / ".t10k-labels-idx1-ubyte.gz.part").exists()


def test_a_cached_file_whose_checksum_differs_is_refused_with_both_checksums(server, cache):
    blobs, _ = mnist_files()
    remote = idx_remote("mnist", blobs, [server.url + "/nothing-here/"])
    (cache / "mnist").mkdir(parents=True)
    for f, b in blobs.items():
        (cache / "mnist" / f).write_bytes(b)
    (cache / "mnist" / "train-labels-idx1-ubyte.gz").write_bytes(b"tampered")
    with pytest.raises(DataError) as exc:
        fetch(remote)
    line = str(exc.value)
    assert line.startswith(f"{cache / 'mnist' / 'train-labels-idx1-ubyte.gz'}: its md5 is "
                           f"{hashlib.md5(b'tampered').hexdigest()}, not the published "
                           f"{hashlib.md5(blobs['train-labels-idx1-ubyte.gz']).hexdigest()}")
    assert (cache / "mnist" / "train-labels-idx1-ubyte.gz").read_bytes() == b"tampered"  # not ours to delete
    assert server.log == []  # files placed by hand: nothing downloaded


def test_files_placed_by_hand_are_used_without_network(cache):
    blobs, arrays = mnist_files()
    (cache / "kmnist").mkdir(parents=True)
    for f, b in blobs.items():
        (cache / "kmnist" / f).write_bytes(b)
    remote = idx_remote("kmnist", blobs, ["http://127.0.0.1:9/"])  # nothing listens on port 9
    paths = fetch(remote)
    assert [p.name for p in paths.values()] == list(vision.IDX_NAMES)


def test_the_mirror_is_tried_first_and_a_folder_works_too(server, monkeypatch, cache, tmp_path):
    blobs, _ = mnist_files()
    for f, b in blobs.items():
        server.files[f"/mirror/fashion_mnist/{f}"] = b
    remote = idx_remote("fashion_mnist", blobs, ["http://127.0.0.1:9/official/"])
    monkeypatch.setenv("NNLAB_DATA_MIRROR", server.url + "/mirror")
    fetch(remote)
    assert {p for p, _ in server.log} == {f"/mirror/fashion_mnist/{f}" for f in blobs}
    folder = tmp_path / "copy" / "fashion_mnist"  # a folder as the mirror (a shared drive)
    folder.mkdir(parents=True)
    for f, b in blobs.items():
        (folder / f).write_bytes(b)
    monkeypatch.setenv("NNLAB_CACHE", str(tmp_path / "cache2"))
    monkeypatch.setenv("NNLAB_DATA_MIRROR", str(tmp_path / "copy"))
    paths = fetch(remote)
    assert paths["t10k-images-idx3-ubyte.gz"].read_bytes() == blobs["t10k-images-idx3-ubyte.gz"]


def test_a_failed_mirror_falls_back_to_the_official_location_and_the_line_names_the_mirror(server, monkeypatch):
    blobs, _ = mnist_files()
    for f, b in blobs.items():
        server.files[f"/official/{f}"] = b
    monkeypatch.setenv("NNLAB_DATA_MIRROR", "http://127.0.0.1:9/mirror")
    fetch(idx_remote("mnist", blobs, [server.url + "/official/"]))
    server.files.clear()
    monkeypatch.setenv("NNLAB_CACHE", os.environ["NNLAB_CACHE"] + "-2")
    with pytest.raises(DataError) as exc:
        fetch(idx_remote("mnist", blobs, [server.url + "/official/"]))
    assert "cannot download http://127.0.0.1:9/mirror/mnist/train-images-idx3-ubyte.gz (and 1 other " \
           "location)" in str(exc.value)


def test_a_server_that_never_answers_times_out_in_one_line(server, monkeypatch):
    blobs, _ = mnist_files()
    server.hang.add("/slow/train-images-idx3-ubyte.gz")
    server.hang_seconds = 3
    monkeypatch.setenv("NNLAB_DOWNLOAD_TIMEOUT", "0.3")
    t0 = time.monotonic()
    with pytest.raises(DataError) as exc:
        fetch(idx_remote("mnist", blobs, [server.url + "/slow/"]))
    assert time.monotonic() - t0 < 2.0
    assert "timed out" in str(exc.value) and "\n" not in str(exc.value)


def test_without_network_the_official_download_fails_at_once_with_the_line(monkeypatch):
    """The real table (yann.lecun.com, the S3 mirror): on a machine without network (CI, these machines) the
    download fails at once, one line naming the URL, the reason and how to place the files by hand."""
    try:
        socket.getaddrinfo("yann.lecun.com", 80)
        pytest.skip("this machine reaches the network: the official download would really run")
    except OSError:
        pass
    t0 = time.monotonic()
    with pytest.raises(DataError) as exc:
        load_dataset({"name": "mnist"})
    assert time.monotonic() - t0 < 15  # two host names, each looked up within NNLAB_DOWNLOAD_TIMEOUT
    line = str(exc.value)
    assert "\n" not in line
    assert line.startswith("dataset 'mnist': cannot download "
                           "http://yann.lecun.com/exdb/mnist/train-images-idx3-ubyte.gz (and 1 other location): "
                           "cannot look up yann.lecun.com")
    assert "Place the files by hand" in line and "md5 f68b3c2dcbeaaa9fbdd348bbdeb94873" in line
    assert "docs/datasets.md" in line and "NNLAB_DATA_MIRROR" in line


def test_a_bad_timeout_setting_is_one_line(monkeypatch):
    monkeypatch.setenv("NNLAB_DOWNLOAD_TIMEOUT", "soon")
    with pytest.raises(DataError, match="NNLAB_DOWNLOAD_TIMEOUT: must be a number of seconds > 0, got 'soon'"):
        load_dataset({"name": "kmnist"})


def test_progress_is_reported_to_the_reporter_in_bytes(server, monkeypatch):
    blobs, _ = mnist_files()
    for f, b in blobs.items():
        server.files[f"/m/{f}"] = b
    seen = []

    class Bar:
        def __init__(self, description, total):
            self.entry = [description, total, 0, None]
            seen.append(self.entry)

        def advance(self, n):
            self.entry[2] += n

        def close(self, ok=True):
            self.entry[3] = ok

    with progress.reporting(Bar):
        fetch(idx_remote("mnist", blobs, [server.url + "/m/"]))
    assert seen == [[f"downloading {f}", len(b), len(b), True] for f, b in blobs.items()]


def test_cifar_batches_are_read_with_an_unpickler_that_builds_no_code(server, monkeypatch):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    buf = io.BytesIO()
    data = pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2)
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in ("data_batch_1", "test_batch"):
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    tarball = buf.getvalue()
    server.files["/c/cifar-10-python.tar.gz"] = tarball
    members = {f"cifar-10-batches-py/{n}": md5(data) for n in ("data_batch_1", "test_batch")}
    monkeypatch.setitem(vision.REMOTES, "cifar10", Remote(
        "cifar10", (RemoteFile("cifar-10-python.tar.gz", md5(tarball), members),), (server.url + "/c/",)))
    with pytest.raises(DataError, match=r"not a CIFAR-10 batch \(refused to build posix.system"):
        datasets.build({"name": "cifar10"})


def test_a_cifar_batch_other_than_the_published_one_is_refused(server, monkeypatch):
    tarball, _, members = cifar_tarball()
    server.files["/c/cifar-10-python.tar.gz"] = tarball
    members = dict(members, **{"cifar-10-batches-py/test_batch": "md5:" + "0" * 32})
    monkeypatch.setitem(vision.REMOTES, "cifar10", Remote(
        "cifar10", (RemoteFile("cifar-10-python.tar.gz", md5(tarball), members),), (server.url + "/c/",)))
    with pytest.raises(DataError, match="test_batch is not the published batch"):
        datasets.build({"name": "cifar10"})


def test_the_published_table_is_torchvisions():
    r = vision.REMOTES
    assert r["cifar10"].files[0].checksum == "md5:c58f30108f718f92721af3b95e74349a"
    assert r["cifar10"].urls == ("https://www.cs.toronto.edu/~kriz/",)
    assert [f.checksum for f in r["mnist"].files][0] == "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert r["fashion_mnist"].urls == ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
    assert r["kmnist"].urls == ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",)
    assert all(len(f.checksum) == 36 for remote in r.values() for f in remote.files)


# ------------------------------------------------------------------ the per-channel preprocessors


def test_channel_center_and_standardize_use_each_channels_statistics():
    x = np.array([[0.0, 10.0, 100.0, 2.0, 30.0, 300.0],  # two pixels of three channels per row
                  [4.0, 50.0, 500.0, 6.0, 70.0, 700.0]])
    c = preprocessors.build({"name": "channel_center", "channels": 3}).fit(x)
    np.testing.assert_allclose(c.mean, [3.0, 40.0, 400.0])  # each channel over both pixels and both rows
    np.testing.assert_allclose(c.transform(x)[0], [-3.0, -30.0, -300.0, -1.0, -10.0, -100.0])
    s = preprocessors.build({"name": "channel_standardize", "channels": 3}).fit(x)
    std = np.array([np.std([0, 2, 4, 6]), np.std([10, 30, 50, 70]), np.std([100, 300, 500, 700])])
    np.testing.assert_allclose(s.std, std)
    out = s.transform(x)
    np.testing.assert_allclose(out.reshape(-1, 3).mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.reshape(-1, 3).std(axis=0), 1)
    np.testing.assert_allclose(out[1, 5], (700 - 400) / std[2])


def test_channels_that_do_not_divide_the_features_are_one_line():
    with pytest.raises(DataError, match="5 features are not whole pixels of 3 channels; set channels to a divisor"):
        preprocessors.build({"name": "channel_center"}).fit(np.zeros((2, 5)))


# ------------------------------------------------------------------ through the command line


@pytest.mark.slow
def test_nnlab_train_downloads_with_a_line_per_file_when_piped(server, monkeypatch, tmp_path):
    from helpers import invoke

    blobs, _ = mnist_files(n=40, n_test=10)
    for f, b in blobs.items():
        server.files[f"/m/{f}"] = b
    monkeypatch.setitem(vision.REMOTES, "mnist", idx_remote("mnist", blobs, [server.url + "/m/"]))
    cfg = tmp_path / "m.yaml"
    cfg.write_text("data: {name: mnist, val_fraction: 0.25}\nmodel: {hidden: [8]}\ntrain: {epochs: 2}\n")
    r = invoke("train", cfg, "--runs-dir", tmp_path / "runs", "--quiet")
    assert r.exit_code == 0, r.stderr
    size = len(blobs["train-images-idx3-ubyte.gz"])
    assert f"downloading train-images-idx3-ubyte.gz ({size / 1024:.3g} KiB) ..." in r.stderr.splitlines()
    assert f"downloading train-images-idx3-ubyte.gz: {size / 1024:.3g} KiB done" in r.stderr.splitlines()


def test_nnlab_train_without_network_is_one_line_and_exit_2(monkeypatch, tmp_path):
    from helpers import invoke

    blobs, _ = mnist_files()
    monkeypatch.setitem(vision.REMOTES, "cifar10", Remote(
        "cifar10", (RemoteFile("cifar-10-python.tar.gz", "md5:" + "0" * 32),), ("http://127.0.0.1:9/kriz/",)))
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data: {name: cifar10}\n")
    r = invoke("train", cfg, "--runs-dir", tmp_path / "runs")
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert lines[0].startswith(f"error: {cfg}: dataset 'cifar10': cannot download "
                               "http://127.0.0.1:9/kriz/cifar-10-python.tar.gz: ")
    assert not (tmp_path / "runs").exists()  # nothing written before the data are there
