"""Synthetic data sets drawn from their own seed (never the global random state): spiral, moons,
circles, xor, blobs."""

from __future__ import annotations

from typing import Annotated

import numpy as np

from nnlab.data.splits import MAX_CLASSES, RawData, round_half_up
from nnlab.options import Fraction, Gt, Le, NonNegative, NonNegativeInt

# Upper bounds: more would exhaust memory (or take hours) instead of failing clearly.
MAX_SAMPLES = 100_000_000
MAX_FEATURES = 100_000
Samples = Annotated[int, Gt(0), Le(MAX_SAMPLES)]
Features = Annotated[int, Gt(0), Le(MAX_FEATURES)]
Classes = Annotated[int, Gt(0), Le(MAX_CLASSES)]


def _n_test(n_samples: int, test_fraction: float) -> int:
    """Test rows so that test / (train + test) == test_fraction: n * f / (1 - f), rounded."""
    return round_half_up(n_samples * test_fraction / (1.0 - test_fraction))


def _balanced_counts(n: int, k: int) -> np.ndarray:
    """n items over k classes as evenly as possible (the first n % k classes get one more)."""
    return n // k + (np.arange(k) < n % k).astype(int)


def _check_synthetic(options: dict) -> None:
    """Config-time rule across options: every class gets a training sample and the test set is not empty."""
    n, k = options["n_samples"], options.get("classes", 2)
    if n < k:
        raise ValueError(f"n_samples ({n}) must be at least the number of classes ({k}) "
                         "so every class has a training sample")
    if _n_test(n, options["test_fraction"]) < 1:
        raise ValueError(f"test_fraction {options['test_fraction']} of n_samples {n} gives an empty "
                         "test set; raise test_fraction or n_samples")


def _synthetic(make_class, n_classes: int, n_samples: int, test_fraction: float,
               rng: np.random.Generator) -> RawData:
    """Draw class-balanced train and test sets from ``make_class(j, m) -> (m, d) points of class j``.

    Each class is drawn once for train and test together (same curve, same cloud),
    its points are split at random so both sets are balanced, then each set is shuffled
    so the rows are not ordered by class.
    """
    n_tr = _balanced_counts(n_samples, n_classes)
    n_te = _balanced_counts(_n_test(n_samples, test_fraction), n_classes)
    xs, ys, test_marks = [], [], []
    for j in range(n_classes):  # a loop over classes, not samples
        m = int(n_tr[j] + n_te[j])
        xs.append(np.asarray(make_class(j, m), dtype=np.float64).reshape(m, -1))
        ys.append(np.full(m, j, dtype=np.int64))
        test_marks.append(rng.permutation(np.arange(m) < n_te[j]))
    x, y, is_test = np.concatenate(xs), np.concatenate(ys), np.concatenate(test_marks)
    tr = rng.permutation(np.flatnonzero(~is_test))
    te = rng.permutation(np.flatnonzero(is_test))
    return RawData(x[tr], y[tr], x[te], y[te])


def spiral(*, n_samples: Samples = 1000, classes: Classes = 3, noise: NonNegative = 0.2,
           seed: NonNegativeInt = 0, test_fraction: Fraction = 0.2) -> RawData:
    """Interleaved 2-D spiral arms, one per class (the CS231n toy set).

    Arm j with m points: r = linspace(0, 1, m), t = linspace(4j, 4(j+1), m) + noise * N(0, 1),
    point = (r sin t, r cos t).  Source: CS231n, "Putting it together: minimal neural
    network case study" (noise 0.2 there).  Train and test come from the same arms.
    """
    rng = np.random.default_rng(seed)

    def arm(j, m):
        r = np.linspace(0.0, 1.0, m)
        t = np.linspace(j * 4, (j + 1) * 4, m) + rng.standard_normal(m) * noise
        return np.c_[r * np.sin(t), r * np.cos(t)]

    return _synthetic(arm, classes, n_samples, test_fraction, rng)


def moons(*, n_samples: Samples = 1000, noise: NonNegative = 0.1, seed: NonNegativeInt = 0,
          test_fraction: Fraction = 0.2) -> RawData:
    """Two interleaving half circles, 2 classes (like sklearn.datasets.make_moons).

    s = linspace(0, pi, m); class 0: (cos s, sin s); class 1: (1 - cos s, 0.5 - sin s);
    plus N(0, noise^2) on each coordinate.
    """
    rng = np.random.default_rng(seed)

    def moon(j, m):
        s = np.linspace(0.0, np.pi, m)
        pts = np.c_[np.cos(s), np.sin(s)] if j == 0 else np.c_[1 - np.cos(s), 0.5 - np.sin(s)]
        return pts + noise * rng.standard_normal((m, 2))

    return _synthetic(moon, 2, n_samples, test_fraction, rng)


def circles(*, n_samples: Samples = 1000, factor: Fraction = 0.5, noise: NonNegative = 0.05,
            seed: NonNegativeInt = 0, test_fraction: Fraction = 0.2) -> RawData:
    """A small circle inside a large one, 2 classes (like sklearn.datasets.make_circles).

    s = linspace(0, 2 pi, m, endpoint=False); class 0: (cos s, sin s);
    class 1: factor * (cos s, sin s); plus N(0, noise^2) on each coordinate.
    """
    rng = np.random.default_rng(seed)

    def ring(j, m):
        s = np.linspace(0.0, 2 * np.pi, m, endpoint=False)
        radius = 1.0 if j == 0 else factor
        return radius * np.c_[np.cos(s), np.sin(s)] + noise * rng.standard_normal((m, 2))

    return _synthetic(ring, 2, n_samples, test_fraction, rng)


def xor(*, n_samples: Samples = 1000, noise: NonNegative = 0.1, seed: NonNegativeInt = 0,
        test_fraction: Fraction = 0.2) -> RawData:
    """Points uniform in [-1, 1]^2 labelled by quadrant: y = (x0 > 0) xor (x1 > 0).

    Each class is drawn uniformly from its two quadrants (so classes are balanced),
    then N(0, noise^2) is added after labelling, blurring the boundary.
    """
    rng = np.random.default_rng(seed)

    def quadrants(j, m):
        mag = 1.0 - rng.random((m, 2))  # in (0, 1]: never exactly on an axis
        s0 = rng.choice([-1.0, 1.0], m)
        s1 = s0 if j == 0 else -s0  # class 0: same signs, class 1: opposite signs
        return mag * np.c_[s0, s1] + noise * rng.standard_normal((m, 2))

    return _synthetic(quadrants, 2, n_samples, test_fraction, rng)


def blobs(*, n_samples: Samples = 1000, classes: Classes = 3, n_features: Features = 2,
          noise: NonNegative = 1.0, seed: NonNegativeInt = 0, test_fraction: Fraction = 0.2) -> RawData:
    """Isotropic Gaussian clusters, one per class (like sklearn.datasets.make_blobs).

    Centers c_j ~ U[-5, 5]^n_features from the seed; class j points are c_j + noise * N(0, I)
    (noise is the cluster standard deviation, 1 by default as in sklearn).
    """
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-5.0, 5.0, (classes, n_features))

    def blob(j, m):
        return centers[j] + noise * rng.standard_normal((m, n_features))

    return _synthetic(blob, classes, n_samples, test_fraction, rng)


for _f in (spiral, moons, circles, xor, blobs):
    _f.check = _check_synthetic  # Registry.resolve calls check(options) at config time


