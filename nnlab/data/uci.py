"""Three small real data sets from the UCI Machine Learning Repository, shipped with nnlab: wine,
breast_cancer and digits.

They load offline and without scikit-learn: nnlab/data/files/<name>.npz holds the numbers of
scikit-learn's bundled copy of each set (``tools/vendor_uci.py`` wrote them and checks them against
scikit-learn), stored exactly (column j as the integers x * 10**decimals[j]).  The data sets are
licensed CC BY 4.0 by the UCI Machine Learning Repository; their sources are in
nnlab/data/files/README.md.  Reading a file is bounded (a regular file of at most 1 MiB that unpacks
to at most 4 MiB, never unpickled) and checked against a sha256 of its arrays, so a damaged or missing
file is one DataError line, never a traceback or wrong numbers.
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from pathlib import Path
from typing import Annotated

import numpy as np

from nnlab import files
from nnlab.data.splits import RawData, holdout_mask, round_half_up
from nnlab.errors import DataError
from nnlab.options import Gt, Lt, NonNegativeInt

FILES_DIR = Path(__file__).resolve().parent / "files"
VENDORED_MAX_BYTES = 1 << 20  # the files are 5 to 46 KB
VENDORED_MAX_UNPACKED = 4 << 20  # and unpack to at most 270 KB

# name -> (rows, features, classes, sha256 of x as little-endian float64 followed by y as little-endian
# int64, the numbers as stored in the UCI files: digits' pixels 0..16 before the loader scales them)
VENDORED = {
    "wine": (178, 13, 3, "3a28849ef2366c4b9d4e382b3fa5624a66f693c04d7fdcf43c529bbb0bb338d7"),
    "breast_cancer": (569, 30, 2, "25e2eb7b7a8745b1bde5ba18bc4969983d2e2f403291ecd5bde4a29ef30c3859"),
    "digits": (1797, 64, 10, "f6d9e39f37dc45d327f6db33428ee58970ccceabb2535a5c179de35886b70443"),
}

# A test set of these small sets must hold a sample: test_fraction > 0 (checked against the size below).
TestFraction = Annotated[float, Gt(0), Lt(1)]


def arrays_sha256(x: np.ndarray, y: np.ndarray) -> str:
    """The checksum VENDORED keeps: x as little-endian float64 bytes, then y as little-endian int64."""
    return hashlib.sha256(np.ascontiguousarray(x, "<f8").tobytes() + np.ascontiguousarray(y, "<i8").tobytes()
                          ).hexdigest()


def read_vendored(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The whole vendored set ``name`` as stored by UCI: (x float64 (n, d), y int64 (n,)), checked.

    Raises DataError (one line) when the file is missing, not a regular file, too large, not an
    .npz archive of the expected arrays, or when its numbers differ from the ones shipped (sha256).
    """
    n, d, _, digest = VENDORED[name]
    path = FILES_DIR / f"{name}.npz"
    what = f"nnlab's copy of the UCI {name} data (an .npz archive)"

    def refused(message: str) -> DataError:
        return DataError(f"dataset '{name}': {message}; this nnlab installation is damaged, reinstall nnlab "
                         "(pip install --force-reinstall nnlab) or restore the file from nnlab's repository")

    def damaged(problem: str) -> DataError:
        return refused(f"{path}: {problem}")

    try:  # a folder, FIFO or device is refused before it is read; so is a file over VENDORED_MAX_BYTES
        f = files.open_regular_file(path, VENDORED_MAX_BYTES, what, refused)
    except FileNotFoundError:
        raise damaged("file not found") from None
    try:
        with f, np.load(f, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise damaged("a single .npy array, not an .npz archive")
            unpacked = sum(info.file_size for info in archive.zip.infolist())
            if unpacked > VENDORED_MAX_UNPACKED:
                raise damaged(f"its arrays unpack to {files.size_text(unpacked)}, more than the "
                              f"{files.size_text(VENDORED_MAX_UNPACKED)} nnlab's copy takes")
            missing = sorted({"x", "decimals", "y"} - set(archive.files))
            if missing:
                raise damaged(f"no array {', '.join(missing)} (it has {', '.join(archive.files) or 'none'})")
            stored, decimals, labels = archive["x"], archive["decimals"], archive["y"]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise damaged(f"cannot be read as an .npz archive ({type(exc).__name__}: {exc})") from None
    if stored.shape != (n, d) or decimals.shape != (d,) or labels.shape != (n,) or \
            stored.dtype.kind not in "iu" or decimals.dtype.kind not in "iu" or labels.dtype.kind not in "iu":
        raise damaged(f"arrays x {stored.dtype}{stored.shape}, decimals {decimals.dtype}{decimals.shape}, "
                      f"y {labels.dtype}{labels.shape}; expected integers shaped ({n}, {d}), ({d},), ({n},)")
    if decimals.min() < 0 or decimals.max() > 15:
        raise damaged(f"decimals must be 0..15, got {decimals.min()}..{decimals.max()}")
    # an integer over a power of ten is rounded once: bit for bit what float() makes of the decimal text
    x = stored / 10.0 ** decimals.astype(np.int64)
    y = labels.astype(np.int64)
    if arrays_sha256(x, y) != digest:
        raise damaged(f"its numbers differ from the ones nnlab shipped (sha256 {arrays_sha256(x, y)[:12]}..., "
                      f"expected {digest[:12]}...)")
    return x, y


def check_test_fraction(name: str):
    """A config-time check for set ``name``: its test_fraction must hold out at least one sample."""
    n = VENDORED[name][0]

    def check(options: dict) -> None:
        if round_half_up(n * options["test_fraction"]) < 1:
            raise ValueError(f"test_fraction {options['test_fraction']} of the {n} samples gives an empty test "
                             f"set; use at least {0.5 / n:.3g}")
    return check


def split_vendored(name: str, x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int) -> RawData:
    """A class-stratified random test split (default_rng(seed), as the csv and npz loaders), rows shuffled.

    Each class gives round(count * test_fraction) test rows (largest remainders make up the total) and
    keeps at least one training row; both splits are shuffled so the rows are not ordered by class as
    in the UCI files.
    """
    rng = np.random.default_rng(seed)
    is_test = holdout_mask(y, test_fraction, rng, stratify=True)
    train = rng.permutation(np.flatnonzero(~is_test))
    test = rng.permutation(np.flatnonzero(is_test))
    return RawData(x[train], y[train], x[test], y[test])


def wine(*, test_fraction: TestFraction = 0.25, seed: NonNegativeInt = 0) -> RawData:
    """UCI Wine: 178 wines, 3 cultivars, 13 chemical measurements in very different units (proline ~750, hue ~1).

    The 13 constituents of wines grown in one region of Italy by three cultivators (Aeberhard & Forina,
    1991; classes of 59, 71 and 48): alcohol (~13 %), malic acid, ash, alcalinity of ash, magnesium
    (~100 mg), total phenols, flavanoids, nonflavanoid phenols, proanthocyanins, colour intensity, hue
    (~1), OD280/OD315 of diluted wines and proline (~750).  The features' means and standard deviations
    differ by factors of about 2000, which is what input standardization is for.  Values as UCI stores
    them; a stratified random test_fraction (default_rng(seed)) is the test set.  CC BY 4.0.
    """
    return split_vendored("wine", *read_vendored("wine"), test_fraction, seed)


def breast_cancer(*, test_fraction: TestFraction = 0.25, seed: NonNegativeInt = 0) -> RawData:
    """UCI Breast Cancer Wisconsin (Diagnostic): 569 tumours, 30 features (areas ~500-2500, smoothness ~0.1).

    Ten measurements of the cell nuclei in a digitized image of a fine needle aspirate (radius, texture,
    perimeter, area, smoothness, compactness, concavity, concave points, symmetry, fractal dimension),
    each as mean, standard error and worst value (Wolberg, Street & Mangasarian, 1995).  Labels as in
    scikit-learn: 0 malignant (212), 1 benign (357).  The features' means and standard deviations differ
    by factors of about 2 x 10^5 (worst area ~880, up to 4254; fractal dimension SE ~0.004).  Values as
    UCI stores them; a stratified random test_fraction (default_rng(seed)) is the test set.  CC BY 4.0.
    """
    return split_vendored("breast_cancer", *read_vendored("breast_cancer"), test_fraction, seed)


def digits(*, test_fraction: TestFraction = 0.25, seed: NonNegativeInt = 0) -> RawData:
    """UCI optical handwritten digits: 1797 images of 8x8 pixels (64 features in [0, 1]), 10 classes.

    scikit-learn's copy of the test part of UCI's Optical Recognition of Handwritten Digits (Alpaydin &
    Kaynak, 1998): 32x32 bitmaps of digits written by 13 people, each 4x4 block counted into one
    pixel of 0..16; x = pixel / 16.  Classes of 174 to 183 images.  A stratified random test_fraction
    (default_rng(seed)) is the test set.  CC BY 4.0.
    """
    x, y = read_vendored("digits")
    return split_vendored("digits", x / 16.0, y, test_fraction, seed)


for _name, _loader in (("wine", wine), ("breast_cancer", breast_cancer), ("digits", digits)):
    _loader.check = check_test_fraction(_name)  # Registry.resolve calls check(options) at config time
