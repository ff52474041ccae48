"""Write (or check) nnlab's vendored copies of three UCI data sets from scikit-learn's bundled CSV files.

nnlab ships wine, breast_cancer and digits as small .npz files in nnlab/data/files/ so that they load
offline and without scikit-learn.  Their source is the copy scikit-learn bundles
(sklearn/datasets/data/wine_data.csv, breast_cancer.csv, digits.csv.gz); this script turns those CSV
files into the .npz files, exactly:

* every cell is a decimal number without exponent; column j is stored as the integers
  x[:, j] * 10**decimals[j] (decimals[j] = the most digits after the point in column j), so that
  x / 10**decimals gives back float(cell) bit for bit (an integer divided by a power of ten is rounded
  once, to the double nearest the decimal, as float() rounds the text);
* the labels (the last column) as uint8; wine's and breast_cancer's first line (sizes and class names)
  is checked and dropped.

Usage (scikit-learn installed, or its wheel unpacked: pip download scikit-learn --no-deps):

    python tools/vendor_uci.py [--sklearn-data DIR]          # write nnlab/data/files/*.npz
    python tools/vendor_uci.py --check [--sklearn-data DIR]  # exit 1 if the vendored arrays differ

The sha256 the loader checks (nnlab.data.uci.SHA256) is printed for each file.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "nnlab" / "data" / "files"
# name -> (scikit-learn's file, a first line of sizes and class names?, rows, feature columns)
SOURCES = {"wine": ("wine_data.csv", True, 178, 13), "breast_cancer": ("breast_cancer.csv", True, 569, 30),
           "digits": ("digits.csv.gz", False, 1797, 64)}


def read_rows(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    text = gzip.decompress(raw).decode("ascii") if path.suffix == ".gz" else raw.decode("ascii")
    return [row for row in csv.reader(io.StringIO(text)) if row]


def encode(rows: list[list[str]], has_header: bool, n: int, d: int) -> dict[str, np.ndarray]:
    """The arrays of one .npz file: x (integers), decimals (per column) and y (uint8)."""
    if has_header:
        head, rows = rows[0], rows[1:]
        assert (int(head[0]), int(head[1])) == (n, d), head
    cells = np.array(rows, dtype=str)
    assert cells.shape == (n, d + 1), cells.shape
    assert not any("e" in c.lower() for c in cells.ravel()), "a cell in exponent notation"
    decimals = np.array([max(len(c.partition(".")[2]) for c in cells[:, j]) for j in range(d)], dtype=np.int8)
    exact = cells[:, :d].astype(np.float64)
    scaled = np.round(exact * 10.0 ** decimals)
    assert scaled.min() >= 0 and scaled.max() < 2**32, "all three sets hold non-negative numbers"
    x = scaled.astype(np.min_scalar_type(int(scaled.max())))  # uint8 for digits, uint32 for the others
    y = cells[:, d].astype(np.int64)
    assert y.min() >= 0 and y.max() < 256
    arrays = {"x": x, "decimals": decimals, "y": y.astype(np.uint8)}
    np.testing.assert_array_equal(decode(arrays)[0], exact)  # bit for bit what float() reads
    return arrays


def decode(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(x float64, y int64) as nnlab.data.uci reads them."""
    return arrays["x"] / 10.0 ** arrays["decimals"].astype(np.int64), arrays["y"].astype(np.int64)


def sha256(x: np.ndarray, y: np.ndarray) -> str:
    """The checksum nnlab.data.uci keeps: x as little-endian float64, then y as little-endian int64."""
    return hashlib.sha256(x.astype("<f8").tobytes() + y.astype("<i8").tobytes()).hexdigest()


def default_data_dir() -> Path:
    import sklearn.datasets  # only this script needs scikit-learn; nnlab never imports it

    return Path(sklearn.datasets.__file__).parent / "data"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sklearn-data", type=Path, help="scikit-learn's sklearn/datasets/data folder")
    ap.add_argument("--check", action="store_true", help="compare with the vendored files, write nothing")
    args = ap.parse_args(argv)
    src = args.sklearn_data or default_data_dir()
    differ = 0
    for name, (file, has_header, n, d) in SOURCES.items():
        arrays = encode(read_rows(src / file), has_header, n, d)
        x, y = decode(arrays)
        target = OUT / f"{name}.npz"
        if args.check:
            with np.load(target, allow_pickle=False) as z:
                stored = {k: z[k] for k in z.files}
            same = stored.keys() == arrays.keys() and all(
                stored[k].dtype == arrays[k].dtype and np.array_equal(stored[k], arrays[k]) for k in arrays)
            differ += not same
            print(f"{name}: {'same as' if same else 'DIFFERS from'} {src / file}")
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(target, **arrays)
            print(f"{name}: {target.relative_to(ROOT)} {target.stat().st_size} bytes, x {x.shape}, "
                  f"classes {np.bincount(y).tolist()}, sha256 {sha256(x, y)}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
