"""Whole-network gradient checks, generated from the registries, and checks that the check can fail.

Every registered activation x batch norm (off/on) x dropout (off, inverted, classic)
on a 5 -> [6, 4] -> 3 network with L1 and L2 on; every parameter tensor must pass.
"""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.components.activations import ReLU, Sigmoid, activations
from nnlab.components.losses import MeanSquaredError, SoftmaxCrossEntropy
from nnlab.config import validate
from nnlab.train.gradcheck import (ABS_TOLERANCE, TOLERANCE, Objective, TensorCheck, check_model, numerical_gradient,
                                  relative_error)
from nnlab.train.model import build_model

N_IN, HIDDEN, N_OUT, BATCH = 5, [6, 4], 3, 8
L1, L2 = 1e-2, 5e-2

DROPOUTS = {
    "no_dropout": 0.0,
    "inverted": {"rate": 0.3, "mode": "inverted"},
    "classic": {"rate": 0.3, "mode": "classic"},
}


def make_model(activation, batch_norm=False, dropout=0.0, seed=0, hidden=HIDDEN, n_out=N_OUT,
               dtype="float64"):
    cfg = validate({"model": {"hidden": hidden, "activation": activation,
                              "batch_norm": batch_norm, "dropout": dropout}})
    model = build_model(cfg.model, N_IN, n_out, dtype, np.random.default_rng(seed),
                        np.random.default_rng(seed + 100))
    # move biases, batch-norm gamma/beta and PReLU alpha off their initial constants, so that the
    # check exercises them at generic values (a zero bias after an all-zero ReLU row is an exact kink)
    rng = np.random.default_rng(seed + 200)
    for t in model.tensors:
        if not t.decay:
            model.view(t.name)[...] += 0.1 * rng.standard_normal(t.shape)
    return model


def data(seed=0, n_out=N_OUT, regression=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, N_IN))
    y = rng.standard_normal((BATCH, n_out)) if regression else rng.integers(0, n_out, BATCH)
    return x, y


def assert_all_pass(results, model):
    assert [r.name for r in results] == [t.name for t in model.tensors]
    bad = [r for r in results if not r.passed]
    assert not bad, bad
    for r, t in zip(results, model.tensors):
        assert r.checked + r.kinks == min(t.size, 64)
        assert r.checked > 0, r  # not everything may be waved through as a kink


@pytest.mark.slow
@pytest.mark.parametrize("dropout", list(DROPOUTS), ids=list(DROPOUTS))
@pytest.mark.parametrize("batch_norm", [False, True], ids=["plain", "bn"])
@pytest.mark.parametrize("activation", activations.names())
def test_classification_network_gradients(activation, batch_norm, dropout):
    model = make_model(activation, batch_norm, DROPOUTS[dropout])
    x, y = data()
    results = check_model(model, SoftmaxCrossEntropy(), x, y, l1=L1, l2=L2)
    assert_all_pass(results, model)
    names = {r.name for r in results}
    assert {"dense1.W", "dense2.W", "dense3.W", "dense1.b", "dense3.b"} <= names
    if batch_norm:
        assert {"bn1.gamma", "bn1.beta", "bn2.gamma", "bn2.beta"} <= names
    if activation == "prelu":
        assert {"prelu1.alpha", "prelu2.alpha"} <= names


@pytest.mark.parametrize("batch_norm", [False, True], ids=["plain", "bn"])
@pytest.mark.parametrize("activation", activations.names())
def test_regression_network_gradients(activation, batch_norm):
    model = make_model(activation, batch_norm, {"rate": 0.3, "mode": "inverted"}, seed=1, n_out=2)
    x, y = data(seed=1, n_out=2, regression=True)
    assert_all_pass(check_model(model, MeanSquaredError(), x, y, l1=L1, l2=L2), model)


def test_wrong_sigmoid_derivative_fails_the_check(monkeypatch):
    model = make_model("sigmoid")
    x, y = data()
    assert all(r.passed for r in check_model(model, SoftmaxCrossEntropy(), x, y, l1=L1, l2=L2))
    monkeypatch.setattr(Sigmoid, "df", lambda self: 2 * self.a * (1 - self.a))
    results = check_model(model, SoftmaxCrossEntropy(), x, y, l1=L1, l2=L2)
    failed = {r.name for r in results if not r.passed}
    # every tensor below the first sigmoid gets a doubled (or quadrupled) gradient
    assert {"dense1.W", "dense1.b", "dense2.W", "dense2.b"} <= failed
    assert "dense3.b" not in failed  # the output layer's bias does not pass through a sigmoid
    assert all(r.rel_error > 0.1 for r in results if r.name in failed)


def test_wrong_regularization_gradient_fails_the_check(monkeypatch):
    import nnlab.train.gradcheck as gc

    model = make_model("tanh")
    x, y = data()
    monkeypatch.setattr(gc, "add_penalty_grad", lambda gw, w, l1, l2: None)  # forgets the penalty
    results = check_model(model, SoftmaxCrossEntropy(), x, y, l1=0.5, l2=0.5)
    assert not all(r.passed for r in results)
    assert {r.name for r in results if not r.passed} >= {"dense1.W", "dense2.W", "dense3.W"}


def _relu_net_with_a_dead_unit():
    model = make_model("relu", hidden=[6])
    model.view("dense1.W")[:, 0] = 0.0
    model.view("dense1.b")[0] = 0.0  # unit 0's pre-activation is exactly 0 for every sample
    x, y = data()
    x[np.abs(x) < 0.1] = 0.5  # every input clearly nonzero, so +-h moves z to both sides of 0
    return model, x, y


def test_relu_at_exactly_zero_is_reported_as_a_kink():
    model, x, y = _relu_net_with_a_dead_unit()
    results = {r.name: r for r in check_model(model, SoftmaxCrossEntropy(), x, y, l1=L1, l2=L2)}
    assert all(r.passed for r in results.values())
    # unit 0's 5 incoming weights and its bias have no derivative there
    assert results["dense1.W"].kinks == 5 and results["dense1.W"].checked == 25
    assert results["dense1.b"].kinks == 1 and results["dense1.b"].checked == 5
    assert results["dense2.W"].kinks == 0


def test_relu_kink_would_fail_without_kink_detection(monkeypatch):
    model, x, y = _relu_net_with_a_dead_unit()
    monkeypatch.setattr(ReLU, "kink_state", None)
    results = {r.name: r for r in check_model(model, SoftmaxCrossEntropy(), x, y)}
    assert results["dense1.W"].kinks == 0
    # the centred difference across the kink is half the one-sided slope, backprop says 0
    assert not results["dense1.b"].passed or not results["dense1.W"].passed


def test_check_model_needs_float64():
    model = make_model("tanh", dtype="float32")
    x, y = data()
    with pytest.raises(ValueError, match="float64"):
        check_model(model, SoftmaxCrossEntropy(), x.astype(np.float32), y)


def test_check_model_restores_parameters():
    model = make_model("tanh", batch_norm=True, dropout={"rate": 0.3, "mode": "inverted"})
    before = model.params.copy()
    x, y = data()
    check_model(model, SoftmaxCrossEntropy(), x, y, l1=L1, l2=L2)
    np.testing.assert_array_equal(model.params, before)


def test_numerical_gradient_of_sum_of_cubes():
    x = np.array([[-2.0, -0.5, 0.0], [0.3, 1.0, 4.0]])
    x0 = x.copy()
    g = numerical_gradient(lambda: float(np.sum(x ** 3)), x)
    # centred difference error is exactly h^2 per entry for a cubic
    np.testing.assert_allclose(g, 3 * x0 ** 2, rtol=1e-8, atol=1e-9)
    np.testing.assert_array_equal(x, x0)  # perturbed in place and restored
    assert g.dtype == np.float64 and g.shape == x.shape


def test_numerical_gradient_perturbs_a_non_contiguous_view():
    base = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    view = base.T  # (3, 2), not C-contiguous: reshape(-1) of it would be a copy
    g = numerical_gradient(lambda: float(np.sum(base ** 2 * np.arange(1.0, 7.0).reshape(2, 3))), view)
    np.testing.assert_allclose(g, (2 * base * np.arange(1.0, 7.0).reshape(2, 3)).T, rtol=1e-8)
    col = base[:, 1]  # a strided column
    np.testing.assert_allclose(numerical_gradient(lambda: float(np.sum(base[:, 1] ** 3)), col), [12.0, 75.0],
                               rtol=1e-8)
    np.testing.assert_array_equal(base, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])


def test_relative_error_and_pass_rule():
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert relative_error(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(np.sqrt(2) / 2)
    assert relative_error(np.array([2.0]), np.array([1.0])) == pytest.approx(1 / 3)
    assert TOLERANCE == 1e-6 and ABS_TOLERANCE == 1e-8
    assert TensorCheck("w", (2,), 2, 0, 1e-7, 1.0).passed
    assert not TensorCheck("w", (2,), 2, 0, 1e-5, 1e-6).passed
    assert TensorCheck("b", (2,), 2, 0, 1.0, 1e-9).passed  # a zero gradient agreeing in absolute terms


# -- the formula: centred (order 2) or forward (order 1) differences ------------------------------------


def test_numerical_gradient_forward_formula_of_sum_of_cubes():
    x = np.array([[-2.0, -0.5, 0.0], [0.3, 1.0, 4.0]])
    x0 = x.copy()
    h = 1e-3
    g = numerical_gradient(lambda: float(np.sum(x ** 3)), x, h=h, formula="forward")
    # ((x + h)^3 - x^3) / h = 3 x^2 + 3 x h + h^2: an error of order h, against the centred h^2
    np.testing.assert_allclose(g, 3 * x0 ** 2 + 3 * x0 * h + h * h, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(x, x0)
    with pytest.raises(ValueError, match="formula must be one of centered, forward, got 'backward'"):
        numerical_gradient(lambda: 0.0, x, formula="backward")


def max_error(model, x, y, h, formula):
    results = check_model(model, SoftmaxCrossEntropy(), x, y, h=h, formula=formula)
    assert all(r.kinks == 0 and r.checked > 0 for r in results)
    return max(r.rel_error for r in results)


def test_halving_h_divides_the_centred_error_by_4_and_the_forward_error_by_2():
    # CS224n 2.1: the centred difference's error is of the order of h^2; a smooth (tanh) net in float64,
    # with h large enough that round-off (~1e-16 / h) stays far below the truncation error
    model = make_model("tanh")
    x, y = data()
    for formula, factor in (("centered", 4), ("forward", 2)):
        ratio = max_error(model, x, y, 1e-2, formula) / max_error(model, x, y, 5e-3, formula)
        assert factor * 0.85 < ratio < factor * 1.15, (formula, ratio)
    assert max_error(model, x, y, 1e-3, "forward") > 100 * max_error(model, x, y, 1e-3, "centered")
    with pytest.raises(ValueError, match="formula must be one of"):
        check_model(model, SoftmaxCrossEntropy(), x, y, formula="central")


def test_forward_formula_flags_a_relu_kink_too():
    model, x, y = _relu_net_with_a_dead_unit()
    results = {r.name: r for r in check_model(model, SoftmaxCrossEntropy(), x, y, h=1e-7, formula="forward")}
    # +h moves unit 0's z = 0 off the kink for some samples: those 5 weights and the bias are flagged
    assert results["dense1.W"].kinks == 5 and results["dense1.b"].kinks == 1
    assert results["dense2.W"].kinks == 0 and results["dense2.W"].rel_error < 1e-5


def test_the_penalty_reaches_the_biases_only_when_asked():
    model = make_model("tanh")
    x, y = data()
    assert all(r.passed for r in check_model(model, SoftmaxCrossEntropy(), x, y, l1=L1, l2=L2, biases=True))
    with_b = Objective(model, SoftmaxCrossEntropy(), x, y, L1, L2, biases=True)
    without = Objective(model, SoftmaxCrossEntropy(), x, y, L1, L2)
    b = np.concatenate([model.view(t.name).ravel() for t in model.tensors if t.bias])
    assert with_b.value() - without.value() == pytest.approx(L1 * np.abs(b).sum() + L2 / 2 * (b @ b), rel=1e-9)
    g = with_b.gradient() - without.gradient()
    for t in model.tensors:
        part = g[t.start:t.start + t.size]
        want = L2 * model.view(t.name).ravel() + L1 * np.sign(model.view(t.name).ravel()) if t.bias else 0.0
        np.testing.assert_allclose(part, want, rtol=1e-12, atol=1e-15)
