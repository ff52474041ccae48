"""The course data sets by name: MNIST, Fashion-MNIST, KMNIST and CIFAR-10, downloaded on first use.

Each is downloaded from its publisher's locations (as torchvision lists them) with the published
checksums, into the cache (nnlab.data.download), and read from there: the MNIST-format sets with the
IDX reader (nnlab.data.formats.idx: 28x28 images as rows of 784 pixels in [0, 1]), CIFAR-10 from the
python version of its archive: 32x32 colour images as rows of 3072 values in [0, 1], pixel by pixel
with the three channels of each pixel together (height, width, channel: the layout of
torchvision's and Keras' arrays), so the per-channel preprocessors (``channel_center``,
``channel_standardize``) take every third value as one channel.

CIFAR-10's batches are Python pickles: they are read only after the archive's checksum (and each
batch's own) matched the published one, and with an unpickler that builds nothing but plain data and
numpy arrays, so even a forged file can run no code.
"""

from __future__ import annotations

import io
import pickle
import tarfile
import zlib

import numpy as np

from nnlab import files
from nnlab.data.download import Remote, RemoteFile, bytes_match, fetch, split_checksum
from nnlab.data.formats import read_idx_set
from nnlab.data.splits import RawData
from nnlab.errors import DataError

NUMPY_2 = int(np.__version__.split(".")[0]) >= 2
IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")


def _idx_remote(name: str, md5s: tuple, urls: tuple, home: str, licence: str) -> Remote:
    return Remote(name, tuple(RemoteFile(f, f"md5:{m}") for f, m in zip(IDX_NAMES, md5s)), urls, home, licence)


# The published files and checksums, as torchvision's datasets list them (MNIST, FashionMNIST, KMNIST,
# CIFAR10); tests replace an entry with files of their own (the loaders look them up here when they run).
REMOTES: dict[str, Remote] = {
    "mnist": _idx_remote(
        "mnist", ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                  "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
        ("http://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"),
        "http://yann.lecun.com/exdb/mnist/", "CC BY-SA 3.0 (Yann LeCun and Corinna Cortes)"),
    "fashion_mnist": _idx_remote(
        "fashion_mnist", ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                          "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        "https://github.com/zalandoresearch/fashion-mnist", "MIT (Zalando SE)"),
    "kmnist": _idx_remote(
        "kmnist", ("bdb82020997e1d708af4cf47b453dcf7", "e144d726b3acfaa3e44228e80efcd344",
                   "5c965bf0a639b31b8f53240b1b52f4d7", "7320c461ea6c1c855c0b718fb2a4b134"),
        ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        "https://github.com/rois-codh/kmnist", "CC BY-SA 4.0 (ROIS-DS Center for Open Data in the Humanities)"),
    "cifar10": Remote(
        "cifar10",
        (RemoteFile("cifar-10-python.tar.gz", "md5:c58f30108f718f92721af3b95e74349a", {
            "cifar-10-batches-py/data_batch_1": "md5:c99cafc152244af753f735de768cd75f",
            "cifar-10-batches-py/data_batch_2": "md5:d4bba439e000b95fd0a9bffe97cbabec",
            "cifar-10-batches-py/data_batch_3": "md5:54ebc095f3ab1f0389bbae665268c751",
            "cifar-10-batches-py/data_batch_4": "md5:634d18415352ddfa80567beed471001a",
            "cifar-10-batches-py/data_batch_5": "md5:482c414d41f54cd18b22e5b47cb7c3cb",
            "cifar-10-batches-py/test_batch": "md5:40351d587109b95175f43aff81a1287e"}),),
        ("https://www.cs.toronto.edu/~kriz/",),
        "https://www.cs.toronto.edu/~kriz/cifar.html", "no licence stated; cite Krizhevsky (2009)"),
}


def _idx_set(name: str) -> RawData:
    paths = list(fetch(REMOTES[name]).values())  # in IDX_NAMES' order: x, y, x_test, y_test
    return read_idx_set(dict(zip(("x", "y", "x_test", "y_test"), paths)).__getitem__, paths[0].parent)


def mnist() -> RawData:
    """MNIST: 28x28 handwritten digits, 60000 train / 10000 test, downloaded once (LeCun et al. 1998).

    The four IDX files from yann.lecun.com's list (torchvision's mirrors), md5-checked and cached in
    cache_dir()/mnist; images as rows of 784 pixels / 255.
    """
    return _idx_set("mnist")


def fashion_mnist() -> RawData:
    """Fashion-MNIST: 28x28 clothing images in 10 classes, 60000 / 10000, downloaded once (Xiao et al. 2017).

    MNIST's format and sizes; the four IDX files from Zalando's S3 site, md5-checked and cached in
    cache_dir()/fashion_mnist; images as rows of 784 pixels / 255.
    """
    return _idx_set("fashion_mnist")


def kmnist() -> RawData:
    """Kuzushiji-MNIST: 28x28 cursive Japanese characters in 10 classes, 60000 / 10000 (Clanuwat et al. 2018).

    MNIST's format and sizes; the four IDX files from codh.rois.ac.jp, md5-checked and cached in
    cache_dir()/kmnist; images as rows of 784 pixels / 255.
    """
    return _idx_set("kmnist")


def cifar10() -> RawData:
    """CIFAR-10: 32x32 colour images in 10 classes, 50000 train / 10000 test, downloaded once (Krizhevsky 2009).

    The python version of the archive (cifar-10-python.tar.gz, md5-checked, each batch too), cached in
    cache_dir()/cifar10; images as rows of 3072 values / 255, pixel by pixel in (height, width, channel)
    order: x[:, 3 * (32 * row + column) + channel], channels red, green, blue.
    """
    remote = REMOTES["cifar10"]
    (path,) = fetch(remote).values()
    return read_cifar(path, remote.files[0])


def read_cifar(path, published: RemoteFile) -> RawData:
    """The training batches and the test batch of a CIFAR-10 python archive, as (n, 3072) rows in HWC order."""
    batches = {}
    try:
        with files.open_regular_file(path, files.data_max_bytes(), "the CIFAR-10 archive", DataError) as f, \
                tarfile.open(fileobj=f, mode="r:gz") as tar:
            for member in tar:
                if member.name in published.members and member.isfile():
                    batches[member.name] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read the archive ({exc}); delete it and nnlab downloads it again") from None
    xs, ys, x_test, y_test = [], [], None, None
    for name in sorted(published.members):
        if name not in batches:
            raise DataError(f"{path}: has no {name}; expected the python version of CIFAR-10 "
                            "(cifar-10-python.tar.gz)")
        data = batches[name]
        if not bytes_match(data, published.members[name]):
            algorithm, want = split_checksum(published.members[name])
            raise DataError(f"{path}: {name} is not the published batch ({algorithm} {want}); delete the archive "
                            "and nnlab downloads it again")
        x, y = _batch(data, f"{path}: {name}")
        if name.endswith("test_batch"):
            x_test, y_test = x, y
        else:
            xs.append(x)
            ys.append(y)
    if x_test is None or not xs:
        raise DataError(f"{path}: expected training batches and a test_batch")
    return RawData(np.concatenate(xs), np.concatenate(ys), x_test, y_test)


def _batch(data: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch: {b'data': (n, 3072) uint8 in channel planes, b'labels': [n ints]} -> HWC rows / 255."""
    try:
        d = PlainUnpickler(io.BytesIO(data), encoding="latin1").load()  # arrays pickled by Python 2
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise DataError(f"{where}: not a CIFAR-10 batch ({exc})") from None
    if not isinstance(d, dict):
        raise DataError(f"{where}: not a CIFAR-10 batch (a {type(d).__name__}, not a mapping)")
    d = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in d.items()}
    x, y = np.asarray(d.get("data")), np.asarray(d.get("labels"))
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072 or y.shape != (len(x),) or y.dtype.kind not in "iu":
        raise DataError(f"{where}: expected data (n, 3072) uint8 and n integer labels, got data {x.dtype} "
                        f"{x.shape} and labels {y.dtype} {y.shape}")
    hwc = x.reshape(len(x), 3, 32, 32).transpose(0, 2, 3, 1).reshape(len(x), 3072)
    return hwc / 255.0, y.astype(np.int64)


class PlainUnpickler(pickle.Unpickler):
    """An unpickler that builds plain data and numpy arrays only: any other class or function is refused."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            if module.startswith("numpy.core.") and NUMPY_2:  # numpy 2 moved it (numpy.core warns)
                module = "numpy._core." + module.split(".", 2)[2]
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to build {module}.{name} (only plain data and arrays are read)")
