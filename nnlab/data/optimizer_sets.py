"""Synthetic sets made for the optimizer claims of the notes: ravine (an ill-conditioned problem) and sparse
(rare features that carry signal).

Both are drawn from their own ``seed`` with ``np.random.default_rng`` (never the global state), label
samples with a fixed random linear map, and are exactly class-balanced: samples are drawn in batches
until every class has its quota, and each class keeps the first ones drawn (a sample of the inputs
given that class).  Train and test come from the same draw, split at random within each class, and
shuffled.
"""

from __future__ import annotations

from typing import Annotated, Callable

import numpy as np

from nnlab.data.splits import MAX_CLASSES, RawData, round_half_up
from nnlab.data.synthetic import Features, Samples
from nnlab.errors import DataError
from nnlab.options import Fraction, Ge, Gt, Le, NonNegative, NonNegativeInt

Classes = Annotated[int, Ge(2), Le(MAX_CLASSES)]
Condition = Annotated[float, Ge(1)]
# a feature present in more than half of the samples is not rare; 0.5 is the most any feature gets
Density = Annotated[float, Gt(0), Le(0.5)]
MAX_PRESENCE = 0.5
MAX_DRAWS = 50  # batches of samples drawn to fill every class before a class counts as (nearly) impossible


def n_test_rows(n_samples: int, test_fraction: float) -> int:
    """Test rows so that test / (train + test) == test_fraction: n * f / (1 - f), rounded (as the synthetic sets)."""
    return round_half_up(n_samples * test_fraction / (1.0 - test_fraction))


def balanced_counts(n: int, k: int) -> np.ndarray:
    """n items over k classes as evenly as possible (the first n % k classes get one more)."""
    return n // k + (np.arange(k) < n % k).astype(int)


def feature_weights(rng: np.random.Generator, d: int, k: int) -> np.ndarray:
    """(d, k) class weights in which every feature counts as much: N(0, 1) rows, centred, then of norm 1.

    Centring a row changes no label: it moves every class's logit of a sample by the same amount, which
    neither argmax nor softmax sees.  Equal norms mean each feature, when it changes by one unit, moves
    the logits as much as any other.
    """
    w = rng.standard_normal((d, k))
    w -= w.mean(axis=1, keepdims=True)
    return w / np.linalg.norm(w, axis=1, keepdims=True)


def draw_balanced(draw: Callable[[int], tuple[np.ndarray, np.ndarray]], counts: np.ndarray, source: str,
                  remedy: str) -> tuple[np.ndarray, np.ndarray]:
    """counts[j] rows of each class j from ``draw(m) -> (m rows, m labels)``, grouped by class.

    Batches of sum(counts) rows are drawn until every class has its quota (at most MAX_DRAWS batches:
    a class the labelling almost never produces is a DataError ending in ``remedy``, not an endless
    loop); each class keeps the first rows drawn, and only the rows kept are held on to.
    """
    k, total = len(counts), int(counts.sum())
    rows, labels = [], []
    need = counts.astype(int).copy()
    for _ in range(MAX_DRAWS):  # a loop over batches, not samples
        x, y = draw(total)
        take = first_of_each_class(y, need)
        rows.append(x[take])
        labels.append(y[take])
        need -= np.bincount(y[take], minlength=k)
        if not need.any():
            break
    else:
        j = int(np.argmax(need))
        raise DataError(f"{source}: class {j} came up {counts[j] - need[j]} times in {MAX_DRAWS * total} samples "
                        f"drawn, too rarely to fill its {counts[j]}; {remedy}")
    x, y = np.concatenate(rows), np.concatenate(labels)
    grouped = np.argsort(y, kind="stable")  # by class, in the order drawn within each
    return x[grouped], y[grouped]


def first_of_each_class(y: np.ndarray, quota: np.ndarray) -> np.ndarray:
    """Indices (in order) of the first quota[j] entries of y equal to j, for every class j."""
    order = np.argsort(y, kind="stable")  # grouped by class, in order within each
    starts = np.concatenate([[0], np.cumsum(np.bincount(y, minlength=len(quota)))[:-1]])
    return np.sort(order[np.arange(len(y)) - starts[y[order]] < quota[y[order]]])


def split_balanced(x: np.ndarray, y: np.ndarray, n_test: np.ndarray, rng: np.random.Generator) -> RawData:
    """n_test[j] random rows of each class j become the test set; both sets are shuffled."""
    order = rng.permutation(len(y))
    order = order[np.argsort(y[order], kind="stable")]  # grouped by class, random within each
    starts = np.concatenate([[0], np.cumsum(np.bincount(y, minlength=len(n_test)))[:-1]])
    is_test = np.zeros(len(y), dtype=bool)
    is_test[order] = np.arange(len(y)) - starts[y[order]] < n_test[y[order]]
    train, test = rng.permutation(np.flatnonzero(~is_test)), rng.permutation(np.flatnonzero(is_test))
    return RawData(x[train], y[train], x[test], y[test])


def check_counts(options: dict) -> None:
    """Config-time rules across options: every class gets a training sample, the test set is not empty;
    ravine: more training samples than features (the inputs are whitened), 2 features for a condition."""
    n, k = options["n_samples"], options["classes"]
    if n < k:
        raise ValueError(f"n_samples ({n}) must be at least the number of classes ({k}) "
                         "so every class has a training sample")
    if n_test_rows(n, options["test_fraction"]) < 1:
        raise ValueError(f"test_fraction {options['test_fraction']} of n_samples {n} gives an empty "
                         "test set; raise test_fraction or n_samples")
    if "condition" in options:
        d = options["n_features"]
        if n <= d:
            raise ValueError(f"n_samples ({n}) must be more than n_features ({d}): the inputs are whitened, "
                             "which needs more samples than features")
        if d == 1 and options["condition"] != 1:
            raise ValueError(f"condition {options['condition']} needs at least 2 features (n_features is 1); "
                             "one feature has condition number 1")


def ravine(*, n_samples: Samples = 2000, n_features: Features = 20, classes: Classes = 2,
           condition: Condition = 1000.0, noise: NonNegative = 0.1, seed: NonNegativeInt = 0,
           test_fraction: Fraction = 0.2) -> RawData:
    """Ill-conditioned inputs: feature variances from 1 to `condition`, each feature with signal; preprocess: none.

    The CS231n picture of a bad condition number ("loss changes quickly in one direction and slowly in
    another": jitter along the steep direction, slow progress along the shallow one), for the optimizer
    claims.  z ~ N(0, I) in d = n_features dimensions; labels drawn from softmax(z W / noise)
    (Gumbel-max; noise 0: y = argmax z W) with W = feature_weights(...) * sqrt(classes / d), so every
    feature of z carries the same signal and each class's logit has variance about 1.  The z of all
    train and test samples together are then centred and whitened exactly (their covariance is I), and
    x = z * s with s log-spaced from 1 to sqrt(condition): the covariance of x is diag(s^2), whose
    condition number is exactly `condition`, and so is the Hessian's of a linear softmax model at
    W = 0 (p uniform: H = (I/k - 1 1^T/k^2) kron E[x x^T], leaving out softmax's one flat direction).
    Gradient descent must use a rate below 2 / (the largest curvature), and then creeps along the
    small-variance features, which carry as much signal as the large ones.  The seed fixes z, W and
    the labels: condition changes only s, so the sets of two conditions are the same problem seen
    through different scales.

    Use it with ``data.preprocess: none``: standardize rescales every feature to variance 1 and removes
    the ravine.  Classes are exactly balanced (each drawn from its own class-conditional distribution).
    """
    rng = np.random.default_rng(seed)
    w = feature_weights(rng, n_features, classes) * np.sqrt(classes / n_features)

    def draw(m: int) -> tuple[np.ndarray, np.ndarray]:
        z = rng.standard_normal((m, n_features))
        gumbel = rng.gumbel(size=(m, classes))  # drawn whatever the noise, so noise changes no z
        return z, np.argmax(z @ w + noise * gumbel, axis=1)

    n_test = balanced_counts(n_test_rows(n_samples, test_fraction), classes)
    z, y = draw_balanced(draw, balanced_counts(n_samples, classes) + n_test, "dataset 'ravine'",
                         "use fewer classes, more features or more noise")
    z = z - z.mean(axis=0)
    eigvals, eigvecs = np.linalg.eigh(z.T @ z / len(z))
    z = z @ (eigvecs / np.sqrt(eigvals)) @ eigvecs.T  # symmetric whitening: the covariance is exactly I
    scales = np.logspace(0.0, 0.5 * np.log10(condition), n_features)
    return split_balanced(z * scales, y, n_test, rng)


def presence_rates(n_features: int, density: float) -> np.ndarray:
    """q_j = min(0.5, c / (j + 1)): Zipf's law with exponent 1, c chosen so that sum(q) = density * n_features.

    sum(min(0.5, c / (j + 1))) grows with c, from 0 to 0.5 * n_features at c = 0.5 * n_features;
    bisection finds c to machine precision (a loop over 200 halvings, each vectorised).
    """
    inv_rank = 1.0 / np.arange(1, n_features + 1)
    target = density * n_features
    lo, hi = 0.0, MAX_PRESENCE * n_features
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if np.minimum(MAX_PRESENCE, mid * inv_rank).sum() < target:
            lo = mid
        else:
            hi = mid
    return np.minimum(MAX_PRESENCE, hi * inv_rank)


def sparse(*, n_samples: Samples = 2000, n_features: Features = 500, classes: Classes = 2,
           density: Density = 0.02, seed: NonNegativeInt = 0, test_fraction: Fraction = 0.2) -> RawData:
    """Sparse bag-of-words-like 0/1 inputs, Zipf-distributed; rare features carry as much signal; preprocess: none.

    For the notes' "if the data is sparse, use an adaptive method (Adagrad, RMSprop, Adam)": a plain
    gradient step moves the weight of a feature present in a fraction q of the samples by ~q, so rare
    features learn slowly; an adaptive method divides by the feature's own gradient scale.  Feature j
    (0-based) is present in a sample with probability q_j = min(0.5, c / (j + 1)) (Zipf's law: a few
    frequent features, many rare ones), c chosen so that a sample has density * n_features non-zero
    entries on average; x_ij = 1 when present, else 0.  Labels: argmax over classes of (x - q) W, with
    W = feature_weights(...): each feature moves the logits by the same amount when present, however
    rare it is.  Labels have no noise; classes are exactly balanced (each drawn from its own
    class-conditional distribution).  Use ``data.preprocess: none``: standardize would fill every
    zero and scale each feature by 1 / sqrt(q (1 - q)), doing the adaptive method's work for it.
    """
    rng = np.random.default_rng(seed)
    q = presence_rates(n_features, density)
    w = feature_weights(rng, n_features, classes)

    def draw(m: int) -> tuple[np.ndarray, np.ndarray]:
        present = rng.random((m, n_features)) < q
        return present, np.argmax((present - q) @ w, axis=1)

    n_test = balanced_counts(n_test_rows(n_samples, test_fraction), classes)
    present, y = draw_balanced(draw, balanced_counts(n_samples, classes) + n_test, "dataset 'sparse'",
                                "use fewer classes or more features")
    return split_balanced(present.astype(np.float64), y, n_test, rng)


for _f in (ravine, sparse):
    _f.check = check_counts  # Registry.resolve calls check(options) at config time
