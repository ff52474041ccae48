"""Activations: forward values against independently written formulas, backward against
centred differences and the CS224n derivative formulas, the derivative at a kink, RReLU/PReLU
specifics, dtypes, kink states (for the gradient check) and the diagnostics hooks.

Every test that is parametrized over ``activations.names()`` asserts that the
activation has an entry in the tables below, so a newly registered activation
fails here until it is given a reference formula.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnlab.components.activations import PReLU, RReLU, activations

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


def test_derivative_at_zero_is_that_of_the_left_piece_as_in_torch():
    # at the kink z = 0 (either signed zero) the backward uses the z <= 0 piece, as torch.autograd
    # does: leaky_relu -> slope, elu -> alpha e^0 = alpha, selu -> scale * alpha
    z = np.array([[-0.0, 0.0, -1.0, 1.0]])
    np.testing.assert_allclose(_grad_at("leaky_relu", z, {"name": "leaky_relu", "slope": 0.1}),
                               [[0.1, 0.1, 0.1, 1.0]], rtol=1e-15)
    np.testing.assert_allclose(_grad_at("elu", z, {"name": "elu", "alpha": 2.0}),
                               [[2.0, 2.0, 2.0 * math.exp(-1.0), 1.0]], rtol=1e-14)
    sa = SELU_SCALE * SELU_ALPHA  # 1.7580993408473766
    np.testing.assert_allclose(_grad_at("selu", z), [[sa, sa, sa * math.exp(-1.0), SELU_SCALE]], rtol=1e-14)


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


def test_rrelu_forward_defaults_to_training_mode():
    z = -np.ones((4, 5))
    a = make("rrelu", 5).forward(z.copy())
    # drawn slopes, one per element, not the evaluation mode's mean slope 11/48
    np.testing.assert_array_equal(a, make("rrelu", 5).forward(z.copy(), train=True))
    assert np.all((a >= -1 / 3) & (a <= -1 / 8)) and np.unique(a).size == a.size


def test_rrelu_outside_a_model_draws_from_its_own_seeded_stream():
    # a model hands RReLU its noise stream; built alone it draws from np.random.default_rng(0)
    z = -np.ones((3, 4))
    expected = -np.random.default_rng(0).uniform(1 / 8, 1 / 3, (3, 4))
    for _ in range(2):  # reproducible: every new instance starts the same stream
        np.testing.assert_array_equal(activations.build("rrelu").forward(z.copy(), train=True), expected)


def test_rrelu_at_zero_uses_the_drawn_slope_as_in_torch():
    # torch's rrelu draws a slope for every input <= 0 and its gradient there is that slope
    act = make("rrelu", 4)
    act.forward(np.array([[-0.0, 0.0, -1.0, 1.0]]), train=True)
    s = act.slopes[0].copy()
    assert np.all((s >= 1 / 8) & (s <= 1 / 3))
    np.testing.assert_array_equal(act.backward(np.ones((1, 4))), [[s[0], s[1], s[2], 1.0]])


def test_rrelu_frozen_training_pass_after_an_evaluation_pass():
    act = make("rrelu", 5)
    act.frozen = True
    z = -np.ones((4, 5))
    act.forward(z.copy(), train=True)
    np.testing.assert_allclose(act.forward(z.copy(), train=False), z * (1 / 8 + 1 / 3) / 2, rtol=1e-15)
    again = act.forward(z.copy(), train=True)
    assert np.all((again >= -1 / 3) & (again <= -1 / 8))
    np.testing.assert_array_equal(act.backward(np.ones((4, 5))), -again)


def test_rrelu_lower_may_equal_upper_but_not_exceed_it():
    from nnlab.config import validate
    from nnlab.errors import ConfigError

    # as torch: "Lower bound should be less than or equal to the upper bound"
    RReLU.check({"lower": 0.2, "upper": 0.2})
    cfg = validate({"model": {"hidden": [3], "activation": {"name": "rrelu", "lower": 0.2, "upper": 0.2}}})
    act = make("rrelu", 3, spec=cfg.model["activation"])
    np.testing.assert_array_equal(act.forward(-np.ones((2, 3)), train=True), -0.2)  # U[0.2, 0.2] is 0.2
    message = r"lower \(0\.5\) must not exceed upper \(0\.2\)"
    with pytest.raises(ValueError, match=message):
        RReLU.check({"lower": 0.5, "upper": 0.2})
    with pytest.raises(ConfigError, match=message):
        validate({"model": {"hidden": [3], "activation": {"name": "rrelu", "lower": 0.5, "upper": 0.2}}})


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


def test_prelu_at_zero_takes_the_alpha_piece_as_in_torch():
    # da/dz = alpha_j where z <= 0 (torch's prelu backward too); d a / d alpha_j = z there, 0 at z = 0
    act = make("prelu", 4, alpha=np.array([0.1, 0.2, 0.3, 0.4]))
    act.forward(np.array([[-0.0, 0.0, 1.0, -2.0]]), train=True)
    dz = act.backward(np.array([[2.0, 3.0, 5.0, 7.0]]))
    np.testing.assert_allclose(dz, [[0.2, 0.6, 5.0, 2.8]], rtol=1e-15)
    np.testing.assert_array_equal(act.g["alpha"], [0.0, 0.0, 0.0, -14.0])


def test_prelu_follows_its_formula_at_signed_zeros():
    # a = z if z > 0 else alpha z, evaluated as written: alpha is learned and may turn negative, and
    # then alpha * (-0.0) = +0.0 and alpha * (+0.0) = -0.0 (torch.nn.functional.prelu gives the same)
    z = np.array([[-0.0, 0.0]])
    a = make("prelu", 2, alpha=np.array([-0.5, -0.5])).forward(z.copy())
    assert np.signbit(a).tolist() == [[False, True]]
    a = make("prelu", 2).forward(z.copy())  # alpha 0.25 keeps the sign
    assert np.signbit(a).tolist() == [[True, False]]


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


def test_float32_leaky_relu_gradient_is_the_slope_the_forward_uses():
    # the float32 forward computes z * float32(slope) (numpy casts the Python float to the array's
    # dtype), whose derivative is that float32 number: backward(da) = da * float32(slope), rounded once
    rng = np.random.default_rng(5)
    z = -rng.uniform(0.1, 3.0, (40, 25)).astype(np.float32)
    da = rng.standard_normal(z.shape).astype(np.float32)
    for slope in (0.01, 0.1):
        act = make("leaky_relu", 25, dtype=np.float32, spec={"name": "leaky_relu", "slope": slope})
        np.testing.assert_array_equal(act.forward(z.copy()), z * np.float32(slope))
        np.testing.assert_array_equal(act.backward(da.copy()), da * np.float32(slope))


# ---------------------------------------------------------------- (g) kink states, diagnostics hooks


# pre-activations strictly inside the pieces, never on a kink
OFF_KINK = np.array([-3.0, -1.5, -0.5, -1e-3, 1e-3, 0.5, 1.5, 3.0])


@pytest.mark.parametrize("spec, kinks", [
    ("relu", [0.0]),
    ("leaky_relu", [0.0]),
    ("prelu", [0.0]),
    ("rrelu", [0.0]),
    ("selu", [0.0]),
    ({"name": "elu", "alpha": 2.0}, [0.0]),
    ({"name": "elu", "alpha": 0.5}, [0.0]),
    ("hard_tanh", [-1.0, 1.0]),
], ids=["relu", "leaky_relu", "prelu", "rrelu", "selu", "elu-2.0", "elu-0.5", "hard_tanh"])
def test_kink_state_changes_exactly_across_the_kinks(spec, kinks):
    name = spec if isinstance(spec, str) else spec["name"]
    act = make(name, OFF_KINK.size, spec=spec)
    state = np.asarray(act.kink_state(OFF_KINK[None, :]))[0]
    piece = np.searchsorted(kinks, OFF_KINK)  # which piece of the function each point lies on
    same_state = state[:, None] == state[None, :]
    same_piece = piece[:, None] == piece[None, :]
    np.testing.assert_array_equal(same_state, same_piece)
    # the gradient check also evaluates it on a kink itself: no floating-point error there
    with np.errstate(all="raise"):
        at = np.asarray(act.kink_state(np.array([kinks])))
    assert np.all(np.isfinite(at))


def test_elu_has_no_kink_when_alpha_is_one():
    # left derivative alpha e^0 = alpha, right derivative 1: differentiable at 0 iff alpha = 1
    assert make("elu", 3).kink_state(np.array([[-1.0, 0.0, 1.0]])) is None
    assert make("elu", 3, spec={"name": "elu", "alpha": 2.0}).kink_state(np.array([[-1.0, 0.0, 1.0]])) is not None


def test_maxout_kink_state_changes_when_any_unit_changes_its_winner():
    act = activations.build({"name": "maxout", "pieces": 2})
    z = np.array([[10.0, 0.0, 0.3, 0.5],
                  [-1.0, -2.0, 4.0, 3.0]])
    base = act.kink_state(z)
    swapped = z.copy()
    swapped[0, 2:] = [0.5, 0.3]  # row 0, unit 1: piece 0 now wins (the batch's largest value stays put)
    assert not np.array_equal(act.kink_state(swapped), base)
    moved = z.copy()
    moved[0, 3], moved[1, 0] = 0.4, -1.5  # values move, no winner changes
    np.testing.assert_array_equal(act.kink_state(moved), base)


ACTIVITY = [n for n in NAMES if activations.get(n).obj.tracks_activity and n != "maxout"]


@pytest.mark.parametrize("name", ACTIVITY)
def test_unit_activity_is_per_unit_and_positive_iff_the_unit_was_active(name):
    # 3 rows, 4 units: unit 1 is on its identity part (z > 0) in one row; unit 3 only reaches 0
    z = np.array([[-1.0, 2.0, -0.5, -3.0],
                  [-2.0, -0.5, -0.1, 0.0],
                  [-0.3, -1.0, -4.0, 0.0]])
    act = make(name, 4)
    act.forward(z.copy(), train=True)
    activity = act.unit_activity()
    assert activity.shape == (4,)
    np.testing.assert_array_equal(activity > 0, [False, True, False, False])


def test_maxout_unit_activity_counts_the_wins_of_each_piece():
    act = activations.build({"name": "maxout", "pieces": 2})
    act.forward(np.array([[1.0, 3.0, -2.0, -5.0],
                          [4.0, -1.0, 0.5, 0.25],
                          [-1.0, -1.5, 7.0, 8.0]]))
    # unit 0: piece 1 wins row 0, piece 0 rows 1-2; unit 1: piece 0 rows 0-1, piece 1 row 2
    np.testing.assert_array_equal(act.unit_activity(), [2, 1, 2, 1])
    act = activations.build({"name": "maxout", "pieces": 3})
    act.forward(np.array([[1.0, 5.0, 2.0, -3.0, -4.0, -1.0],
                          [0.0, 6.0, 1.0, -2.0, -9.0, -8.0]]))
    np.testing.assert_array_equal(act.unit_activity(), [0, 2, 0, 1, 0, 1])  # pieces 0, 2 and 4 never win


def test_saturated_fraction_follows_the_documented_thresholds():
    z = np.array([[-5.0, -3.5, -3.0, -2.5, -1.0, 0.0, 1.0, 1.5]])
    expected = {
        "hard_tanh": 5 / 8,  # |z| > 1: the gradient is 1 on the closed interval [-1, 1]
        "elu": 2 / 8,  # z < -3
        "selu": 2 / 8,  # z < -3
    }
    for name, fraction in expected.items():
        act = make(name, z.shape[1])
        act.forward(z.copy(), train=True)
        assert act.saturated() == fraction, name


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, bound", [("sigmoid", 0.97), ("tanh", 0.97), ("tanh", -0.97)])
def test_saturation_threshold_itself_is_not_saturated(name, bound, dtype):
    # sigmoid: a > 0.97 (or a < 0.03); tanh: |a| > 0.97, strictly.  Scan consecutive floats around the
    # exact preimage of the threshold for inputs whose activation is the threshold exactly.
    # (sigmoid never computes exactly 0.03: 0.5 + 0.5 tanh(z/2) is a multiple of 2^-54 (2^-25 in float32)
    # there, and 0.03 is not.)
    z0 = dtype(math.log(bound / (1 - bound)) if name == "sigmoid" else math.atanh(bound))
    z = (z0 + np.spacing(z0) * np.arange(-1000, 1001).astype(dtype)).reshape(1, -1)
    act = make(name, z.shape[1], dtype=dtype)
    a = act.forward(z.copy())[0]
    on = z[:, a == dtype(bound)]
    assert on.size > 0
    act.forward(on.copy())
    assert act.saturated() == 0.0
    act.forward(z[:, np.abs(a) > dtype(0.97)].copy())
    assert act.saturated() == 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elu_and_selu_at_signed_zeros_and_infinities_as_torch(dtype):
    """The formula's value at the edges, as torch.nn.functional.elu/selu give it: -0.0 stays -0.0
    (alpha (e^-0 - 1) = alpha * -0.0), NaN stays NaN, -inf goes to -alpha (-scale alpha), +inf stays."""
    z = np.array([[-0.0, 0.0, np.nan, -np.inf, np.inf]], dtype)
    for name, lo in (("elu", -2.0), ("selu", -SELU_SCALE * SELU_ALPHA)):
        spec = {"name": "elu", "alpha": 2.0} if name == "elu" else None
        a = make(name, 5, dtype=dtype, spec=spec).forward(z.copy())
        assert a.dtype == dtype
        assert np.signbit(a[0, :2]).tolist() == [True, False] and a[0, 0] == 0 and a[0, 1] == 0, name
        assert np.isnan(a[0, 2]) and a[0, 4] == np.inf, name
        np.testing.assert_allclose(a[0, 3], dtype(lo), rtol=1e-7, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elu_and_selu_never_overflow_on_large_positive_inputs(dtype):
    """The negative piece is evaluated on z clamped to <= 0: e^z of a large positive z (an exploding
    run) must not overflow and warn, or raise under np.errstate(over='raise')."""
    z = np.array([[1e3, 88.8, -1e3]], dtype)
    for name in ("elu", "selu"):
        with np.errstate(all="raise"):
            a = make(name, 3, dtype=dtype).forward(z.copy())
        scale = SELU_SCALE if name == "selu" else 1.0
        alpha = SELU_ALPHA if name == "selu" else 1.0
        np.testing.assert_allclose(a, [[scale * 1e3, scale * dtype(88.8), -scale * alpha]], rtol=1e-6)
