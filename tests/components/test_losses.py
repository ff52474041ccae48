"""Losses: softmax cross-entropy and MSE by hand, stability for huge logits, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnlab.components.losses import MeanSquaredError, SoftmaxCrossEntropy, loss_for_task, losses
from nnlab.train.gradcheck import numerical_gradient, relative_error


def centred_difference(fun, x, h=1e-6):
    """Centred differences of fun() in x (nnlab.train.gradcheck's own, tested in test_gradcheck.py)."""
    return numerical_gradient(fun, x, h)


rel_error = relative_error


def test_registry_and_tasks():
    assert set(losses.names()) == {"cross_entropy", "mse"}
    assert isinstance(loss_for_task("classification"), SoftmaxCrossEntropy)
    assert isinstance(loss_for_task("regression"), MeanSquaredError)


# ---------------------------------------------------------------- softmax cross-entropy


def test_cross_entropy_by_hand_2x3():
    out = np.array([[1.0, 2.0, 3.0], [1.0, 0.0, -1.0]])
    y = np.array([2, 1])
    e = math.e
    den1 = e ** 1 + e ** 2 + e ** 3
    den2 = e ** 1 + e ** 0 + e ** -1
    p1 = [e ** 1 / den1, e ** 2 / den1, e ** 3 / den1]
    p2 = [e ** 1 / den2, e ** 0 / den2, e ** -1 / den2]
    expected = (-math.log(p1[2]) - math.log(p2[1])) / 2
    loss, dout = SoftmaxCrossEntropy()(out.copy(), y)
    assert isinstance(loss, float)
    assert loss == pytest.approx(expected, rel=1e-14)
    # log(e + e^2 + e^3) - 3 = 0.40760596444438, log(e + 1 + 1/e) - 0 = 1.40760596444438
    assert loss == pytest.approx((0.4076059644443804 + 1.4076059644443804) / 2, rel=1e-14)
    # dL/dout = (softmax - onehot) / N
    np.testing.assert_allclose(dout, [[p1[0] / 2, p1[1] / 2, (p1[2] - 1) / 2],
                                      [p2[0] / 2, (p2[1] - 1) / 2, p2[2] / 2]], rtol=1e-13)
    np.testing.assert_allclose(dout.sum(axis=1), 0.0, atol=1e-15)


def test_cross_entropy_uniform_logits_is_log_c():
    loss, dout = SoftmaxCrossEntropy()(np.zeros((4, 5)), np.array([0, 1, 2, 4]))
    assert loss == pytest.approx(math.log(5), rel=1e-15)
    np.testing.assert_allclose(dout[0], [(0.2 - 1) / 4, 0.05, 0.05, 0.05, 0.05], rtol=1e-14)


def test_cross_entropy_does_not_modify_its_input():
    out = np.array([[1.0, 2.0, 3.0]])
    SoftmaxCrossEntropy()(out, np.array([0]))
    np.testing.assert_array_equal(out, [[1.0, 2.0, 3.0]])


def test_cross_entropy_is_stable_for_logits_of_1000():
    out = np.array([[1000.0, 0.0, -1000.0],
                    [1000.0, 1000.0, 1000.0],
                    [-1000.0, -1000.0, -999.0],
                    [1000.0, 0.0, 0.0]])
    y = np.array([1, 2, 2, 0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, dout = SoftmaxCrossEntropy()(out.copy(), y)
    assert np.isfinite(loss) and np.all(np.isfinite(dout))
    # per row: logsumexp(out) - out[y] = 1000 - 0, log 3, log(1 + 2 e^-1), ~0
    expected = (1000.0 + math.log(3.0) + math.log1p(2 * math.exp(-1.0)) + 0.0) / 4
    assert loss == pytest.approx(expected, rel=1e-14)
    np.testing.assert_allclose(dout, np.array([[1.0, -1.0, 0.0],
                                               [1 / 3, 1 / 3, -2 / 3],
                                               [1 / (2 + math.e), 1 / (2 + math.e), math.e / (2 + math.e) - 1],
                                               [0.0, 0.0, 0.0]]) / 4, rtol=1e-13, atol=1e-300)


def test_cross_entropy_of_a_confident_wrong_prediction_is_not_capped():
    # the loss is logsumexp(out) - out[y], not -log of a softmax that underflowed to 0
    loss, _ = SoftmaxCrossEntropy()(np.array([[800.0, 0.0]]), np.array([1]))
    assert loss == pytest.approx(800.0, rel=1e-15)
    loss32, dout32 = SoftmaxCrossEntropy()(np.array([[100.0, 0.0, 0.0]], dtype=np.float32), np.array([1]))
    assert loss32 == pytest.approx(100.0, rel=1e-6)
    assert dout32.dtype == np.float32


def test_cross_entropy_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    out = rng.standard_normal((6, 4)) * 3
    y = rng.integers(0, 4, 6)
    loss_fn = SoftmaxCrossEntropy()
    _, dout = loss_fn(out.copy(), y)
    dout = dout.copy()
    num = centred_difference(lambda: loss_fn(out, y)[0], out)
    assert rel_error(dout, num) < 1e-8
    # and the closed form (softmax - onehot) / N
    p = np.exp(out - out.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(6), y] -= 1
    np.testing.assert_allclose(dout, p / 6, rtol=1e-12, atol=1e-16)


def test_correct_counts_argmax_hits():
    out = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [0.0, 5.0, 1.0], [0.2, 0.1, 0.0]])
    assert SoftmaxCrossEntropy.correct(out, np.array([2, 1, 1, 0])) == 3
    assert SoftmaxCrossEntropy.correct(out, np.array([0, 0, 0, 1])) == 1
    assert isinstance(SoftmaxCrossEntropy.correct(out, np.array([2, 0, 1, 0])), int)
    assert MeanSquaredError.correct(out, out) is None


# ---------------------------------------------------------------- soft targets (mixup, nnlab.data.augment)


def test_soft_cross_entropy_by_hand_2x3():
    out = np.array([[1.0, 2.0, 3.0], [1.0, 0.0, -1.0]])
    t = np.array([[0.25, 0.0, 0.75], [0.5, 0.5, 0.0]])
    # log softmax row 1 = out - log(e + e^2 + e^3) = [-2.4076, -1.4076, -0.4076]; row 2 = [-0.4076, -1.4076, -2.4076]
    # row 1: 0.25 * 2.4076 + 0.75 * 0.4076 = 0.9076; row 2: 0.5 * 0.4076 + 0.5 * 1.4076 = 0.9076
    loss, dout = SoftmaxCrossEntropy()(out.copy(), t)
    assert loss == pytest.approx(0.9076059644443804, rel=1e-14)
    e = math.e
    p1 = np.array([e, e ** 2, e ** 3]) / (e + e ** 2 + e ** 3)
    p2 = np.array([e, 1, 1 / e]) / (e + 1 + 1 / e)
    np.testing.assert_allclose(dout, (np.stack([p1, p2]) - t) / 2, rtol=1e-13)


def test_soft_cross_entropy_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    out = rng.standard_normal((6, 4)) * 3
    t = rng.dirichlet(np.ones(4), size=6)
    t[4] *= 0.7  # rows that do not sum to 1: the general gradient T softmax - t
    t[5] *= 1.3
    loss_fn = SoftmaxCrossEntropy()
    _, dout = loss_fn(out.copy(), t)
    dout = dout.copy()
    num = centred_difference(lambda: loss_fn(out, t)[0], out)
    assert relative_error(dout, num) < 1e-8


def test_soft_cross_entropy_float32_and_stable():
    out = np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32)
    loss, dout = SoftmaxCrossEntropy()(out, np.array([[0.5, 0.5, 0.0]], dtype=np.float32))
    assert loss == pytest.approx(500.0, rel=1e-6) and dout.dtype == np.float32
    np.testing.assert_allclose(dout, [[0.5, -0.5, 0.0]], atol=1e-6)


def test_one_hot_soft_targets_are_the_integer_labels():
    rng = np.random.default_rng(1)
    out = rng.standard_normal((5, 3))
    y = np.array([0, 2, 1, 1, 0])
    ce = SoftmaxCrossEntropy()
    hard_loss, hard_grad = ce(out, y)
    hard_grad = hard_grad.copy()
    soft_loss, soft_grad = ce(out, np.eye(3)[y])
    assert soft_loss == pytest.approx(hard_loss, rel=1e-14)
    np.testing.assert_allclose(soft_grad, hard_grad, rtol=1e-13, atol=1e-17)
    assert SoftmaxCrossEntropy.correct(out, np.eye(3)[y]) == SoftmaxCrossEntropy.correct(out, y)


# ---------------------------------------------------------------- mean squared error


def test_mse_by_hand():
    out = np.array([[1.0, 2.0], [3.0, 4.0], [0.0, -1.0]])
    y = np.array([[0.0, 2.0], [1.0, 1.0], [0.0, 0.0]])
    loss, dout = MeanSquaredError()(out.copy(), y)
    # differences 1, 0, 2, 3, 0, -1: squares sum to 15 over N*K = 6 entries
    assert loss == pytest.approx(2.5, rel=1e-15)
    # 2 (out - y) / (N K)
    np.testing.assert_allclose(dout, [[2 / 6, 0.0], [4 / 6, 1.0], [0.0, -2 / 6]], rtol=1e-15)
    np.testing.assert_array_equal(out, [[1.0, 2.0], [3.0, 4.0], [0.0, -1.0]])


def test_mse_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    out = rng.standard_normal((5, 3))
    y = rng.standard_normal((5, 3))
    loss_fn = MeanSquaredError()
    _, dout = loss_fn(out.copy(), y)
    num = centred_difference(lambda: loss_fn(out, y)[0], out)
    assert rel_error(dout, num) < 1e-8
    np.testing.assert_allclose(dout, 2 * (out - y) / 15, rtol=1e-14)


def test_mse_float32():
    loss, dout = MeanSquaredError()(np.ones((2, 2), np.float32), np.zeros((2, 2), np.float32))
    assert loss == pytest.approx(1.0) and dout.dtype == np.float32
    np.testing.assert_allclose(dout, 0.5)
