"""The training loop, checked through train() with exact numbers.

Each test pins one line of the loop to the value it must produce, so that a one-line
change (the L2 penalty dropped, doubled or put on biases; AdamW decaying everything;
clipping before the penalty or not at all; max-norm before the step; validation in
training mode; the plateau schedule never fed; epoch schedules read one epoch late;
min_delta ignored) fails here.  Expected values are computed in float64 from the
initial weights (the same model rebuilt with build_model and rng_streams) and the
data gradient of model.forward/backward, with the formulas written out.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import merged_config

from nnlab.components import regularizers
from nnlab.components.losses import loss_for_task
from nnlab.components.optimizers import SGD
from nnlab.data import load_dataset
from nnlab.train.model import MLP, build_model
from nnlab.train.trainer import rng_streams, train

RTOL, ATOL = 1e-12, 1e-14  # float64, same operations in the same order: agreement to rounding


BASE = {"name": "t", "seed": 0, "dtype": "float64",
           "data": {"name": "spiral", "n_samples": 150, "val_fraction": 0.2},
           "model": {"hidden": [16], "activation": "relu"},
           "train": {"epochs": 5, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.01}}}


def sgd_rates(monkeypatch) -> list:
    """The learning rates SGD.step receives, in order (a spy on the optimizer)."""
    used = []
    original = SGD.step

    def spy(self, p, g, lr, n_decay=None):
        used.append(lr)
        return original(self, p, g, lr, n_decay)

    monkeypatch.setattr(SGD, "step", spy)
    return used


def config(**sections):
    return merged_config(BASE, **sections)


def one_step(optimizer, **train_section):
    """One full-batch, unshuffled step on a net with batch norm and PReLU (non-zero non-weight params)."""
    return config(model={"hidden": [6], "activation": "prelu", "batch_norm": True},
                  train={"epochs": 1, "batch_size": "full", "shuffle": False, "optimizer": optimizer,
                         **train_section})


def fresh(cfg, d):
    r = rng_streams(cfg.seed)
    return build_model(cfg.model, d.n_features, d.n_outputs, cfg.dtype, r["init"], r["noise"])


def start(cfg):
    """(dataset, initial params, data gradient of the full training set at them, weight mask)."""
    d = load_dataset(cfg.data, cfg.dtype)
    model = fresh(cfg, d)
    p0 = model.params.copy()
    out = model.forward(d.x_train, train=True)
    _, dout = loss_for_task(d.task)(out, d.y_train)
    model.backward(dout)
    mask = np.zeros(model.n_params, bool)
    for t in model.tensors:
        if t.key == "W":  # the Dense weight matrices, and only they, are penalised and decayed
            mask[t.start:t.start + t.size] = True
    assert (~mask).any() and (p0[~mask] != 0).any()  # BN gamma = 1, PReLU alpha = 0.25: a penalty would show
    return d, p0, model.grads.copy(), mask


def dense_weights(model):
    return [model.view(t.name) for t in model.tensors if t.key == "W"]


# -- the penalty: on Dense weights only, once, before the step -------------------------------


@pytest.mark.parametrize("l1, l2", [(0.0, 0.1), (0.05, 0.0)])
def test_one_sgd_step_with_l2_or_l1_by_hand(l1, l2):
    lr = 0.5
    cfg = one_step({"name": "sgd", "lr": lr}, regularization={"l1": l1, "l2": l2})
    d, p0, g, w = start(cfg)
    expected = p0 - lr * g  # biases, batch-norm gamma/beta, PReLU alpha: the data gradient only
    expected[w] = p0[w] - lr * (g[w] + l2 * p0[w] + l1 * np.sign(p0[w]))  # w' = w - lr (g + l2 w + l1 sign w)
    res = train(cfg, d)
    np.testing.assert_allclose(res.model.params[~w], expected[~w], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(res.model.params[w], expected[w], rtol=RTOL, atol=ATOL)
    # and the penalty is visible: without it the weights would be elsewhere
    assert np.abs(res.model.params[w] - (p0[w] - lr * g[w])).max() > 1e-3


def test_trainer_penalty_is_add_penalty_grad_and_gradcheck_shares_it():
    import nnlab.train.gradcheck as gradcheck

    # the gradient check verifies the very functions the trainer's regularization uses
    assert gradcheck.add_penalty_grad is regularizers.add_penalty_grad
    assert gradcheck.penalty is regularizers.penalty
    lr, l1, l2 = 0.3, 0.02, 0.2
    cfg = one_step({"name": "sgd", "lr": lr}, regularization={"l1": l1, "l2": l2})
    d, p0, g, w = start(cfg)
    gw = g[w]
    regularizers.add_penalty_grad(gw, p0[w], l1, l2)
    g[w] = gw
    res = train(cfg, d)
    np.testing.assert_allclose(res.model.params, p0 - lr * g, rtol=RTOL, atol=ATOL)
    # add_penalty_grad is the gradient of penalty() (the term gradcheck adds to the loss)
    h, i = 1e-6, int(np.flatnonzero(w)[3])
    e = np.zeros(w.sum())
    e[np.flatnonzero(w) == i] = h
    num = (regularizers.penalty(p0[w] + e, l1, l2) - regularizers.penalty(p0[w] - e, l1, l2)) / (2 * h)
    assert num == pytest.approx(l2 * p0[i] + l1 * np.sign(p0[i]), rel=1e-6)


# -- clipping after the penalty, max-norm after the step ------------------------------------


@pytest.mark.parametrize("kind", ["norm", "value"])
def test_clipping_applies_to_the_penalised_gradient(kind):
    lr, l2 = 0.5, 0.5
    probe = one_step({"name": "sgd", "lr": lr}, regularization={"l2": l2})
    d, p0, g, w = start(probe)
    v = g.copy()
    v[w] += l2 * p0[w]  # the full gradient, penalty included, is what gets clipped
    if kind == "norm":
        c = 0.5 * float(np.linalg.norm(v))
        clipped = v * (c / np.linalg.norm(v))
    else:
        c = 0.5 * float(np.abs(v).max())
        clipped = np.clip(v, -c, c)
    cfg = one_step({"name": "sgd", "lr": lr}, regularization={"l2": l2}, grad_clip={kind: c})
    res = train(cfg, d)
    np.testing.assert_allclose(res.model.params, p0 - lr * clipped, rtol=RTOL, atol=ATOL)
    # clipping the data gradient first and adding the penalty afterwards lands elsewhere
    g_first = g * (c / np.linalg.norm(g)) if kind == "norm" and np.linalg.norm(g) > c else np.clip(g, -c, c)
    g_first[w] += l2 * p0[w]
    assert np.abs(res.model.params - (p0 - lr * g_first)).max() > 1e-6


def test_max_norm_renormalises_columns_after_the_step():
    lr = 1.0
    probe = one_step({"name": "sgd", "lr": lr})
    d, p0, g, w = start(probe)
    stepped = fresh(probe, d)
    stepped.params[...] = p0 - lr * g
    norms = np.concatenate([np.linalg.norm(W, axis=0) for W in dense_weights(stepped)])
    c = float(np.median(norms))  # binds on about half of the units
    for W in dense_weights(stepped):  # W (fan_in, fan_out): unit j's incoming weights are column j
        n = np.linalg.norm(W, axis=0)
        W *= np.minimum(c / np.maximum(n, 1e-12), 1.0)
    res = train(one_step({"name": "sgd", "lr": lr}, regularization={"max_norm": c}), d)
    np.testing.assert_allclose(res.model.params, stepped.params, rtol=RTOL, atol=ATOL)
    col = np.concatenate([np.linalg.norm(W, axis=0) for W in dense_weights(res.model)])
    assert col.max() <= c * (1 + 1e-12) and np.isclose(col, c, rtol=1e-12).sum() >= len(col) // 2
    # renormalising before the step instead leaves columns above c
    before = fresh(probe, d)
    for W in dense_weights(before):
        W *= np.minimum(c / np.linalg.norm(W, axis=0), 1.0)
    assert not np.allclose(res.model.params, before.params - lr * g)


# -- AdamW: decoupled decay on weights only ------------------------------------------------------


def test_adamw_decays_weights_by_one_minus_lr_wd_and_leaves_the_rest():
    lr, wd, b1, b2, eps = 0.01, 0.1, 0.9, 0.999, 1e-8
    runs = {}
    for decay in (wd, 0.0):
        cfg = one_step({"name": "adamw", "lr": lr, "weight_decay": decay})
        d, p0, g, w = start(cfg)
        runs[decay] = train(cfg, d).model.params
    # first Adam step: m = (1-b1) g, v = (1-b2) g^2, p -= lr/(1-b1) * m / (sqrt(v)/sqrt(1-b2) + eps)
    adam = lr / (1 - b1) * ((1 - b1) * g) / (np.sqrt((1 - b2) * g * g) / np.sqrt(1 - b2) + eps)
    expected = p0 - adam
    expected[w] = p0[w] * (1 - lr * wd) - adam[w]
    np.testing.assert_allclose(runs[wd], expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(runs[0.0], p0 - adam, rtol=1e-10, atol=1e-14)
    # biases, gamma/beta, alpha: the same step with and without weight decay
    np.testing.assert_array_equal(runs[wd][~w], runs[0.0][~w])
    np.testing.assert_allclose(runs[wd][w] - runs[0.0][w], -lr * wd * p0[w], rtol=1e-9, atol=1e-15)


# -- validation in evaluation mode ------------------------------------------------------------


def test_validation_runs_in_eval_mode_and_leaves_batch_norm_statistics(monkeypatch):
    cfg = config(model={"hidden": [8], "dropout": 0.5, "batch_norm": True},
                 train={"epochs": 3, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 0.1}})
    d = load_dataset(cfg.data, cfg.dtype)
    loss_fn = loss_for_task(d.task)
    seen = {"model": None, "stats": None}
    original = MLP.forward_buffered  # the trainer's path (the public forward copies its result)

    def bn_stats(model):
        return [v.copy() for v in model.buffers().values()]

    def spy(self, x, train=True):
        out = original(self, x, train)
        if self.n_params and not np.shares_memory(x, d.x_val) and train:
            seen["model"], seen["stats"] = self, bn_stats(self)  # after the latest training batch
        return out

    monkeypatch.setattr(MLP, "forward_buffered", spy)
    checked = []

    def on_epoch(row):
        model = seen["model"]
        # validation did not move the running statistics the last training batch left
        for a, b in zip(bn_stats(model), seen["stats"]):
            np.testing.assert_array_equal(a, b)
        expected = loss_fn(original(model, d.x_val, False).copy(), d.y_val)[0]
        assert row["val_loss"] == pytest.approx(expected, rel=1e-12)
        checked.append(row["epoch"])

    res = train(cfg, d, on_epoch=on_epoch)
    assert checked == [1, 2, 3]
    # and evaluation mode matters here: a training-mode pass (dropout, batch statistics) differs
    train_mode = loss_fn(original(res.model, d.x_val, True), d.y_val)[0]
    assert abs(train_mode - res.history[-1]["val_loss"]) > 1e-3


def test_batch_norm_running_statistics_after_one_epoch_come_from_the_training_batch_alone():
    cfg = config(model={"hidden": [8], "dropout": 0.5, "batch_norm": {"momentum": 0.5}},
                 train={"epochs": 1, "batch_size": "full", "shuffle": False,
                        "optimizer": {"name": "sgd", "lr": 0.1}})
    d = load_dataset(cfg.data, cfg.dtype)
    ref = fresh(cfg, d)
    ref.forward(d.x_train, train=True)  # the one training batch: running = 0.5 * init + 0.5 * batch stats
    res = train(cfg, d)
    assert res.history[0]["val_loss"] is not None
    for k, v in ref.buffers().items():
        np.testing.assert_allclose(res.model.buffers()[k], v, rtol=RTOL, atol=ATOL)


# -- schedules: the plateau is fed, epoch rates are on time --------------------------------------


def test_plateau_cut_shows_in_the_recorded_lr():
    # threshold 0.5: after epoch 1 no epoch improves val_loss by half, so every later epoch is bad.
    # Plateau.observe after epoch e: bad += 1; when bad > patience (1): lr *= factor, bad = 0.
    # Epoch 1 sets best; bad after epochs 2, 3 = 1, 2 -> cut after epoch 3; 4, 5 -> cut after 5; ...
    lr = 0.01
    cfg = config(train={"epochs": 8, "optimizer": {"name": "sgd", "lr": lr},
                        "schedule": {"name": "plateau", "patience": 1, "factor": 0.5, "threshold": 0.5}})
    res = train(cfg, load_dataset(cfg.data, cfg.dtype))
    assert [r["lr"] for r in res.history] == [lr, lr, lr, lr / 2, lr / 2, lr / 4, lr / 4, lr / 8]


def test_plateau_rate_is_the_one_the_optimizer_uses(monkeypatch):
    used = sgd_rates(monkeypatch)
    lr = 0.01
    cfg = config(train={"epochs": 5, "batch_size": "full", "optimizer": {"name": "sgd", "lr": lr},
                        "schedule": {"name": "plateau", "patience": 1, "factor": 0.5, "threshold": 0.5}})
    res = train(cfg, load_dataset(cfg.data, cfg.dtype))
    assert used == [r["lr"] for r in res.history] == [lr, lr, lr, lr / 2, lr / 2]


def test_epoch_unit_schedule_gives_epoch_e_the_rate_of_t_e_minus_1(monkeypatch):
    used = sgd_rates(monkeypatch)
    lr = 0.1
    cfg = config(train={"epochs": 5, "batch_size": 40, "optimizer": {"name": "sgd", "lr": lr},
                        "schedule": {"name": "step", "step_size": 2, "gamma": 0.5}})
    res = train(cfg, load_dataset(cfg.data, cfg.dtype))  # 120 training samples: 3 steps per epoch
    rates = [lr * 0.5 ** k for k in (0, 0, 1, 1, 2)]
    assert [r["epoch"] for r in res.history] == [1, 2, 3, 4, 5]
    assert [r["lr"] for r in res.history] == rates
    assert used == [r for r in rates for _ in range(3)]


def test_step_unit_schedule_row_has_the_rate_of_the_epochs_first_step(monkeypatch):
    used = sgd_rates(monkeypatch)
    lr, spe = 0.1, 4  # 120 training samples, batches of 30
    cfg = config(train={"epochs": 3, "batch_size": 30, "optimizer": {"name": "sgd", "lr": lr},
                        "schedule": {"name": "step", "step_size": 3, "gamma": 0.5, "unit": "step"}})
    res = train(cfg, load_dataset(cfg.data, cfg.dtype))
    assert used == [lr * 0.5 ** (t // 3) for t in range(3 * spe)]
    assert [r["lr"] for r in res.history] == [lr * 0.5 ** ((e - 1) * spe // 3) for e in (1, 2, 3)]


# -- early stopping honours min_delta -----------------------------------------------------------------


def expected_stop(values, patience, min_delta):
    """(epochs run, best epoch) by the rule: better means value < best - min_delta."""
    best, best_epoch, since = None, None, 0
    for e, v in enumerate(values, start=1):
        if best is None or v < best - min_delta:
            best, best_epoch, since = v, e, 0
        else:
            since += 1
        if since >= patience:
            return e, best_epoch
    return len(values), best_epoch


def test_early_stopping_min_delta():
    base = {"epochs": 12, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.02}}
    d = load_dataset(config().data, "float64")
    free = [r["val_loss"] for r in train(config(train=base), d).history]
    assert free[3] < free[0] - 0.05  # learning: val_loss keeps dropping at first
    patience = 2
    for min_delta, runs in [(1e9, patience + 1), (0.0, None), (0.05, None)]:
        es = {"metric": "val_loss", "patience": patience, "min_delta": min_delta, "restore_best": False}
        res = train(config(train={**base, "early_stopping": es}), d)
        n, best = expected_stop(free, patience, min_delta)
        assert len(res.history) == n and res.best["epoch"] == best, min_delta
        assert res.stopped_early == (n < 12)
        assert [r["val_loss"] for r in res.history] == free[:n]
        if runs is not None:  # a huge min_delta: nothing after epoch 1 counts, stop after patience + 1
            assert n == runs and best == 1
        else:
            assert n > patience + 1
