"""Activations: forward values against independently written formulas, backward against
centred differences and the CS224n derivative formulas, RReLU/PReLU specifics, dtypes.

Every test that is parametrized over ``activations.names()`` asserts that the
activation has an entry in the tables below, so a newly registered activation
fails here until it is given a reference formula.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnlab.components.activations import PReLU, activations

NAMES = activations.names()

SELU_SCALE = 1.0507009873554805
SELU_ALPHA = 1.6732632423543772


# ---------------------------------------------------------------- independent scalar reference formulas


def _sigmoid(z):
    # 1 / (1 + e^-z), written so that neither branch overflows
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _softplus(z):
    # log(1 + e^z) = max(z, 0) + log(1 + e^-|z|)
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


# name -> (build spec, scalar reference f(z)); maxout is (N, 2k) -> (N, k) and is checked separately
REFERENCE = {
    "identity": ("identity", lambda z: z),
    "sigmoid": ("sigmoid", _sigmoid),
    "tanh": ("tanh", math.tanh),
    "hard_tanh": ("hard_tanh", lambda z: min(max(z, -1.0), 1.0)),
    "softsign": ("softsign", lambda z: z / (1.0 + abs(z))),
    "relu": ("relu", lambda z: max(z, 0.0)),
    "leaky_relu": ("leaky_relu", lambda z: z if z > 0 else 0.01 * z),
    "prelu": ("prelu", lambda z: z if z > 0 else 0.25 * z),  # alpha starts at 0.25
    # evaluation mode: the mean slope (1/8 + 1/3) / 2
    "rrelu": ("rrelu", lambda z: z if z > 0 else (1 / 8 + 1 / 3) / 2 * z),
    "elu": ("elu", lambda z: z if z > 0 else 1.0 * (math.exp(z) - 1.0)),
    "selu": ("selu", lambda z: SELU_SCALE * (z if z > 0 else SELU_ALPHA * (math.exp(z) - 1.0))),
    "gelu": ("gelu", lambda z: z * 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))),
    "swish": ("swish", lambda z: z * _sigmoid(z)),
    "softplus": ("softplus", _softplus),
    "maxout": ("maxout", None),
}

# hand-worked values (literal numbers, not formulas): name -> [(z, expected)]
LITERAL = {
    "identity": [(-2.5, -2.5), (0.0, 0.0), (3.0, 3.0)],
    "sigmoid": [(0.0, 0.5), (math.log(3.0), 0.75), (-math.log(3.0), 0.25)],
    "tanh": [(0.0, 0.0), (1.0, 0.7615941559557649), (-1.0, -0.7615941559557649)],
    "hard_tanh": [(-2.0, -1.0), (-1.0, -1.0), (0.5, 0.5), (1.0, 1.0), (3.0, 1.0)],
    "softsign": [(3.0, 0.75), (-1.0, -0.5), (0.0, 0.0)],
    "relu": [(-2.0, 0.0), (0.0, 0.0), (3.0, 3.0)],
    "leaky_relu": [(-2.0, -0.02), (0.0, 0.0), (3.0, 3.0)],
    "prelu": [(-2.0, -0.5), (0.0, 0.0), (3.0, 3.0)],
    "rrelu": [(-24.0, -5.5), (0.0, 0.0), (3.0, 3.0)],  # -24 * 11/48
    "elu": [(-1.0, -0.6321205588285577), (0.0, 0.0), (2.0, 2.0)],
    "selu": [(1.0, 1.0507009873554805), (0.0, 0.0), (-1.0, -1.1113307378125625)],
    "gelu": [(0.0, 0.0), (1.0, 0.8413447460685429), (-1.0, -0.15865525393145707)],
    "swish": [(0.0, 0.0), (1.0, 0.7310585786300049), (-1.0, -0.2689414213699951)],
    "softplus": [(0.0, math.log(2.0)), (1.0, 1.3132616875182228), (-1.0, 0.31326168751822286)],
    "maxout": [],  # see test_maxout_forward_hand_made
}

POINTS = np.array([-3.0, -1.5, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.5, 1.0, 2.0, 3.7, 10.0])

# points away from every kink (0, +-1), for the derivative checks; (3, 4) so maxout pairs have no ties
SMOOTH = np.array([[-2.7, -1.3, -0.6, -0.2],
                   [0.15, 0.45, 0.8, 1.6],
                   [2.2, -0.85, 1.25, -2.05]])


def make(name, n_features, dtype=np.float64, spec=None, alpha=None):
    """Build an activation; bind its parameters (PReLU's alpha) the way nnlab.train.model does."""
    act = activations.build(spec or name)
    act.rng = np.random.default_rng(123)
    specs = act.param_specs(n_features)
    if specs:
        params = {s.name: np.full(s.shape, s.fill, dtype=dtype) for s in specs}
        if alpha is not None:
            params["alpha"][...] = alpha
        act.bind(params, {s.name: np.zeros(s.shape, dtype=dtype) for s in specs})
    return act


def centred_difference(fun, z, h=1e-6):
    grad = np.zeros_like(z)
    for i in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[i] += h
        zm[i] -= h
        grad[i] = (fun(zp) - fun(zm)) / (2 * h)
    return grad


def rel_error(a, b):
    return np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b))


def test_every_activation_has_reference_tables():
    assert set(NAMES) == set(REFERENCE) == set(LITERAL)


# ---------------------------------------------------------------- (a) forward values


@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_independent_formula(name):
    assert name in REFERENCE, f"add a reference formula for the new activation '{name}'"
    spec, ref = REFERENCE[name]
    z = POINTS.reshape(3, 4)
    act = make(name, z.shape[1], spec=spec)
    a = act.forward(z.copy(), train=False)
    if name == "maxout":  # unit j = max of its 2 pieces z[:, 2j], z[:, 2j+1]
        expected = np.array([[max(r[0], r[1]), max(r[2], r[3])] for r in z.tolist()])
    else:
        expected = np.vectorize(ref)(z)
    assert a.shape == expected.shape
    np.testing.assert_allclose(a, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_forward_hand_worked_values(name):
    assert name in LITERAL, f"add hand-worked values for the new activation '{name}'"
    if not LITERAL[name]:
        assert name == "maxout"
        return
    z = np.array([[v for v, _ in LITERAL[name]]])
    act = make(name, z.shape[1])
    a = act.forward(z.copy(), train=False)
    np.testing.assert_allclose(a[0], [e for _, e in LITERAL[name]], rtol=1e-14, atol=1e-15)


def test_maxout_forward_hand_made():
    act = activations.build({"name": "maxout", "pieces": 2})
    assert act.width_factor == 2 and act.out_features(4) == 2
    z = np.array([[1.0, 3.0, -2.0, -5.0],
                  [4.0, -1.0, 0.5, 0.25],
                  [-1.0, -1.5, 7.0, 8.0]])
    a = act.forward(z.copy())
    np.testing.assert_array_equal(a, [[3.0, -2.0], [4.0, 0.5], [-1.0, 8.0]])
    # the gradient goes to the winning piece only
    dz = act.backward(np.array([[10.0, 20.0], [30.0, 40.0], [50.0, 60.0]]))
    np.testing.assert_array_equal(dz, [[0, 10, 20, 0], [30, 0, 40, 0], [50, 0, 0, 60]])


def test_maxout_three_pieces():
    act = activations.build({"name": "maxout", "pieces": 3})
    z = np.array([[1.0, 5.0, 2.0, -3.0, -4.0, -1.0]])
    np.testing.assert_array_equal(act.forward(z), [[5.0, -1.0]])


def test_relu_and_leaky_relu_options():
    z = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(make("relu", 3).forward(z), [[0.0, 0.0, 3.0]])
    leaky = make("leaky_relu", 3, spec={"name": "leaky_relu", "slope": 0.1})
    np.testing.assert_allclose(leaky.forward(z), [[-0.2, 0.0, 3.0]], rtol=1e-15)
    elu = make("elu", 3, spec={"name": "elu", "alpha": 2.0})
    np.testing.assert_allclose(elu.forward(np.array([[-1.0, 0.0, 2.0]])),
                               [[2.0 * (math.exp(-1.0) - 1.0), 0.0, 2.0]], rtol=1e-14)


def test_relu_forward_is_max_with_zero_bit_for_bit_across_shapes_and_dtypes():
    # ReLU compares with a cached array of zeros per shape (faster than the scalar 0): the values
    # must be those of np.maximum(z, 0) to the bit, NaN payloads and signed zeros included, and a
    # batch of another shape or dtype must not reuse the wrong buffer
    edge = [-0.0, 0.0, np.nan, -np.nan, -np.inf, np.inf, 1e-45, -1e-45, 3.0, -2.5]
    act = make("relu", 5)
    for dtype, rows in ((np.float32, 2), (np.float32, 3), (np.float64, 2), (np.float32, 2)):
        z = np.resize(np.array(edge, dtype=dtype), (rows, 5))
        z[-1] = np.random.default_rng(rows).standard_normal(5)
        a = act.forward(z)
        assert a.dtype == dtype and a.shape == z.shape
        uint = np.uint32 if dtype == np.float32 else np.uint64
        np.testing.assert_array_equal(a.view(uint), np.maximum(z, 0).view(uint))
    assert all(not zeros.any() for zeros in act._zeros.values())  # the cached zeros were never written
    assert len(act._zeros) == 3


def test_softplus_is_stable_from_minus_50_to_50():
    z = np.arange(-50.0, 50.5, 0.5).reshape(1, -1)
    with np.errstate(all="raise"):
        a = make("softplus", z.shape[1]).forward(z)
    assert np.all(np.isfinite(a)) and np.all(a > 0)
    np.testing.assert_allclose(a[0], [_softplus(v) for v in z[0]], rtol=1e-13, atol=0)
    # far in the tails: log(1 + e^z) -> e^z on the left and -> z on the right
    np.testing.assert_allclose(a[0, 0], math.exp(-50.0), rtol=1e-12)
    np.testing.assert_allclose(a[0, -1], 50.0, rtol=1e-15)


def test_sigmoid_at_plus_minus_100_does_not_overflow():
    z = np.array([[-100.0, -30.0, 0.0, 30.0, 100.0]])
    with np.errstate(all="raise"):
        for dtype in (np.float64, np.float32):
            act = make("sigmoid", 5, dtype=dtype)
            s = act.forward(z.astype(dtype))
            ds = act.backward(np.ones_like(s))
            assert np.all(np.isfinite(s)) and np.all(np.isfinite(ds))
            assert np.all((s >= 0) & (s <= 1))
            np.testing.assert_allclose(s[0], [_sigmoid(v) for v in z[0]], rtol=1e-6, atol=1e-12)
            assert s[0, 4] == 1.0 and s[0, 0] < 1e-12


# ---------------------------------------------------------------- (b) backward = centred difference


def check_backward(act, z):
    """J(z) = sum(w * f(z)) for random w: backward(w) must equal the centred difference of J."""
    act.frozen = True  # RReLU: reuse the slopes drawn by the first training forward
    n_out = act.out_features(z.shape[1])
    w = np.random.default_rng(7).standard_normal((z.shape[0], n_out))

    def objective(zz):
        return float(np.sum(w * act.forward(zz, train=True)))

    objective(z.copy())
    numeric = centred_difference(objective, z)
    act.forward(z.copy(), train=True)
    analytic = act.backward(w.copy())
    assert analytic.shape == z.shape
    assert rel_error(analytic, numeric) < 1e-7
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_centred_difference(name):
    assert name in REFERENCE
    check_backward(make(name, 4, alpha=np.array([0.1, 0.2, 0.3, 0.4])), SMOOTH.copy())


@pytest.mark.parametrize("spec", [
    {"name": "leaky_relu", "slope": 0.2},
    {"name": "elu", "alpha": 2.0},
    {"name": "elu", "alpha": 0.5},
    {"name": "rrelu", "lower": 0.2, "upper": 0.5},
    {"name": "maxout", "pieces": 3},
], ids=lambda s: "-".join(str(v) for v in s.values()))
def test_backward_with_non_default_options(spec):
    z = np.array([[-2.7, -1.3, -0.6, -0.2, 0.15, 0.45],
                  [0.8, 1.6, 2.2, -0.85, 1.25, -2.05]])
    check_backward(make(spec["name"], 6, spec=spec), z)


# ---------------------------------------------------------------- (c) CS224n derivative formulas


def _grad_at(name, z, spec=None):
    act = make(name, z.shape[1], spec=spec)
    act.forward(z.copy(), train=True)
    return act.backward(np.ones_like(z))


def test_sigmoid_derivative_is_s_times_one_minus_s():
    z = SMOOTH.copy()
    s = 1.0 / (1.0 + np.exp(-z))
    np.testing.assert_allclose(_grad_at("sigmoid", z), s * (1 - s), rtol=1e-12)
    assert np.all(_grad_at("sigmoid", z) <= 0.25)


def test_tanh_derivative_is_one_minus_tanh_squared():
    z = SMOOTH.copy()
    np.testing.assert_allclose(_grad_at("tanh", z), 1 - np.tanh(z) ** 2, rtol=1e-12)


def test_hard_tanh_derivative_is_one_on_the_closed_interval():
    z = np.array([[-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, -1.0001, 1.0001]])
    np.testing.assert_array_equal(_grad_at("hard_tanh", z), [[0, 1, 1, 1, 1, 1, 0, 0, 0]])


def test_leaky_relu_derivative_is_one_or_slope():
    z = np.array([[-3.0, -0.5, 0.5, 3.0]])
    spec = {"name": "leaky_relu", "slope": 0.1}
    np.testing.assert_allclose(_grad_at("leaky_relu", z, spec), [[0.1, 0.1, 1.0, 1.0]], rtol=1e-15)
    np.testing.assert_allclose(_grad_at("leaky_relu", z), [[0.01, 0.01, 1.0, 1.0]], rtol=1e-15)


def test_relu_derivative_is_step():
    z = np.array([[-3.0, -0.5, 0.0, 0.5, 3.0]])
    np.testing.assert_array_equal(_grad_at("relu", z), [[0, 0, 0, 1, 1]])


def test_backward_scales_the_upstream_gradient():
    z = SMOOTH.copy()
    da = np.arange(1.0, 13.0).reshape(3, 4)
    s = 1.0 / (1.0 + np.exp(-z))
    act = make("sigmoid", 4)
    act.forward(z.copy())
    np.testing.assert_allclose(act.backward(da.copy()), da * s * (1 - s), rtol=1e-12)


# ---------------------------------------------------------------- (d) RReLU


def test_rrelu_eval_uses_mean_slope():
    act = make("rrelu", 3, spec={"name": "rrelu", "lower": 0.1, "upper": 0.3})
    z = np.array([[-10.0, -1.0, 2.0]])
    np.testing.assert_allclose(act.forward(z, train=False), [[-2.0, -0.2, 2.0]], rtol=1e-14)
    np.testing.assert_allclose(make("rrelu", 1).forward(np.array([[-48.0]]), train=False),
                               [[-48.0 * (1 / 8 + 1 / 3) / 2]], rtol=1e-15)


def test_rrelu_training_slopes_lie_in_lower_upper():
    lower, upper = 0.1, 0.3
    act = make("rrelu", 50, spec={"name": "rrelu", "lower": lower, "upper": upper})
    z = -np.linspace(0.5, 3.0, 50)[None, :].repeat(400, axis=0)  # all negative
    slopes = act.forward(z.copy(), train=True) / z
    assert np.all(slopes >= lower) and np.all(slopes <= upper)
    # uniform on [lower, upper]: spread over the whole interval, mean at its middle
    assert slopes.min() < lower + 0.01 and slopes.max() > upper - 0.01
    se = (upper - lower) / math.sqrt(12) / math.sqrt(slopes.size)
    assert abs(slopes.mean() - (lower + upper) / 2) < 5 * se
    # positive inputs pass unchanged; a new batch draws new slopes
    np.testing.assert_array_equal(act.forward(np.array([[1.0, 2.0] * 25]), train=True), [[1.0, 2.0] * 25])
    again = act.forward(z.copy(), train=True) / z
    assert not np.array_equal(again, slopes)
    # the backward uses the drawn slopes for z <= 0
    act.forward(z[:2].copy(), train=True)
    np.testing.assert_allclose(act.backward(np.ones((2, 50))), act.slopes, rtol=1e-15)


def test_rrelu_frozen_reuses_slopes():
    act = make("rrelu", 5)
    act.frozen = True
    z = -np.ones((4, 5))
    first = act.forward(z.copy(), train=True).copy()
    np.testing.assert_array_equal(act.forward(z.copy(), train=True), first)


# ---------------------------------------------------------------- (e) PReLU's alpha gradient


def test_prelu_alpha_gradient_by_finite_differences():
    rng = np.random.default_rng(3)
    z = SMOOTH.copy()
    w = rng.standard_normal(z.shape)
    alpha = np.array([0.1, 0.2, 0.3, 0.4])
    act = make("prelu", 4, alpha=alpha)
    assert isinstance(act, PReLU)

    def objective():
        return float(np.sum(w * act.forward(z.copy(), train=True)))

    numeric = np.zeros(4)
    for j in range(4):
        old = act.p["alpha"][j]
        act.p["alpha"][j] = old + 1e-6
        fp = objective()
        act.p["alpha"][j] = old - 1e-6
        fm = objective()
        act.p["alpha"][j] = old
        numeric[j] = (fp - fm) / 2e-6
    act.forward(z.copy(), train=True)
    act.backward(w.copy())
    # by hand: d/d alpha_j sum_n w_nj a_nj = sum over z_nj <= 0 of w_nj z_nj
    by_hand = np.sum(np.where(z <= 0, w * z, 0.0), axis=0)
    np.testing.assert_allclose(act.g["alpha"], by_hand, rtol=1e-12)
    assert rel_error(act.g["alpha"], numeric) < 1e-7
    assert np.all(act.g["alpha"] != 0)


def test_prelu_in_a_model_starts_at_quarter_and_is_not_decayed():
    from nnlab.config import validate
    from nnlab.train.model import build_model

    cfg = validate({"model": {"hidden": [3], "activation": "prelu"}})
    model = build_model(cfg.model, 2, 2, "float64", np.random.default_rng(0), np.random.default_rng(1))
    np.testing.assert_array_equal(model.view("prelu1.alpha"), [0.25, 0.25, 0.25])
    t = next(t for t in model.tensors if t.name == "prelu1.alpha")
    assert not t.decay and t.start >= model.n_decay


# ---------------------------------------------------------------- (f) dtypes


@pytest.mark.parametrize("name", NAMES)
def test_float32_in_float32_out(name):
    z = SMOOTH.astype(np.float32)
    act = make(name, 4, dtype=np.float32)
    for train in (True, False):
        a = act.forward(z.copy(), train=train)
        assert a.dtype == np.float32, (name, train)
    act.forward(z.copy(), train=True)
    dz = act.backward(np.ones_like(act.forward(z.copy(), train=True)))
    assert dz.dtype == np.float32
    assert dz.shape == z.shape
    if act.trainable:
        assert act.g["alpha"].dtype == np.float32
