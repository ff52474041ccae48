"""Measurements of a trained model (nnlab.train.probe), on tiny networks whose weights are set by hand.

Expected values are worked out from the weights below (written beside each test), the Monte-Carlo
dropout expectations by enumerating every dropout mask of a 2-unit layer, and every probe must leave
the model as it was (parameters, batch-norm statistics, masks, random streams).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from nnlab.components.activations import ELU, Identity, LeakyReLU, Maxout, ReLU, RReLU, Tanh
from nnlab.components.layers import BatchNorm, Dense, Dropout
from nnlab.components.losses import MeanSquaredError, SoftmaxCrossEntropy
from nnlab.train.model import MLP
from nnlab.train.probe import (accuracy_and_loss, can_die, dead_fraction, gradient_error_order, layer_dead_fractions,
                               layer_zero_fractions, max_unit_norm, mc_dropout_outputs, mc_dropout_probs,
                               untouched, weight_norm, weight_sparsity, weight_spread, zero_fraction)

X = np.array([[1.0, 2.0], [-1.0, 0.5], [0.5, -1.0], [-2.0, -1.0]])
# dense1: z = x W1 + b1 with W1 = [[1, -1, 0.5], [1, 0.5, -1]], b1 = [0, 0.5, -2]
W1 = np.array([[1.0, -1.0, 0.5], [1.0, 0.5, -1.0]])
B1 = np.array([0.0, 0.5, -2.0])
# z per row:  [3, 0.5, -3.5], [-0.5, 1.75, -3], [-0.5, -0.5, -0.75], [-3, 2, -2]  (unit 3 is never > 0)
Z1 = X @ W1 + B1
W2 = np.array([[1.0, -1.0], [2.0, 0.5], [-1.0, 1.0]])
B2 = np.array([0.25, -0.25])


def net(*hidden_layers, n_in=2, dtype="float64", weights=None) -> MLP:
    """dense1 (3 units) -> the given layers, named kind + position -> output (2 units), with W1, B1, W2, B2
    (or ``weights``) set."""
    layers = [("dense1", Dense(3))] + [(f"{l.kind}{i}", l) for i, l in enumerate(hidden_layers, 1)]
    model = MLP(layers + [("output", Dense(2))], n_in, dtype)
    for name, value in (weights or {"dense1.W": W1, "dense1.b": B1, "output.W": W2, "output.b": B2}).items():
        model.view(name)[...] = value
    return model


def state_of(model) -> dict:
    """Everything a probe must not change: the parameters, gradients, statistics, layer attributes that are
    arrays or flags, and the layers' random streams."""
    out = {"params": model.params.copy(), "grads": model.grads.copy(),
           **{k: v.copy() for k, v in model.buffers().items()}}
    for name, layer in zip(model.names, model.layers):
        for k, v in vars(layer).items():
            if isinstance(v, np.random.Generator):
                out[f"{name}.{k}"] = str(v.bit_generator.state)
            elif isinstance(v, (np.ndarray, bool, type(None))):
                out[f"{name}.{k}"] = None if v is None else np.array(v, copy=True)
    return out


def assert_same_state(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        if isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        else:
            assert a[k] == b[k], k


# ---------------------------------------------------------------- accuracy and loss


def test_accuracy_and_loss_by_hand_in_evaluation_mode():
    model = net(ReLU(), Dropout(0.5, "inverted", np.random.default_rng(0)))
    h = np.maximum(Z1, 0)  # [3, .5, 0], [0, 1.75, 0], [0, 0, 0], [0, 2, 0]: no dropout at evaluation
    logits = h @ W2 + B2  # [4.25, -3], [3.75, .625], [.25, -.25], [4.25, .75]
    np.testing.assert_allclose(logits, [[4.25, -3.0], [3.75, 0.625], [0.25, -0.25], [4.25, 0.75]], rtol=1e-15)
    y = np.array([0, 1, 0, 1])
    picked = logits[np.arange(4), y]
    loss = float(np.mean(np.log(np.exp(logits).sum(axis=1)) - picked))
    before = state_of(model)
    acc, got = accuracy_and_loss(model, SoftmaxCrossEntropy(), X, y)
    assert acc == 0.5 and got == pytest.approx(loss, rel=1e-14)  # argmax is class 0 on every row
    assert_same_state(before, state_of(model))  # no mask drawn, nothing cached kept
    acc, got = accuracy_and_loss(model, MeanSquaredError(), X, np.zeros((4, 2)))
    assert acc is None and got == pytest.approx(np.mean(logits ** 2), rel=1e-14)


# ---------------------------------------------------------------- zeros and dead units


def test_zero_fraction_by_hand_overall_and_per_layer():
    # after ReLU the first layer's outputs are 0 at 8 of 12 places (Z1 <= 0: 1, 2, 3 and 2 per row); a second
    # ReLU layer on relu(Z1) @ W2 + B2 = [4.25, -3], [3.75, .625], [.25, -.25], [4.25, .75] has 2 zeros in 8
    model = net(ReLU(), Dense(2), ReLU(), weights={"dense1.W": W1, "dense1.b": B1, "dense2.W": W2,
                                                    "dense2.b": B2, "output.W": np.eye(2), "output.b": [0, 0]})
    assert layer_zero_fractions(model, X) == {"activation1": 8 / 12, "activation3": 2 / 8}
    assert zero_fraction(model, X) == 10 / 20  # every output counted once
    assert zero_fraction(net(Tanh()), X) == 0.0  # tanh(z) = 0 only at z = 0
    assert zero_fraction(MLP([("dense1", Dense(2))], 2, "float64"), X) == 0.0  # no hidden layer


def test_dead_units_are_asked_of_the_activation():
    # unit 3 of dense1 (z = -3.5, -3, -.75, -2) is never active: 1 of 3 ReLU units is dead
    assert layer_dead_fractions(net(ReLU()), X) == {"activation1": 1 / 3}
    assert dead_fraction(net(ReLU()), X) == 1 / 3
    # on the first two rows only, unit 2 (z = .5, 1.75) lives too; on the third row every unit is off
    assert dead_fraction(net(ReLU()), X[2:3]) == 1.0
    # a leaky ReLU, ELU or RReLU unit below 0 still passes a slope of the gradient: never dead
    for act in (LeakyReLU(), ELU(), RReLU(), Tanh()):
        assert not can_die(act) and dead_fraction(net(act), X) == 0.0 and layer_dead_fractions(net(act), X) == {}
    assert can_die(ReLU()) and can_die(Maxout())


def test_a_maxout_piece_that_never_wins_is_dead():
    # dense1 gives 4 pieces = 2 maxout units of 2 pieces; unit 1: pieces z0 = x1 + 10 and z1 = x1 (z0 always
    # wins); unit 2: pieces x1 and -x1 (each wins somewhere): 1 dead piece in 4
    model = MLP([("dense1", Dense(4)), ("maxout1", Maxout(pieces=2)), ("dense2", Dense(2))], 2, "float64")
    model.view("dense1.W")[...] = [[1.0, 1.0, 1.0, -1.0], [0.0, 0.0, 0.0, 0.0]]
    model.view("dense1.b")[...] = [10.0, 0.0, 0.0, 0.0]
    assert layer_dead_fractions(model, X) == {"maxout1": 0.25}


def test_dead_units_are_counted_over_chunks(monkeypatch):
    # a unit active on one row only, that row in the last chunk: not dead
    import nnlab.train.probe as probe

    monkeypatch.setattr(probe, "BATCH", 3)
    x = np.array([[-1.0, 0.0]] * 6 + [[1.0, 0.0]])
    model = net(ReLU(), weights={"dense1.W": [[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]], "dense1.b": [0.0, 0.0, 0.0],
                                 "output.W": W2, "output.b": B2})
    assert layer_dead_fractions(model, x) == {"activation1": 1 / 3}  # unit 3 (z = 0 always) only
    assert layer_zero_fractions(model, x) == {"activation1": (6 + 1 + 7) / 21}


# ---------------------------------------------------------------- weights


def test_weight_sparsity_norms_and_spread_by_hand():
    model = net(ReLU())
    # |w| < 1e-3: none of W1, W2; then three exact zeros and one tiny weight
    assert weight_sparsity(model) == 0.0
    model.view("dense1.W")[...] = [[1.0, 0.0, 2e-4], [0.0, 1e-3, -1.0]]
    assert weight_sparsity(model) == 3 / 12  # 0, 0, 2e-4; 1e-3 is not below the threshold
    assert weight_sparsity(model, threshold=0.5) == 4 / 12
    with pytest.raises(ValueError, match="threshold must be a number >= 0"):
        weight_sparsity(model, threshold=-1.0)
    model = net(ReLU())
    # all weights: W1 entries 1, 1, 1, .25, .25, 1 and W2 entries 1, 1, 4, .25, 1, 1 squared
    assert weight_norm(model) == pytest.approx(math.sqrt(4.5 + 8.25), rel=1e-15)
    # per unit (column): W1 columns [1, 1], [-1, .5], [.5, -1]: norms sqrt 2, sqrt 1.25; W2 [1, 2, -1]: sqrt 6
    assert max_unit_norm(model) == pytest.approx(math.sqrt(6), rel=1e-15)
    # participation ratios of W1's columns: (1 + 1)^2 / (2 * 2) = 1, (1.5)^2 / (2 * 1.25) = 0.9 (twice)
    assert weight_spread(model) == pytest.approx((1 + 0.9 + 0.9) / 3, rel=1e-15)
    model.view("dense1.W")[...] = [[3.0, 0.0, 0.0], [0.0, 0.0, 0.0]]  # unit 1: one input (1/2); units 2, 3: none
    assert weight_spread(model) == 0.5
    model.view("dense1.W")[...] = 0.0
    assert math.isnan(weight_spread(model))


# ---------------------------------------------------------------- Monte-Carlo dropout


def thinned(x, weights, acts, keep, masks, mode):
    """The output of dense1 -> act -> dropout -> dense2 -> act -> dropout -> dense3 for fixed masks."""
    scale = 1 / keep if mode == "inverted" else 1.0
    h = acts[0](x @ weights["dense1.W"] + weights["dense1.b"]) * masks[0] * scale
    h = acts[1](h @ weights["dense2.W"] + weights["dense2.b"]) * masks[1] * scale
    return h @ weights["dense3.W"] + weights["dense3.b"]


WEIGHTS = {"dense1.W": [[1.0, -2.0], [0.5, 1.0]], "dense1.b": [0.5, 0.25],
           "dense2.W": [[1.5, -1.0], [-0.5, 2.0]], "dense2.b": [-0.5, 0.75],
           "dense3.W": [[1.0, -1.0], [0.5, 2.0]], "dense3.b": [0.1, -0.1]}
XS = np.array([[1.0, 0.5], [-0.5, 1.5], [2.0, -1.0]])


def deep(act, mode, p=0.5) -> MLP:
    noise = np.random.default_rng(123)
    model = MLP([("dense1", Dense(2)), ("act1", act()), ("dropout1", Dropout(p, mode, noise)),
                 ("dense2", Dense(2)), ("act2", act()), ("dropout2", Dropout(p, mode, noise)),
                 ("dense3", Dense(2))], 2, "float64")
    for k, v in WEIGHTS.items():
        model.view(k)[...] = v
    return model


def exact_expectation(f, keep, transform=lambda out: out):
    """(E[transform(out)], Var) per entry over every pair of 2-unit masks, each entry kept with prob keep."""
    weights = {k: np.array(v) for k, v in WEIGHTS.items()}
    mean = var = 0.0
    outs = []
    for m in itertools.product([0.0, 1.0], repeat=4):
        prob = np.prod([keep if b else 1 - keep for b in m])
        out = transform(f(XS, weights, np.array(m[:2]), np.array(m[2:])))
        outs.append((prob, out))
        mean = mean + prob * out
    for prob, out in outs:
        var = var + prob * (out - mean) ** 2
    return mean, var


ACTS = {"identity": (Identity, lambda z: z), "relu": (ReLU, lambda z: np.maximum(z, 0))}


@pytest.mark.parametrize("mode", ["inverted", "classic", "unscaled"])
@pytest.mark.parametrize("act", ["identity", "relu"])
def test_mc_dropout_converges_to_the_exact_average_of_the_thinned_networks(act, mode):
    cls, fn = ACTS[act]
    model = deep(cls, mode)
    keep = 0.5

    def f(x, weights, m1, m2):
        return thinned(x, weights, (fn, fn), keep, (m1, m2), mode)

    mean, var = exact_expectation(f, keep)
    samples = 200_000  # p = 0.5 on 2-unit layers: a standard deviation of up to 20 per pass
    before = state_of(model)
    mc = mc_dropout_outputs(model, XS, samples, np.random.default_rng(0))
    assert_same_state(before, state_of(model))
    se = np.sqrt(var / samples)
    assert np.all(np.abs(mc - mean) < 5 * se + 1e-12), (mc, mean)
    scaled = model.predict(XS)  # weight scaling: the evaluation-mode output
    gap = np.abs(mean - scaled)
    if act == "identity" and mode != "unscaled":
        # linear after the dropout layers: weight scaling IS the ensemble average (exact in expectation)
        np.testing.assert_allclose(mean, scaled, rtol=1e-12, atol=1e-12)
    else:
        # a ReLU after the first dropout, or no compensation at test time: they differ, clearly beyond the
        # Monte-Carlo error (on some entry)
        assert (gap / se).max() > 20, (gap, se)


@pytest.mark.parametrize("batch", [4096, 64])
def test_mc_dropout_of_a_single_hidden_layer_is_the_evaluation_output_in_expectation_even_for_relu(
        batch, monkeypatch):
    # one hidden layer: the output is linear in the one mask, whatever the activation before it; with
    # BATCH = 64 the passes go 64 at a time, one row at a time (the grouping must not change the mean)
    import nnlab.train.probe as probe

    monkeypatch.setattr(probe, "BATCH", batch)
    model = net(ReLU(), Dropout(0.5, "inverted", np.random.default_rng(3)))
    mc = mc_dropout_outputs(model, X, 40000, np.random.default_rng(1))
    h = np.maximum(Z1, 0)
    # Var of unit j's contribution: h_j^2 (1/keep - 1) w_j^2 per output, summed over the units
    se = np.sqrt((h ** 2) @ (W2 ** 2) * (1 / 0.5 - 1) / 40000)
    assert np.all(np.abs(mc - model.predict(X)) < 5 * se + 1e-12)


def test_mc_dropout_probs_average_the_softmax_not_the_logits():
    model = deep(Identity, "inverted")
    keep = 0.5
    fn = ACTS["identity"][1]

    def f(x, weights, m1, m2):
        return thinned(x, weights, (fn, fn), keep, (m1, m2), "inverted")

    def softmax(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    mean, var = exact_expectation(f, keep, softmax)
    samples = 40000
    probs = mc_dropout_probs(model, XS, samples, np.random.default_rng(2))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(np.abs(probs - mean) < 5 * np.sqrt(var / samples) + 1e-12)
    # the logits average to the evaluation output here, the probabilities do not (softmax is not linear)
    assert np.abs(mean - softmax(model.predict(XS))).max() > 0.01


def test_mc_dropout_is_reproducible_and_leaves_the_model_alone(monkeypatch):
    import nnlab.train.probe as probe

    model = net(BatchNorm(), RReLU(), Dropout(0.3, "inverted", np.random.default_rng(4)))
    model.view("batch_norm1.gamma")[...] = [1.0, 0.5, 2.0]
    model.view("batch_norm1.beta")[...] = [0.1, 0.2, -0.3]
    model.forward(X, train=True)  # running statistics and a cached mask, RReLU slopes: state to keep
    before = state_of(model)
    a = mc_dropout_outputs(model, X, 5, np.random.default_rng(9))
    assert_same_state(before, state_of(model))
    b = mc_dropout_outputs(model, X, 5, np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, mc_dropout_outputs(model, X, 5, np.random.default_rng(10)))
    no_dropout = net(BatchNorm(), RReLU())  # the same layers without dropout: every pass is predict's
    no_dropout.restore(model.snapshot())
    for batch in (4096, 2):  # 2: passes 2 at a time (2, 2, 1) on one row at a time
        monkeypatch.setattr(probe, "BATCH", batch)
        np.testing.assert_allclose(mc_dropout_outputs(no_dropout, X, 5, np.random.default_rng(0)),
                                   no_dropout.predict(X), rtol=1e-14)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="samples must be a whole number >= 1"):
            mc_dropout_outputs(model, X, bad, np.random.default_rng(0))


# ---------------------------------------------------------------- the order of the numerical gradient


def smooth_net() -> MLP:
    rng = np.random.default_rng(5)
    model = MLP([("dense1", Dense(4)), ("tanh1", Tanh()), ("dropout1", Dropout(0.3, "inverted", rng)),
                 ("dense2", Dense(3))], 3, "float64")
    model.params[...] = rng.standard_normal(model.n_params)
    return model


def test_gradient_error_order_is_2_centred_and_1_forward():
    model = smooth_net()
    x = np.random.default_rng(6).standard_normal((8, 3))
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    before = state_of(model)
    centred = gradient_error_order(model, SoftmaxCrossEntropy(), x, y, "centered", 1e-2)
    forward = gradient_error_order(model, SoftmaxCrossEntropy(), x, y, "forward", 1e-2)
    assert_same_state(before, state_of(model))  # the check's frozen masks and the noise stream put back
    assert centred == pytest.approx(2.0, abs=0.1) and forward == pytest.approx(1.0, abs=0.1)
    with pytest.raises(ValueError, match="float64"):
        gradient_error_order(net(ReLU(), dtype="float32"), SoftmaxCrossEntropy(), X, np.zeros(4, int),
                             "centered", 1e-2)


def test_untouched_puts_back_what_a_block_changes():
    model = net(BatchNorm(), ReLU(), Dropout(0.5, "inverted", np.random.default_rng(0)))
    model.forward(X, train=True)
    before = state_of(model)
    with untouched(model):
        model.forward(X * 3, train=True)  # new statistics, a new mask, a new cached input
        model.params += 1.0
        model.grads += 2.0
        model.layers[3].frozen = True
    assert_same_state(before, state_of(model))
    assert "frozen" not in vars(model.layers[3])


def test_flat_fraction_counts_activations_whose_slope_is_below_the_threshold():
    from nnlab.components.activations import HardTanh, Softsign
    from nnlab.train.probe import flat_fraction

    # Z1 = [3, 0.5, -3.5], [-0.5, 1.75, -3], [-0.5, -0.5, -0.75], [-3, 2, -2]: |z| > 1 in 7 of 12 entries
    hard = net(HardTanh())
    before = state_of(hard)
    assert flat_fraction(hard, X) == 7 / 12  # hard tanh's slope is exactly 0 beyond |z| > 1
    assert_same_state(before, state_of(hard))
    # softsign's slope 1 / (1 + |z|)^2 is below 0.05 only where |z| > sqrt(20) - 1 = 3.47: z = -3.5 alone
    assert flat_fraction(net(Softsign()), X) == 1 / 12
    assert flat_fraction(net(Softsign()), X, slope=1 / 16 + 1e-12) == 4 / 12  # |z| >= 3: 3, -3.5, -3, -3
    assert flat_fraction(net(Identity()), X) == 0.0  # slope 1 everywhere


def test_softmax_probs_are_the_clean_networks_class_probabilities():
    from nnlab.train.probe import softmax_probs

    model = net(ReLU())
    h = np.maximum(Z1, 0) @ W2 + B2
    want = np.exp(h - h.max(axis=1, keepdims=True))
    want /= want.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax_probs(model, X), want, rtol=1e-12)


def test_weight_spread_of_a_later_layer_and_its_bounds():
    model = net(ReLU())
    # output.W = [[1, -1], [2, 0.5], [-1, 1]]: unit 1: (1+2+1)^2 / (3 * 6) = 16/18; unit 2: (2.5)^2 / (3 * 2.25)
    assert weight_spread(model, layer=2) == pytest.approx((16 / 18 + 6.25 / 6.75) / 2)
    with pytest.raises(ValueError, match="layer must be from 1 to 2"):
        weight_spread(model, layer=3)
