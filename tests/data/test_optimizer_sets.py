"""The synthetic sets for the optimizer claims (nnlab/data/optimizer_sets.py): ravine and sparse are what they
claim to be, and do what they are for, checked with reference values and small numpy models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nnlab.data import datasets, load_dataset
from nnlab.data.optimizer_sets import presence_rates
from nnlab.errors import DataError

ROOT = Path(__file__).resolve().parents[2]


def build(name: str, **options):
    errors: list[str] = []
    spec = datasets.resolve({"name": name, **options}, "data", errors)
    assert not errors, errors
    return datasets.build(spec)


def cond(x: np.ndarray) -> float:
    """Condition number of the (biased) covariance of the rows of x."""
    e = np.linalg.eigvalsh(np.cov(x.T, bias=True))
    return float(e[-1] / e[0])


def scales(n_features: int, condition: float) -> np.ndarray:
    return np.logspace(0, 0.5 * np.log10(condition), n_features)


def least_squares_accuracy(raw, cols=None, ridge: float = 1e-6) -> tuple[float, float]:
    """Train and test accuracy of a one-hot least-squares linear classifier (closed form, with a bias)."""
    cols = slice(None) if cols is None else cols
    a = np.c_[raw.x[:, cols], np.ones(len(raw.x))]
    k = int(raw.y.max()) + 1
    b = np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T @ np.eye(k)[raw.y])
    at = np.c_[raw.x_test[:, cols], np.ones(len(raw.x_test))]
    return float(np.mean(np.argmax(a @ b, 1) == raw.y)), float(np.mean(np.argmax(at @ b, 1) == raw.y_test))


# ------------------------------------------------------------------ ravine


@pytest.mark.parametrize("condition", [1.0, 1000.0, 1e4, 1e8])
def test_ravine_inputs_have_exactly_the_condition_number(condition):
    raw = build("ravine", condition=condition)
    x = np.concatenate([raw.x, raw.x_test])
    cov = np.cov(x.T, bias=True)
    np.testing.assert_allclose(cov, np.diag(scales(20, condition) ** 2), rtol=1e-9, atol=1e-9 * condition)
    assert cond(x) == pytest.approx(condition, rel=1e-9)
    assert 0.8 < cond(raw.x) / condition < 1.25  # the training rows alone: close (1.17 at condition 1)
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-9 * np.sqrt(condition))


def test_ravine_defaults_shapes_and_balance():
    raw = build("ravine")
    assert raw.x.shape == (2000, 20) and raw.x_test.shape == (500, 20)  # test 20%: 2000 * 0.2 / 0.8
    assert raw.x.dtype == np.float64 and raw.y.dtype.kind == "i"
    assert np.bincount(raw.y).tolist() == [1000, 1000] and np.bincount(raw.y_test).tolist() == [250, 250]
    assert cond(raw.x) == pytest.approx(1005.35, abs=0.01)  # the training rows of seed 0
    five = build("ravine", classes=5)
    assert np.bincount(five.y).tolist() == [400] * 5 and np.bincount(five.y_test).tolist() == [100] * 5
    again, other = build("ravine"), build("ravine", seed=1)
    np.testing.assert_array_equal(again.x, raw.x)
    assert not np.array_equal(other.x, raw.x)
    assert (np.diff(raw.y) != 0).sum() > 500  # shuffled, not grouped by class


def test_every_feature_of_the_ravine_carries_signal():
    raw = build("ravine")
    z = np.concatenate([raw.x, raw.x_test]) / scales(20, 1000.0)  # back to the whitened z
    y = np.concatenate([raw.y, raw.y_test])
    corr = np.array([np.corrcoef(z[:, j], y)[0, 1] for j in range(20)])
    assert np.abs(corr).min() > 0.12  # 0.160 to 0.211 for seed 0: every feature, steep or shallow
    # leaving out the five shallowest (smallest-variance) features costs accuracy: they matter
    all_features = least_squares_accuracy(raw)[1]
    without_shallow = least_squares_accuracy(raw, cols=slice(5, None))[1]
    assert all_features > 0.95 and without_shallow < all_features - 0.05


def test_ravine_noise_is_label_noise():
    acc = [least_squares_accuracy(build("ravine", noise=noise))[1] for noise in (0.0, 0.1, 0.5, 1.0)]
    assert acc[0] > 0.97 and acc[-1] < 0.8  # 0.986, 0.970, 0.862, 0.762 for seed 0
    assert acc == sorted(acc, reverse=True)


def test_the_condition_changes_only_the_scales():
    a, b = build("ravine", condition=10.0), build("ravine", condition=1e6)
    np.testing.assert_allclose(a.x / scales(20, 10.0), b.x / scales(20, 1e6), atol=1e-12)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.y_test, b.y_test)


def test_standardizing_removes_the_ravine():
    """Why the docstring says preprocess: none."""
    kept = load_dataset({"name": "ravine", "preprocess": "none", "val_fraction": 0.1}, dtype="float64")
    gone = load_dataset({"name": "ravine", "preprocess": "standardize", "val_fraction": 0.1}, dtype="float64")
    assert cond(kept.x_train) > 900 and cond(gone.x_train) < 1.5  # 1005 and 1.19


def softmax_loss_and_gradients(x, y, w, b):
    """Mean cross-entropy of a linear softmax model and its gradients."""
    a = x @ w + b
    a -= a.max(axis=1, keepdims=True)
    logp = a - np.log(np.exp(a).sum(axis=1, keepdims=True))
    n = len(y)
    g = np.exp(logp)
    g[np.arange(n), y] -= 1
    g /= n
    return -logp[np.arange(n), y].mean(), x.T @ g, g.sum(axis=0)


def gradient_descent(x, y, lr: float, steps: int) -> float:
    """Full-batch gradient descent from zero weights; the final loss (inf when it diverged)."""
    w, b = np.zeros((x.shape[1], 2)), np.zeros(2)
    for _ in range(steps):  # a loop over steps; each step is vectorised over the samples
        loss, gw, gb = softmax_loss_and_gradients(x, y, w, b)
        if not np.isfinite(loss) or loss > 1e3:
            return float("inf")
        w -= lr * gw
        b -= lr * gb
    loss = softmax_loss_and_gradients(x, y, w, b)[0]
    return float(loss) if np.isfinite(loss) else float("inf")


def best_rate_loss(x, y, steps: int) -> float:
    """The lowest final loss over rates around 4 / (the largest eigenvalue of E[x x^T]) (the stability limit
    of 2 / L for a 2-class softmax, whose curvature is at most half that eigenvalue), from 1/2 to 16 times it."""
    top = np.linalg.eigvalsh(x.T @ x / len(x))[-1]
    return min(gradient_descent(x, y, 4.0 / top * 2.0 ** e, steps) for e in range(-1, 5))


@pytest.mark.slow
def test_gradient_descent_crawls_along_the_ravine():
    """CS231n: with a high condition number, very slow progress along the shallow dimension.

    The same problem (same z, labels and optimum) at condition 1 and 1e4, full-batch gradient descent from
    zero for 200 steps at the best rate of a grid for each: condition 1 closes (almost) all of the gap to
    the optimum, condition 1e4 about half of it.
    """
    flat, steep = build("ravine", n_samples=1000, condition=1.0), build("ravine", n_samples=1000, condition=1e4)
    start = np.log(2.0)  # zero weights: p = 1/2
    optimum = best_rate_loss(flat.x, flat.y, 1000)  # the optimum of both: 0.0635
    assert optimum == pytest.approx(0.0635, abs=0.002)
    progress = {name: (start - best_rate_loss(raw.x, raw.y, 200)) / (start - optimum)
                for name, raw in (("flat", flat), ("steep", steep))}
    assert progress["flat"] > 0.99  # 0.999
    assert progress["steep"] < 0.65  # 0.548


@pytest.mark.parametrize("options, expected", [
    ({"n_samples": 20}, "data: n_samples (20) must be more than n_features (20): the inputs are whitened"),
    ({"n_features": 1, "condition": 10.0}, "data: condition 10.0 needs at least 2 features (n_features is 1)"),
    ({"condition": 0.5}, "data.condition: must be greater than or equal to 1"),
    ({"classes": 1}, "data.classes: must be greater than or equal to 2"),
    ({"n_samples": 30, "classes": 31}, "data: n_samples (30) must be at least the number of classes (31)"),
    ({"test_fraction": 0.0}, "data: test_fraction 0.0 of n_samples 2000 gives an empty test set"),
])
def test_ravine_options_are_checked_when_the_config_is_read(options, expected):
    errors: list[str] = []
    assert datasets.resolve({"name": "ravine", **options}, "data", errors) is None
    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_a_class_the_map_never_produces_is_one_data_error():
    # one feature, three classes, no noise: argmax of z * (w0, w1, w2) is the largest w for z > 0 and the
    # smallest for z < 0, never the middle one
    with pytest.raises(DataError) as exc:
        build("ravine", n_features=1, classes=3, noise=0.0, condition=1.0, n_samples=30)
    # 30 training + round(30 * 0.2 / 0.8) = 8 test rows; 50 batches of 38; class 0 needs 10 + 3
    assert exc.value.lines == ["dataset 'ravine': class 0 came up 0 times in 1900 samples drawn, too rarely to "
                               "fill its 13; use fewer classes, more features or more noise"]


# ------------------------------------------------------------------ sparse


def test_presence_rates_follow_zipf_with_the_density_asked():
    q = presence_rates(500, 0.02)
    assert q.sum() == pytest.approx(10.0, rel=1e-12)  # density * n_features non-zeros per sample
    np.testing.assert_array_equal(q[:3], 0.5)  # capped: the three most frequent features
    # beyond the cap q_j = c / (j + 1) with c = (10 - 3 * 0.5) / sum_{j >= 3} 1 / (j + 1)
    c = 8.5 / np.sum(1.0 / np.arange(4, 501))
    np.testing.assert_allclose(q[3:], c / np.arange(4, 501), rtol=1e-12)
    assert q[3] == pytest.approx(0.428471, abs=1e-6)
    np.testing.assert_allclose(presence_rates(10, 0.5), 0.5)  # density 0.5: every feature in half the samples


@pytest.mark.parametrize("options, expected", [({}, 0.02), ({"density": 0.1, "n_features": 100}, 0.1),
                                               ({"density": 0.005, "n_features": 2000, "n_samples": 500}, 0.005)])
def test_sparse_density_is_close_to_the_one_asked(options, expected):
    raw = build("sparse", **options)
    x = np.concatenate([raw.x, raw.x_test])
    assert set(np.unique(x)) == {0.0, 1.0} and x.dtype == np.float64
    assert (x != 0).mean() == pytest.approx(expected, rel=0.03)  # 0.019955 for the defaults


def test_sparse_feature_frequencies_are_heavy_tailed():
    raw = build("sparse")
    freq = (np.concatenate([raw.x, raw.x_test]) != 0).mean(axis=0)
    share = freq / freq.sum()
    assert share[:50].sum() > 0.55  # the 10% most frequent features: 0.607 of the non-zeros
    assert share[250:].sum() < 0.15  # the rarer half: 0.120
    ranks = np.arange(1, 501)
    slope = np.polyfit(np.log(ranks[9:400]), np.log(freq[9:400]), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.1)  # Zipf's law: -1.006
    assert freq[:3].mean() == pytest.approx(0.5, abs=0.03) and freq[-50:].mean() < 0.01


def test_sparse_labels_depend_on_the_rare_features():
    """A linear model on the 10% most frequent features scores clearly worse than on all of them, and the
    rare 90% alone carry signal: a method that neglects rare features loses."""
    raw = build("sparse")
    every = least_squares_accuracy(raw, ridge=1.0)[1]
    frequent = least_squares_accuracy(raw, cols=slice(0, 50), ridge=1.0)[1]
    rare = least_squares_accuracy(raw, cols=slice(50, None), ridge=1.0)[1]
    assert every > 0.85  # 0.890 for seed 0
    assert frequent < every - 0.05  # 0.816
    assert rare > 0.62  # 0.678; chance is 0.5


def test_sparse_defaults_shapes_balance_and_seed():
    raw = build("sparse")
    assert raw.x.shape == (2000, 500) and raw.x_test.shape == (500, 500)
    assert np.bincount(raw.y).tolist() == [1000, 1000] and np.bincount(raw.y_test).tolist() == [250, 250]
    three = build("sparse", classes=3, n_samples=300)
    assert np.bincount(three.y).tolist() == [100, 100, 100] and np.bincount(three.y_test).tolist() == [25, 25, 25]
    np.testing.assert_array_equal(build("sparse").x_test, raw.x_test)
    assert not np.array_equal(build("sparse", seed=1).x_test, raw.x_test)


def test_standardizing_fills_the_zeros():
    """Why the docstring says preprocess: none."""
    kept = load_dataset({"name": "sparse", "preprocess": "none", "val_fraction": 0.1})
    gone = load_dataset({"name": "sparse", "preprocess": "standardize", "val_fraction": 0.1})
    assert (kept.x_train != 0).mean() == pytest.approx(0.02, rel=0.05)
    assert (gone.x_train != 0).mean() > 0.99


@pytest.mark.parametrize("options, expected", [
    ({"density": 0.6}, "data.density: must be less than or equal to 0.5"),
    ({"density": 0.0}, "data.density: must be greater than 0"),
    ({"classes": 1}, "data.classes: must be greater than or equal to 2"),
    ({"n_samples": 2, "classes": 3}, "data: n_samples (2) must be at least the number of classes (3)"),
    ({"condition": 10.0}, "data.condition: unknown option 'condition' for dataset 'sparse'"),
])
def test_sparse_options_are_checked_when_the_config_is_read(options, expected):
    errors: list[str] = []
    assert datasets.resolve({"name": "sparse", **options}, "data", errors) is None
    assert len(errors) == 1 and errors[0].startswith(expected), errors


# ------------------------------------------------------------------ the command line


def test_nnlab_list_describes_both_in_one_line():
    from helpers import invoke

    r = invoke("list", "datasets")
    assert r.exit_code == 0, r.output
    lines = {line.split("\t")[1]: line for line in r.output.splitlines() if line.startswith("dataset\t")}
    assert "Ill-conditioned inputs: feature variances from 1 to `condition`" in lines["ravine"]
    assert "condition: float >= 1 (1000)" in lines["ravine"] and "noise: float >= 0 (0.1)" in lines["ravine"]
    assert "Sparse bag-of-words-like 0/1 inputs, Zipf-distributed" in lines["sparse"]
    assert "density: float > 0, <= 0.5 (0.02)" in lines["sparse"]


TINY = {"wine_standardize": 0.85, "breast_cancer_center": 0.85, "digits_small": 0.85, "ravine_linear_sgd": 0.75,
        "sparse_adagrad": 0.75}


@pytest.mark.slow
@pytest.mark.parametrize("name, at_least", sorted(TINY.items()))
def test_the_tiny_config_of_each_new_set_trains(tmp_path, name, at_least):
    from helpers import invoke

    r = invoke("train", ROOT / "configs" / "tiny" / f"{name}.yaml", "--runs-dir", tmp_path, "--quiet")
    assert r.exit_code == 0, r.output
    (summary,) = tmp_path.glob("*/summary.json")
    s = json.loads(summary.read_text())
    assert s["status"] == "completed" and s["test"]["acc"] >= at_least, s["test"]
    assert s["train_seconds"] < 1.0
