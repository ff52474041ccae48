"""Layers: Dense by hand (and the 003 note's worked 2-2-2 ReLU example), Dropout's two
conventions, BatchNorm statistics and gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnlab.components.activations import ReLU
from nnlab.components.layers import BatchNorm, Dense, Dropout
from nnlab.train.gradcheck import numerical_gradient, relative_error
from nnlab.train.model import MLP


def bind(layer, n_in, dtype=np.float64, **values):
    """Give a layer its parameter/gradient arrays (fills from its specs, overridden by values)."""
    specs = layer.param_specs(n_in)
    params = {s.name: np.full(s.shape, s.fill, dtype=dtype) for s in specs}
    for k, v in values.items():
        params[k][...] = v
    layer.bind(params, {s.name: np.zeros(s.shape, dtype=dtype) for s in specs})
    return layer


def centred_difference(fun, x, h=1e-6):
    """Centred differences of fun() in x (nnlab.train.gradcheck's own, tested in test_gradcheck.py)."""
    return numerical_gradient(fun, x, h)


rel_error = relative_error


# ---------------------------------------------------------------- Dense


def test_dense_forward_backward_by_hand():
    W = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]])
    b = np.array([0.5, -1.0])
    dense = bind(Dense(2), 3, W=W, b=b)
    assert [(s.name, s.shape, s.decay) for s in dense.param_specs(3)] == [("W", (3, 2), True), ("b", (2,), False)]
    x = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 2.0]])
    out = dense.forward(x)
    np.testing.assert_array_equal(out, [[4.5, -2.0], [1.5, -3.0]])
    dout = np.array([[1.0, 2.0], [0.0, -1.0]])
    dx = dense.backward(dout.copy())
    np.testing.assert_array_equal(dense.g["W"], [[1.0, 3.0], [2.0, 4.0], [3.0, 4.0]])  # x^T dout
    np.testing.assert_array_equal(dense.g["b"], [1.0, 1.0])  # sum over the batch
    np.testing.assert_array_equal(dx, [[1.0, 2.0, -1.0], [0.0, -1.0, 1.0]])  # dout W^T
    assert dense.backward(dout.copy(), need_dx=False) is None
    np.testing.assert_array_equal(dense.g["W"], [[1.0, 3.0], [2.0, 4.0], [3.0, 4.0]])


def test_dense_backward_matches_finite_differences():
    rng = np.random.default_rng(0)
    dense = bind(Dense(3), 4, W=rng.standard_normal((4, 3)), b=rng.standard_normal(3))
    x = rng.standard_normal((5, 4))
    w = rng.standard_normal((5, 3))

    def J():
        return float(np.sum(w * dense.forward(x)))

    num_x = centred_difference(J, x)
    num_W = centred_difference(J, dense.p["W"])
    num_b = centred_difference(J, dense.p["b"])
    dense.forward(x)
    dx = dense.backward(w.copy())
    for ana, num in ((dx, num_x), (dense.g["W"], num_W), (dense.g["b"], num_b)):
        assert rel_error(ana, num) < 1e-9


def test_worked_example_from_the_003_note():
    """n1 = max(3*1 + 4*(-1) + 9, 0) = 8, n2 = max(3*2 + 4*0 - 3, 0) = 3,
    n3 = max(8*4 + 3*3 + 5, 0) = 46, n4 = max(8*(-2) + 3*1 + 0, 0) = 0."""
    model = MLP([("dense1", Dense(2)), ("relu1", ReLU()), ("dense2", Dense(2)), ("relu2", ReLU())],
                n_in=2, dtype="float64")
    # W[i, j]: weight from input i to neuron j
    model.view("dense1.W")[...] = [[1.0, 2.0], [-1.0, 0.0]]
    model.view("dense1.b")[...] = [9.0, -3.0]
    model.view("dense2.W")[...] = [[4.0, -2.0], [3.0, 1.0]]
    model.view("dense2.b")[...] = [5.0, 0.0]
    x = np.array([[3.0, 4.0]])
    y = model.forward(x, train=False)
    np.testing.assert_array_equal(y, [[46.0, 0.0]])
    np.testing.assert_array_equal(model.layers[1].a, [[8.0, 3.0]])  # n1, n2
    np.testing.assert_array_equal(model.layers[2].x, [[8.0, 3.0]])
    # backprop of d(y1 + y2)/dtheta by hand: n4 is off, so only y1 = n3 passes a gradient
    model.forward(x, train=True)
    model.backward(np.ones((1, 2)))
    np.testing.assert_array_equal(model.view("dense2.W", grad=True), [[8.0, 0.0], [3.0, 0.0]])
    np.testing.assert_array_equal(model.view("dense2.b", grad=True), [1.0, 0.0])
    # dn = (4, 3) (the weights of n3); both n1 and n2 are on
    np.testing.assert_array_equal(model.view("dense1.W", grad=True), [[12.0, 9.0], [16.0, 12.0]])
    np.testing.assert_array_equal(model.view("dense1.b", grad=True), [4.0, 3.0])


# ---------------------------------------------------------------- Dropout

P = 0.3
KEEP = 1 - P
X_ROW = np.array([1.0, -2.0, 3.0, 0.5])


def _many(x_row, n):
    return np.repeat(x_row[None, :], n, axis=0)


def test_dropout_mask_is_bernoulli_keep_probability():
    for mode in ("inverted", "classic", "unscaled"):
        drop = Dropout(P, mode, np.random.default_rng(0))
        x = np.ones((400, 250))
        out = drop.forward(x, train=True)
        kept = np.count_nonzero(out) / out.size
        se = math.sqrt(KEEP * P / out.size)
        assert abs(kept - KEEP) < 5 * se, (mode, kept)
        scale = 1 / KEEP if mode == "inverted" else 1.0
        np.testing.assert_allclose(np.unique(out), [0.0, scale], rtol=1e-15)


def test_dropout_same_seed_same_mask_and_new_mask_each_batch():
    x = np.ones((20, 30))
    a = Dropout(P, "inverted", np.random.default_rng(5)).forward(x, train=True)
    drop = Dropout(P, "inverted", np.random.default_rng(5))
    b = drop.forward(x, train=True)
    np.testing.assert_array_equal(a, b)
    c = drop.forward(x, train=True)
    assert not np.array_equal(b, c)
    drop.frozen = True
    np.testing.assert_array_equal(drop.forward(x, train=True), c)


@pytest.mark.parametrize("mode, train_mean, eval_out", [
    ("inverted", X_ROW, X_ROW),  # scale at training time: E[train] = x, test output x
    ("classic", X_ROW * KEEP, X_ROW * KEEP),  # scale at test time: E[train] = (1-p) x = test output
    ("unscaled", X_ROW * KEEP, X_ROW),  # the deliberate mistake: E[train] = (1-p) x, but the test output is x
])
def test_dropout_conventions(mode, train_mean, eval_out):
    n = 40000
    drop = Dropout(P, mode, np.random.default_rng(1))
    out = drop.forward(_many(X_ROW, n), train=True)
    kept_value = X_ROW / KEEP if mode == "inverted" else X_ROW
    # every entry is 0 or the kept value
    assert np.all((out == 0) | np.isclose(out, kept_value, rtol=1e-15, atol=0))
    # mean over many draws within 5 binomial standard errors
    se = np.abs(kept_value) * math.sqrt(KEEP * P) / math.sqrt(n)
    assert np.all(np.abs(out.mean(axis=0) - train_mean) < 5 * se), out.mean(axis=0)
    # evaluation never drops and is deterministic
    x = _many(X_ROW, 1000)
    ev = drop.forward(x, train=False)
    np.testing.assert_allclose(ev, _many(eval_out, 1000), rtol=1e-15, atol=0)
    if mode != "classic":
        np.testing.assert_array_equal(ev, x)
    assert np.count_nonzero(ev) == ev.size


@pytest.mark.parametrize("mode, kept_scale, test_scale", [("inverted", 1 / 0.75, 1.0), ("classic", 1.0, 0.75),
                                                          ("unscaled", 1.0, 1.0)])
def test_dropout_forward_values_of_each_mode_by_hand(mode, kept_scale, test_scale):
    # p = 0.25; the mask is Bernoulli(0.75) from the layer's uniforms (draw < keep), replayed here
    x = np.array([[1.0, -2.0, 3.0, 0.5], [4.0, 0.25, -1.0, 2.0]])
    mask = np.random.default_rng(7).random(x.shape) < 0.75
    assert 0 < mask.sum() < mask.size
    drop = Dropout(0.25, mode, np.random.default_rng(7))
    np.testing.assert_array_equal(drop.forward(x, train=True), np.where(mask, x * kept_scale, 0.0))
    np.testing.assert_array_equal(drop.forward(x, train=False), x * test_scale)
    # the test output against the training expectation 0.75 kept_scale x: equal but for 'unscaled'
    assert (0.75 * kept_scale == test_scale) == (mode != "unscaled")


def test_dropout_eval_never_drops_even_at_high_rate():
    x = np.random.default_rng(2).uniform(0.5, 1.5, (100, 50))
    for mode in ("inverted", "classic", "unscaled"):
        out = Dropout(0.9, mode, np.random.default_rng(0)).forward(x, train=False)
        assert np.count_nonzero(out) == out.size
        np.testing.assert_allclose(out, x * (1 - 0.9) if mode == "classic" else x, rtol=1e-15)


@pytest.mark.parametrize("mode", ["inverted", "classic", "unscaled"])
def test_dropout_backward_only_through_kept_units_with_same_scale(mode):
    rng = np.random.default_rng(4)
    x = rng.uniform(0.5, 2.0, (50, 8))  # no zeros, so out == 0 exactly where dropped
    drop = Dropout(P, mode, np.random.default_rng(9))
    out = drop.forward(x, train=True)
    kept = out != 0
    assert 0 < kept.mean() < 1
    scale = 1 / KEEP if mode == "inverted" else 1.0
    np.testing.assert_allclose(out[kept], x[kept] * scale, rtol=1e-15)
    dout = rng.standard_normal(x.shape)
    dx = drop.backward(dout.copy())
    np.testing.assert_allclose(dx, np.where(kept, dout * scale, 0.0), rtol=1e-15, atol=0)


@pytest.mark.parametrize("mode", ["inverted", "classic", "unscaled"])
def test_dropout_backward_matches_finite_differences_with_frozen_mask(mode):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((7, 5))
    w = rng.standard_normal((7, 5))
    drop = Dropout(P, mode, np.random.default_rng(3))
    drop.forward(x, train=True)
    drop.frozen = True

    def J():
        return float(np.sum(w * drop.forward(x, train=True)))

    num = centred_difference(J, x)
    drop.forward(x, train=True)
    assert rel_error(drop.backward(w.copy()), num) < 1e-9


def test_dropout_float32_stays_float32():
    x = np.ones((10, 10), dtype=np.float32)
    for mode in ("inverted", "classic", "unscaled"):
        drop = Dropout(P, mode, np.random.default_rng(0))
        assert drop.forward(x, train=True).dtype == np.float32
        assert drop.forward(x, train=False).dtype == np.float32


# ---------------------------------------------------------------- BatchNorm


def test_batchnorm_training_output_is_standardized():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)) * [1.0, 5.0, 0.2] + [3.0, -7.0, 0.5]
    bn = bind(BatchNorm(), 3)
    np.testing.assert_array_equal(bn.p["gamma"], [1, 1, 1])
    np.testing.assert_array_equal(bn.p["beta"], [0, 0, 0])
    out = bn.forward(x, train=True)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-12)
    var = x.var(axis=0)
    np.testing.assert_allclose(out.var(axis=0), var / (var + 1e-5), rtol=1e-10)
    np.testing.assert_allclose(out.var(axis=0), 1.0, atol=3e-4)  # the eps shrinks it slightly


def test_batchnorm_by_hand_and_running_statistics():
    bn = bind(BatchNorm(momentum=0.9, eps=1e-5), 1, gamma=2.0, beta=0.5)
    x = np.array([[1.0], [3.0]])  # mean 2, biased variance 1
    out = bn.forward(x, train=True)
    np.testing.assert_allclose(out, [[-2.0 / math.sqrt(1 + 1e-5) + 0.5], [2.0 / math.sqrt(1 + 1e-5) + 0.5]],
                               rtol=1e-15)
    # running = 0.9 * running + 0.1 * batch, from mean 0 and var 1
    np.testing.assert_allclose(bn.running_mean, [0.2], rtol=1e-15)
    np.testing.assert_allclose(bn.running_var, [1.0], rtol=1e-15)
    # evaluation uses the running statistics: (2.2 - 0.2) / sqrt(1 + eps) * 2 + 0.5
    np.testing.assert_allclose(bn.forward(np.array([[2.2], [0.2]]), train=False),
                               [[4.0 / math.sqrt(1 + 1e-5) + 0.5], [0.5]], rtol=1e-14)
    # evaluation does not move the running statistics
    np.testing.assert_allclose(bn.running_mean, [0.2], rtol=1e-15)
    # a second batch: mean 10, biased variance 4
    bn.forward(np.array([[8.0], [12.0]]), train=True)
    np.testing.assert_allclose(bn.running_mean, [0.9 * 0.2 + 0.1 * 10.0], rtol=1e-15)
    np.testing.assert_allclose(bn.running_var, [0.9 * 1.0 + 0.1 * 4.0], rtol=1e-15)


def test_batchnorm_running_statistics_several_features_and_momentum():
    rng = np.random.default_rng(1)
    bn = bind(BatchNorm(momentum=0.8, eps=1e-3), 4)
    rm, rv = np.zeros(4), np.ones(4)
    for _ in range(3):
        x = rng.standard_normal((16, 4)) * 3 + 1
        bn.forward(x, train=True)
        rm = 0.8 * rm + 0.2 * x.mean(axis=0)
        rv = 0.8 * rv + 0.2 * x.var(axis=0)  # biased (ddof=0) batch variance
    np.testing.assert_allclose(bn.running_mean, rm, rtol=1e-13)
    np.testing.assert_allclose(bn.running_var, rv, rtol=1e-13)
    x = rng.standard_normal((5, 4))
    np.testing.assert_allclose(bn.forward(x, train=False), (x - rm) / np.sqrt(rv + 1e-3), rtol=1e-12)


@pytest.mark.parametrize("gamma, beta", [(1.0, 0.0), ([0.5, -2.0, 3.0], [1.0, 0.0, -0.5])])
def test_batchnorm_backward_matches_finite_differences(gamma, beta):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 3)) * [1.0, 3.0, 0.5] + [0.0, 2.0, -1.0]
    w = rng.standard_normal((6, 3))
    bn = bind(BatchNorm(), 3, gamma=gamma, beta=beta)

    def J():
        return float(np.sum(w * bn.forward(x, train=True)))

    num_x = centred_difference(J, x)
    num_gamma = centred_difference(J, bn.p["gamma"])
    num_beta = centred_difference(J, bn.p["beta"])
    bn.forward(x, train=True)
    dx = bn.backward(w.copy())
    assert rel_error(dx, num_x) < 1e-7
    assert rel_error(bn.g["gamma"], num_gamma) < 1e-7
    assert rel_error(bn.g["beta"], num_beta) < 1e-7
    # need_dx=False still fills the parameter gradients
    bn.g["gamma"][...] = 0
    assert bn.backward(w.copy(), need_dx=False) is None
    assert rel_error(bn.g["gamma"], num_gamma) < 1e-7
    # the input gradient of a batch-normalized layer sums to 0 over the batch
    np.testing.assert_allclose(dx.sum(axis=0), 0.0, atol=1e-12)


# ---------------------------------------------------------------- defaults and dtypes
# (added for mutation testing, see docs/mutants.md)


def test_forward_defaults_to_training_mode():
    x = np.random.default_rng(0).normal(size=(50, 4))
    drop = Dropout(0.5, "inverted", np.random.default_rng(1))
    assert (drop.forward(x) == 0).any()  # train=True by default: units are dropped
    bn = bind(BatchNorm(), 4)
    assert (bn.momentum, bn.eps) == (0.9, 1e-5)  # Keras/CS231n momentum, torch's eps
    bn.forward(x)  # a training pass: the running statistics move
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(axis=0), rtol=1e-12)


def test_batchnorm_running_statistics_keep_float32():
    bn = bind(BatchNorm(), 3, dtype=np.float32)
    bn.forward(np.ones((4, 3), dtype=np.float32), train=False)
    assert bn.running_mean.dtype == np.float32 and bn.running_var.dtype == np.float32


@pytest.mark.parametrize("dtypes", [(np.float64, np.float32), (np.float32, np.float64)])
def test_dense_follows_a_change_of_dtype_at_the_same_batch_size(dtypes):
    # one layer, the same batch size, the data type switched: its cached buffers must follow
    layer = Dense(2)
    for dtype in dtypes:
        bind(layer, 3, dtype=dtype, W=1.0)
        out = layer.forward(np.arange(12, dtype=dtype).reshape(4, 3))
        dx = layer.backward(np.ones((4, 2), dtype=dtype))
        assert out.dtype == dtype and dx.dtype == dtype
        np.testing.assert_array_equal(dx, np.full((4, 3), 2.0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_mask_comes_from_uniforms_of_the_data_dtype(dtype):
    # float32 data draws float32 uniforms (half the random bits): the mask is fixed by the seed
    x = np.ones((20, 7), dtype=dtype)
    out = Dropout(0.3, "inverted", np.random.default_rng(5)).forward(x)
    keep = np.random.default_rng(5).random(x.shape, dtype=dtype) < 0.7
    np.testing.assert_array_equal(out != 0, keep)
