"""Weight initializers: shape/dtype, variance against the formula within sampling error,
bounds of the uniform ones, orthogonality (and the QR it comes from), exact constants, the
defaults of a direct call, seeding, zero biases.

Every test parametrized over ``initializers.names()`` requires an entry in EXPECT,
so a newly registered initializer fails here until its expected behaviour is written down.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnlab.components.initializers import constant, initializers, normal, orthogonal, uniform

NAMES = initializers.names()
FAN_IN, FAN_OUT = 400, 300

# name -> (spec, what to expect); ("normal"|"uniform", variance, limit or None), ("exact", value),
# ("orthogonal", gain).  Variances are written from the papers' formulas, not read from the code.
EXPECT = {
    "zeros": ({"name": "zeros"}, ("exact", 0.0)),
    "constant": ({"name": "constant", "value": 0.3}, ("exact", 0.3)),
    "normal": ({"name": "normal", "std": 0.05}, ("normal", 0.05 ** 2, None)),
    "uniform": ({"name": "uniform", "limit": 0.2}, ("uniform", 0.2 ** 2 / 3, 0.2)),
    "xavier_uniform": ({"name": "xavier_uniform"},
                       ("uniform", 2 / (FAN_IN + FAN_OUT), math.sqrt(6 / (FAN_IN + FAN_OUT)))),
    "xavier_normal": ({"name": "xavier_normal"}, ("normal", 2 / (FAN_IN + FAN_OUT), None)),
    "he_uniform": ({"name": "he_uniform"}, ("uniform", 2 / FAN_IN, math.sqrt(6 / FAN_IN))),
    "he_normal": ({"name": "he_normal"}, ("normal", 2 / FAN_IN, None)),
    "lecun_uniform": ({"name": "lecun_uniform"}, ("uniform", 1 / FAN_IN, math.sqrt(3 / FAN_IN))),
    "lecun_normal": ({"name": "lecun_normal"}, ("normal", 1 / FAN_IN, None)),
    "orthogonal": ({"name": "orthogonal", "gain": 1.5}, ("orthogonal", 1.5)),
}


def build(name, fan_in=FAN_IN, fan_out=FAN_OUT, seed=0, dtype=np.float64, spec=None):
    assert name in EXPECT, f"add the expected behaviour of the new initializer '{name}'"
    return initializers.build(spec or EXPECT[name][0], fan_in, fan_out, np.random.default_rng(seed), dtype)


def test_every_initializer_has_an_expectation():
    assert set(NAMES) == set(EXPECT)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_shape_and_dtype(name, dtype):
    for fan_in, fan_out in ((7, 3), (3, 7), (5, 5)):
        W = build(name, fan_in, fan_out, dtype=dtype)
        assert W.shape == (fan_in, fan_out)
        assert W.dtype == dtype
        assert np.all(np.isfinite(W))


@pytest.mark.parametrize("name", NAMES)
def test_distribution_matches_formula(name):
    W = build(name)
    kind = EXPECT[name][1]
    n = W.size
    if kind[0] == "exact":
        np.testing.assert_array_equal(W, np.full((FAN_IN, FAN_OUT), kind[1]))
    elif kind[0] == "orthogonal":
        gain = kind[1]
        # a tall W (fan_in > fan_out) has orthonormal columns
        np.testing.assert_allclose(W.T @ W, gain ** 2 * np.eye(FAN_OUT), atol=1e-12)
    else:
        dist, var, limit = kind
        # Var of the sample second moment: 2 s^4 / n for a normal, (4/5) s^4 / n for a uniform
        se_var = var * math.sqrt((2.0 if dist == "normal" else 0.8) / n)
        emp = float(np.mean(W * W))  # the mean is 0 by construction
        assert abs(emp - var) < 5 * se_var, (emp, var)
        assert abs(W.mean()) < 5 * math.sqrt(var / n)
        if dist == "uniform":
            assert np.all(np.abs(W) <= limit)
            assert W.max() > 0.99 * limit and W.min() < -0.99 * limit
        else:  # a normal draw: about 4.6% of entries beyond 2 std, none beyond ~6 std
            frac = np.mean(np.abs(W) > 2 * math.sqrt(var))
            assert abs(frac - 0.0455) < 0.005
            assert np.max(np.abs(W)) < 6.5 * math.sqrt(var)


@pytest.mark.parametrize("fan_in, fan_out", [(50, 20), (20, 50), (30, 30)])
@pytest.mark.parametrize("gain", [1.0, 1.5, 0.5])
def test_orthogonal(fan_in, fan_out, gain):
    W = build("orthogonal", fan_in, fan_out, spec={"name": "orthogonal", "gain": gain})
    if fan_in >= fan_out:  # tall: orthonormal columns
        np.testing.assert_allclose(W.T @ W, gain ** 2 * np.eye(fan_out), atol=1e-12)
    if fan_in <= fan_out:  # wide: orthonormal rows
        np.testing.assert_allclose(W @ W.T, gain ** 2 * np.eye(fan_in), atol=1e-12)
    np.testing.assert_allclose(np.linalg.svd(W, compute_uv=False), gain, rtol=1e-12)


@pytest.mark.parametrize("fan_in, fan_out", [(30, 30), (50, 20), (20, 50)])
def test_orthogonal_is_the_q_factor_of_the_gaussian_draw(fan_in, fan_out):
    # W = gain * Q with A = Q R the QR of the (tall) Gaussian draw A, R's diagonal made positive:
    # then Q^T A = R is upper triangular with a positive diagonal (Q = W^T for a wide W)
    gain = 1.5
    W = build("orthogonal", fan_in, fan_out, seed=3, spec={"name": "orthogonal", "gain": gain})
    A = np.random.default_rng(3).standard_normal((max(fan_in, fan_out), min(fan_in, fan_out)))
    Q = (W if fan_in >= fan_out else W.T) / gain
    R = Q.T @ A
    np.testing.assert_allclose(np.tril(R, -1), 0.0, atol=1e-12)
    assert np.all(np.diag(R) > 0)


def test_orthogonal_float32():
    W = build("orthogonal", 40, 10, dtype=np.float32)
    assert W.dtype == np.float32
    np.testing.assert_allclose(W.T @ W, 1.5 ** 2 * np.eye(10), atol=1e-5)


def test_variance_formulas_differ_as_in_the_notes():
    # He keeps 2/fan_in, Xavier 2/(fan_in+fan_out); with fan_in < fan_out He is smaller
    he = build("he_normal", 100, 900)
    xavier = build("xavier_normal", 100, 900)
    assert abs(he.var() - 0.02) < 0.001 and abs(xavier.var() - 0.002) < 0.0001


def test_direct_calls_use_the_documented_defaults():
    # a config resolved by validate() names every option; a direct call takes the signature's defaults:
    # constant value 0.0, normal std 0.01, uniform limit 0.05, orthogonal gain 1.0
    def rng():
        return np.random.default_rng(0)

    np.testing.assert_array_equal(constant(4, 3, rng(), np.float64), np.zeros((4, 3)))
    W = normal(FAN_IN, FAN_OUT, rng(), np.float64)
    var = 0.01 ** 2
    assert abs(float(np.mean(W * W)) - var) < 5 * var * math.sqrt(2.0 / W.size)
    U = uniform(FAN_IN, FAN_OUT, rng(), np.float64)
    assert np.all(np.abs(U) <= 0.05) and U.max() > 0.99 * 0.05 and U.min() < -0.99 * 0.05
    Q = orthogonal(50, 20, rng(), np.float64)
    np.testing.assert_allclose(Q.T @ Q, np.eye(20), atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_weights(name):
    a = build(name, 20, 10, seed=42)
    b = build(name, 20, 10, seed=42)
    np.testing.assert_array_equal(a, b)
    c = build(name, 20, 10, seed=43)
    if EXPECT[name][1][0] == "exact":
        np.testing.assert_array_equal(a, c)
    else:
        assert not np.array_equal(a, c)


@pytest.mark.parametrize("name", NAMES)
def test_built_model_has_zero_biases_and_initialized_weights(name):
    from nnlab.config import validate
    from nnlab.train.model import build_model

    spec = EXPECT[name][0]
    cfg = validate({"model": {"hidden": [6, 4], "init": spec, "batch_norm": True}})
    model = build_model(cfg.model, 5, 3, "float64", np.random.default_rng(11), np.random.default_rng(12))
    for layer in ("dense1", "dense2", "dense3"):
        np.testing.assert_array_equal(model.view(f"{layer}.b"), 0.0)
    for layer in ("bn1", "bn2"):
        np.testing.assert_array_equal(model.view(f"{layer}.gamma"), 1.0)
        np.testing.assert_array_equal(model.view(f"{layer}.beta"), 0.0)
    # the weights are the initializer's draws, layer by layer from the same generator
    rng = np.random.default_rng(11)
    for layer, shape in (("dense1", (5, 6)), ("dense2", (6, 4)), ("dense3", (4, 3))):
        np.testing.assert_array_equal(model.view(f"{layer}.W"), initializers.build(spec, *shape, rng, np.float64))
