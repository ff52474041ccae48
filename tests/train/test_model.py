"""The MLP on one flat parameter buffer (nnlab.train.model): layout, build_model, predict, state.

Reference values are the layer stack a config must give (names, order, widths, options),
the flat-buffer offsets worked out by hand, and exact equalities between equivalent ways
of computing the same output (predict in chunks vs forward, state -> load_state).
"""

from __future__ import annotations

import io

import numpy as np

from nnlab.components.activations import Identity, Maxout, ReLU, RReLU
from nnlab.components.initializers import initializers
from nnlab.components.layers import BatchNorm, Dense, Dropout
from nnlab.config import validate
from nnlab.train.model import MLP, build_model
from nnlab.train.size import _PREDICT_BATCH


def model_cfg(**model):
    raw = {"data": {"name": "spiral", "n_samples": 150}, "model": {"hidden": [4, 3], **model},
           "train": {"epochs": 1}}
    return validate(raw).model


def build(dtype="float64", seed=0, n_in=2, n_out=3, **model):
    init, noise = np.random.default_rng(seed), np.random.default_rng(seed + 100)
    return build_model(model_cfg(**model), n_in, n_out, dtype, init, noise), init, noise


def kinds(model):
    return [(n, type(layer).__name__) for n, layer in zip(model.names, model.layers)]


def bn_net(dtype="float64"):
    """A net with batch norm and classic dropout whose running statistics moved away from (0, 1)."""
    model, _, _ = build(dtype, batch_norm={"momentum": 0.5, "eps": 1e-3},
                        dropout={"rate": 0.25, "mode": "classic"})
    x = np.random.default_rng(7).normal(2.0, 3.0, (40, 2)).astype(dtype)
    for _ in range(3):
        model.forward(x, train=True)
    return model, x


# -- build_model ----------------------------------------------------------------------------

def test_layer_names_order_and_options():
    model, _, noise = build(batch_norm={"momentum": 0.8, "eps": 1e-3},
                            dropout={"rate": [0.25, 0.5], "mode": "classic"})
    assert kinds(model) == [("dense1", "Dense"), ("bn1", "BatchNorm"), ("relu1", "ReLU"), ("dropout1", "Dropout"),
                            ("dense2", "Dense"), ("bn2", "BatchNorm"), ("relu2", "ReLU"), ("dropout2", "Dropout"),
                            ("dense3", "Dense")]
    layer = dict(zip(model.names, model.layers))
    assert [layer[f"dense{i}"].n_out for i in (1, 2, 3)] == [4, 3, 3]
    for i in (1, 2):
        assert (layer[f"bn{i}"].momentum, layer[f"bn{i}"].eps) == (0.8, 1e-3)
        assert layer[f"dropout{i}"].mode == "classic" and layer[f"dropout{i}"].rng is noise
    assert (layer["dropout1"].rate, layer["dropout2"].rate) == (0.25, 0.5)
    assert (model.n_in, model.n_out) == (2, 3)


def test_per_layer_rates_put_dropout_only_where_the_rate_is_positive():
    model, _, _ = build(dropout={"rate": [0.0, 0.5]})
    assert model.names == ["dense1", "relu1", "dense2", "relu2", "dropout2", "dense3"]
    assert model.layers[4].rate == 0.5 and model.layers[4].mode == "inverted"
    model, _, _ = build(dropout={"rate": [0.5, 0.0]})
    assert model.names == ["dense1", "relu1", "dropout1", "dense2", "relu2", "dense3"]
    assert model.layers[2].rate == 0.5


def test_one_rate_for_every_hidden_layer_and_none_for_rate_zero():
    model, _, _ = build(dropout=0.2)
    drops = [layer for layer in model.layers if isinstance(layer, Dropout)]
    assert [model.names[model.layers.index(d)] for d in drops] == ["dropout1", "dropout2"]
    assert [(d.rate, d.mode) for d in drops] == [(0.2, "inverted"), (0.2, "inverted")]
    model, _, _ = build(dropout=0.0)
    assert model.names == ["dense1", "relu1", "dense2", "relu2", "dense3"]
    model, _, _ = build()
    assert model.names == ["dense1", "relu1", "dense2", "relu2", "dense3"]


def test_inverted_dropout_scales_by_the_keep_probability_in_training():
    model, _, noise = build(dropout={"rate": 0.5, "mode": "inverted"}, hidden=[6])
    drop = model.layers[2]
    x = np.ones((5, 6))
    state = noise.bit_generator.state
    out = drop.forward(x, train=True)
    noise.bit_generator.state = state
    mask = (noise.random((5, 6)) < 0.5) * 2.0
    np.testing.assert_array_equal(out, mask)


def test_default_batch_norm_options_and_no_batch_norm():
    model, _, _ = build(batch_norm=True)
    bns = [layer for layer in model.layers if isinstance(layer, BatchNorm)]
    assert [(b.momentum, b.eps) for b in bns] == [(0.9, 1e-5), (0.9, 1e-5)]
    model, _, _ = build(batch_norm=False)
    assert not any(isinstance(layer, BatchNorm) for layer in model.layers)


def test_maxout_widens_the_dense_layer_before_it():
    model, _, _ = build(activation={"name": "maxout", "pieces": 3})
    assert kinds(model) == [("dense1", "Dense"), ("maxout1", "Maxout"), ("dense2", "Dense"), ("maxout2", "Maxout"),
                            ("dense3", "Dense")]
    assert [t.shape for t in model.tensors if t.key == "W"] == [(2, 12), (4, 9), (3, 3)]
    assert all(isinstance(model.layers[i], Maxout) and model.layers[i].pieces == 3 for i in (1, 3))
    assert model.forward(np.zeros((2, 2))).shape == (2, 3)


def test_rrelu_and_dropout_share_the_noise_stream_and_each_layer_has_its_own_activation():
    model, init, noise = build(activation="rrelu", dropout=0.1)
    acts = [layer for layer in model.layers if isinstance(layer, RReLU)]
    assert len(acts) == 2 and acts[0] is not acts[1]
    assert all(a.rng is noise for a in acts)
    assert all(d.rng is noise for d in model.layers if isinstance(d, Dropout))
    assert noise is not init


def test_weights_come_from_the_init_spec_in_layer_order_and_the_rest_is_filled():
    model, _, _ = build(init={"name": "uniform", "limit": 0.5}, batch_norm=True, activation="prelu")
    rng = np.random.default_rng(0)  # the same init stream, replayed
    for name, shape in [("dense1.W", (2, 4)), ("dense2.W", (4, 3)), ("dense3.W", (3, 3))]:
        ref = initializers.build({"name": "uniform", "limit": 0.5}, *shape, rng, np.dtype("float64"))
        np.testing.assert_array_equal(model.view(name), ref)
    assert np.abs(model.view("dense1.W")).max() <= 0.5
    for t in model.tensors:
        if t.key != "W":
            np.testing.assert_array_equal(model.view(t.name), np.full(t.shape, t.fill))
    np.testing.assert_array_equal(model.view("bn1.gamma"), np.ones(4))
    np.testing.assert_array_equal(model.view("dense2.b"), np.zeros(3))
    assert model.view("prelu1.alpha").tolist() != [0.0] * 4  # PReLU's fill reaches its slope


# -- the flat buffer ------------------------------------------------------------------------

def test_layout_weights_first_with_hand_computed_offsets_and_default_float32():
    model = MLP([("d1", Dense(3)), ("bn", BatchNorm()), ("a", Identity()), ("d2", Dense(2))], n_in=4)
    assert model.dtype == np.float32
    assert model.params.dtype == np.float32 and model.grads.dtype == np.float32
    # W tensors first (d1.W 4x3 = 12, d2.W 3x2 = 6), then d1.b (3), bn.gamma, bn.beta (3 each), d2.b (2)
    layout = [(t.name, t.start, t.size, t.shape, t.decay) for t in model.tensors]
    assert layout == [("d1.W", 0, 12, (4, 3), True), ("d2.W", 12, 6, (3, 2), True),
                      ("d1.b", 18, 3, (3,), False), ("bn.gamma", 21, 3, (3,), False),
                      ("bn.beta", 24, 3, (3,), False), ("d2.b", 27, 2, (2,), False)]
    assert (model.n_decay, model.n_params) == (18, 29)
    assert model.params.shape == model.grads.shape == (29,)
    assert (model.n_in, model.n_out) == (4, 2)
    assert model.names == ["d1", "bn", "a", "d2"]
    # the layers' tensors are views of the flat buffers
    assert np.shares_memory(model.layers[0].p["W"], model.params[:12])
    assert np.shares_memory(model.layers[3].g["b"], model.grads[27:29])
    model.view("d2.b")[...] = [5.0, 6.0]
    assert model.params[27:29].tolist() == [5.0, 6.0]
    model.view("d1.W", grad=True)[0, 0] = 7.0
    assert model.grads[0] == 7.0



def test_regularized_parts_are_the_dense_weights_and_with_biases_the_dense_biases():
    # layout of the test above: d1.W 0-12, d2.W 12-18, d1.b 18-21, bn.gamma 21-24, bn.beta 24-27, d2.b 27-29
    model = MLP([("d1", Dense(3)), ("bn", BatchNorm()), ("a", Identity()), ("d2", Dense(2))], n_in=4)
    assert model.regularized() == [slice(0, 18)]
    assert model.regularized(biases=True) == [slice(0, 21), slice(27, 29)]  # gamma and beta never
    assert [t.name for t in model.tensors if t.bias] == ["d1.b", "d2.b"]
    plain = MLP([("d1", Dense(3)), ("a", Identity()), ("d2", Dense(2))], n_in=4)
    assert plain.regularized(biases=True) == [slice(0, plain.n_params)]  # weights then biases: one slice
    assert MLP([("a", Identity())], n_in=4).regularized(biases=True) == []

def test_float64_buffers():
    model = MLP([("d", Dense(2))], n_in=3, dtype="float64")
    assert model.params.dtype == model.grads.dtype == np.float64


def test_forward_buffered_defaults_to_training_mode():
    model, x = bn_net()
    for layer in model.layers:
        if isinstance(layer, Dropout):
            layer.frozen = True  # reuse the last mask: training outputs are then repeatable
    train = model.forward(x, train=True)
    np.testing.assert_array_equal(model.forward_buffered(x), train)
    assert not np.allclose(model.forward(x), train)


def test_backward_skips_dx_only_for_the_first_layer():
    model, x = bn_net()
    calls = []
    for i, layer in enumerate(model.layers):
        def spy(dout, need_dx=True, _orig=layer.backward, _i=i):
            calls.append((_i, need_dx))
            return _orig(dout, need_dx=need_dx)
        layer.backward = spy
    out = model.forward(x, train=True)
    model.backward(np.ones_like(out))
    last = len(model.layers) - 1
    assert calls == [(i, i > 0) for i in range(last, -1, -1)]


# -- predict --------------------------------------------------------------------------------

def test_predict_in_chunks_equals_evaluation_forward():
    model, x = bn_net()
    ref = model.forward(x)
    for batch in (1, 7, 40, 100):
        np.testing.assert_allclose(model.predict(x, batch=batch), ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(model.predict(x), ref, rtol=1e-13, atol=1e-15)
    # evaluation mode: running statistics, classic dropout scales by keep = 0.75, nothing drawn
    stats = model.layers[1].running_mean.copy()
    model.predict(x, batch=7)
    np.testing.assert_array_equal(model.layers[1].running_mean, stats)


def test_predict_default_chunk_is_the_size_estimate_s():
    model, _, _ = build(hidden=[3])
    sizes = []
    orig = model.forward_buffered

    def spy(x, train=True):
        sizes.append((len(x), train))
        return orig(x, train)
    model.forward_buffered = spy
    model.predict(np.zeros((_PREDICT_BATCH + 1, 2)))
    assert _PREDICT_BATCH == 4096
    assert sizes == [(4096, False), (1, False)]


def test_predict_of_nothing_is_an_empty_array_of_the_model_dtype():
    for dtype in ("float32", "float64"):
        model, _, _ = build(dtype, n_out=5)
        out = model.predict(np.empty((0, 2), dtype))
        assert out.shape == (0, 5) and out.dtype == np.dtype(dtype)


# -- snapshot / restore ---------------------------------------------------------------------

def test_restore_writes_params_and_running_statistics_in_place():
    model, x = bn_net()
    snap = model.snapshot()
    before = model.forward(x)
    rm, rv = model.layers[1].running_mean, model.layers[1].running_var
    model.params += 1.0
    model.forward(x, train=True)
    assert not np.array_equal(rm, snap[1]["bn1.running_mean"])
    model.restore(snap)
    np.testing.assert_array_equal(model.params, snap[0])
    assert model.layers[1].running_mean is rm and model.layers[1].running_var is rv
    np.testing.assert_array_equal(rm, snap[1]["bn1.running_mean"])
    np.testing.assert_array_equal(model.layers[5].running_var, snap[1]["bn2.running_var"])
    np.testing.assert_array_equal(model.forward(x), before)
    # the snapshot was a copy: changing the model does not change it
    model.params[0] += 1.0
    assert model.params[0] != snap[0][0]


def test_restore_allocates_missing_running_statistics_in_the_model_dtype():
    trained, x = bn_net("float64")
    snap = trained.snapshot()
    fresh, _, _ = build("float32", seed=9, batch_norm={"momentum": 0.5, "eps": 1e-3},
                        dropout={"rate": 0.25, "mode": "classic"})
    assert fresh.layers[1].running_mean is None
    fresh.restore((snap[0].astype(np.float32), snap[1]))  # float64 buffers
    for name in ("bn1", "bn2"):
        layer = fresh.layers[fresh.names.index(name)]
        for attr in ("running_mean", "running_var"):
            value = getattr(layer, attr)
            assert value.dtype == np.float32
            np.testing.assert_array_equal(value, snap[1][f"{name}.{attr}"].astype(np.float32))
    np.testing.assert_allclose(fresh.forward(x.astype(np.float32)), trained.forward(x), rtol=1e-4, atol=1e-4)


def test_restore_finds_layers_whose_names_contain_dots():
    def net():
        return MLP([("enc.d", Dense(3)), ("enc.bn", BatchNorm()), ("out", Dense(1))], n_in=2, dtype="float64")
    a = net()
    a.params[...] = np.linspace(-1, 1, a.n_params)
    a.forward(np.arange(8.0).reshape(4, 2), train=True)
    snap = a.snapshot()
    assert sorted(snap[1]) == ["enc.bn.running_mean", "enc.bn.running_var"]
    b = net()
    b.restore(snap)
    np.testing.assert_array_equal(b.layers[1].running_mean, a.layers[1].running_mean)
    np.testing.assert_array_equal(b.layers[1].running_var, a.layers[1].running_var)


# -- state / load_state (model.npz) ---------------------------------------------------------

def npz_round_trip(state):
    buf = io.BytesIO()
    np.savez(buf, **state)
    buf.seek(0)
    with np.load(buf) as f:
        return {k: f[k] for k in f.files}


def test_state_names_every_tensor_and_running_statistic():
    model, _ = bn_net()
    state = model.state()
    assert sorted(state) == sorted([t.name for t in model.tensors] +
                                   [f"bn{i}.{a}" for i in (1, 2) for a in ("running_mean", "running_var")])
    np.testing.assert_array_equal(state["dense2.W"], model.view("dense2.W"))
    assert not np.shares_memory(state["dense2.W"], model.params)


def test_load_state_reproduces_the_saved_model():
    model, x = bn_net()
    state = npz_round_trip(model.state())
    other, _, _ = build(seed=5, batch_norm={"momentum": 0.5, "eps": 1e-3}, dropout={"rate": 0.25, "mode": "classic"})
    assert not np.array_equal(other.params, model.params)
    other.load_state(state)
    np.testing.assert_array_equal(other.params, model.params)
    for i in (1, 5):
        np.testing.assert_array_equal(other.layers[i].running_mean, model.layers[i].running_mean)
        np.testing.assert_array_equal(other.layers[i].running_var, model.layers[i].running_var)
    np.testing.assert_array_equal(other.forward(x), model.forward(x))


def test_load_state_casts_to_the_model_dtype():
    model, x = bn_net("float64")
    other, _, _ = build("float32", batch_norm={"momentum": 0.5, "eps": 1e-3},
                        dropout={"rate": 0.25, "mode": "classic"})
    other.load_state(npz_round_trip(model.state()))
    assert other.params.dtype == np.float32
    np.testing.assert_array_equal(other.params, model.params.astype(np.float32))
    for i in (1, 5):
        for attr in ("running_mean", "running_var"):
            value = getattr(other.layers[i], attr)
            assert value.dtype == np.float32
            np.testing.assert_array_equal(value, getattr(model.layers[i], attr).astype(np.float32))


def test_load_state_without_running_statistics_leaves_them_unset():
    model, _, _ = build(batch_norm=True)  # never run: no running statistics yet
    state = model.state()
    assert not any("running" in k for k in state)
    other, _, _ = build(seed=3, batch_norm=True)
    other.load_state(state)
    np.testing.assert_array_equal(other.params, model.params)
    assert other.layers[1].running_mean is None


def test_relu_is_the_default_activation():
    model, _, _ = build()
    assert isinstance(model.layers[1], ReLU)
