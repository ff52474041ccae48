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
from nnlab.data import Dataset, load_dataset
from nnlab.train.model import MLP, build_model
from nnlab.train.trainer import Trainer, rng_streams, train

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


# -- decoupled decay and the biases switch (train.regularization.decay, .biases) -----------------------


def test_one_sgd_step_with_decay_by_hand():
    lr, decay = 0.5, 0.2
    cfg = one_step({"name": "sgd", "lr": lr}, regularization={"decay": decay})
    d, p0, g, w = start(cfg)
    expected = p0 - lr * g
    expected[w] = (1 - lr * decay) * p0[w] - lr * g[w]  # w <- w - lr decay w, then the step
    res = train(cfg, d)
    np.testing.assert_allclose(res.model.params, expected, rtol=RTOL, atol=ATOL)


def bias_mask(model) -> np.ndarray:
    mask = np.zeros(model.n_params, bool)
    for t in model.tensors:
        if t.key == "b":
            mask[t.start:t.start + t.size] = True
    return mask


def test_biases_true_regularizes_the_dense_biases_and_never_batch_norm_or_prelu():
    lr, l1, l2, decay = 0.5, 0.03, 0.1, 0.2
    reg = {"l1": l1, "l2": l2, "decay": decay}
    cfg = one_step({"name": "sgd", "lr": lr}, regularization={**reg, "biases": True})
    d, p0, g, w = start(cfg)
    b = bias_mask(fresh(cfg, d))
    assert b.sum() == 6 + d.n_outputs and not (b & w).any()
    p0[b] = np.linspace(-0.4, 0.3, b.sum())  # biases start at 0: move them so that a penalty shows
    model = fresh(cfg, d)
    model.params[...] = p0
    out = model.forward(d.x_train, train=True)
    model.backward(loss_for_task(d.task)(out, d.y_train)[1])
    g = model.grads.copy()
    on = w | b  # weights and biases; bn gamma/beta and prelu alpha (the rest) take the data gradient only
    expected = p0 - lr * g
    expected[on] = (1 - lr * decay) * p0[on] - lr * (g[on] + l2 * p0[on] + l1 * np.sign(p0[on]))
    results = {}
    for biases in (True, False):
        tr = Trainer(one_step({"name": "sgd", "lr": lr}, regularization={**reg, "biases": biases}), d)
        tr.model.params[...] = p0
        results[biases] = tr.run().model.params
    np.testing.assert_allclose(results[True], expected, rtol=RTOL, atol=ATOL)
    rest = ~on
    np.testing.assert_array_equal(results[True][rest], results[False][rest])  # untouched either way
    np.testing.assert_allclose(results[False][b], p0[b] - lr * g[b], rtol=RTOL, atol=ATOL)  # default: off


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_adam_with_decay_is_adamw_to_the_bit(dtype):
    # several epochs of mini-batches under a step schedule: the decay uses each step's scheduled rate
    base = {"epochs": 4, "batch_size": 16, "schedule": {"name": "step", "step_size": 1, "gamma": 0.5}}
    d = load_dataset(config().data, dtype)
    ours = train(merged_config({**BASE, "dtype": dtype}, model={"batch_norm": True},
                               train={**base, "optimizer": {"name": "adam", "lr": 0.02},
                                      "regularization": {"decay": 0.3}}), d)
    adamw = train(merged_config({**BASE, "dtype": dtype}, model={"batch_norm": True},
                                train={**base, "optimizer": {"name": "adamw", "lr": 0.02, "weight_decay": 0.3}}), d)
    np.testing.assert_array_equal(ours.model.params, adamw.model.params)
    plain = train(merged_config({**BASE, "dtype": dtype}, model={"batch_norm": True},
                                train={**base, "optimizer": {"name": "adam", "lr": 0.02}}), d)
    assert np.abs(plain.model.params - ours.model.params).max() > 1e-3  # and the decay did something


def test_plain_sgd_with_decay_is_sgd_with_l2():
    # (1 - lr l) w - lr dL/dw = w - lr (dL/dw + l w): for plain SGD decoupled decay IS the L2 step
    # (Hung-yi Lee's note); the two differ only in the order of the floating-point operations
    base = {"epochs": 6, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 0.1},
            "schedule": {"name": "cosine", "t_max": 6}}
    d = load_dataset(config().data, "float64")
    cfg = lambda reg: config(model={"activation": "tanh"}, train={**base, "regularization": reg})  # noqa: E731
    decay, l2, none = (train(cfg(r), d).model.params for r in ({"decay": 0.05}, {"l2": 0.05}, {}))
    np.testing.assert_allclose(decay, l2, rtol=1e-10, atol=1e-12)
    assert np.abs(decay - none).max() > 1e-3


def test_adam_with_l2_is_not_adam_with_decay():
    # Loshchilov & Hutter 2019: Adam divides the L2 gradient l2 w by sqrt(v) like the data gradient, so it
    # is not weight decay; decoupled decay shrinks every weight by the same factor 1 - lr decay
    base = {"epochs": 6, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.01}}
    d = load_dataset(config().data, "float64")
    cfg = lambda reg: config(model={"activation": "tanh"}, train={**base, "regularization": reg})  # noqa: E731
    decay, l2, none = (train(cfg(r), d).model.params for r in ({"decay": 0.5}, {"l2": 0.5}, {}))
    n = fresh(cfg({}), d).n_decay
    gap = np.linalg.norm(decay[:n] - l2[:n])
    assert gap > 0.5 * np.linalg.norm(decay[:n] - none[:n])  # here twice the effect of the decay itself
    # L2 under Adam pulls small weights to 0 about as fast as large ones (the step is about lr either way)
    assert np.linalg.norm(l2[:n]) < np.linalg.norm(decay[:n])


# torch.optim.AdamW (torch 2.14.1+cpu, float64) on a 3 -> 4 (tanh) -> 2 net, full batch, cross-entropy, 4 steps
# of StepLR(step_size=1, gamma=0.5) from lr 0.1, weight_decay 0.3 on the weights (param group 1) and on the
# biases (group 2) only in the second case.  Generated by this script, pasted verbatim:
#
# import torch
#
# torch.set_default_dtype(torch.float64)
# X = torch.tensor([[0.5, -1.0, 0.25], [1.5, 0.3, -0.7], [-0.2, 0.8, 1.1], [0.9, -0.4, -1.3], [-1.2, 0.6, 0.4]])
# Y = torch.tensor([0, 1, 1, 0, 1])
# W1 = [[0.3, -0.5, 0.8], [-0.6, 0.2, 0.4], [0.7, 0.9, -0.3], [-0.1, -0.8, 0.5]]  # torch layout (out, in)
# B1 = [0.1, -0.2, 0.05, 0.3]
# W2 = [[0.4, -0.7, 0.2, 0.6], [-0.3, 0.5, -0.9, 0.1]]
# B2 = [0.2, -0.1]
#
# print(f"# torch {torch.__version__}")
# for biases in (False, True):
#     l1, l2 = torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)
#     with torch.no_grad():
#         for t, v in ((l1.weight, W1), (l1.bias, B1), (l2.weight, W2), (l2.bias, B2)):
#             t.copy_(torch.tensor(v))
#     groups = [{"params": [l1.weight, l2.weight], "weight_decay": 0.3},
#               {"params": [l1.bias, l2.bias], "weight_decay": 0.3 if biases else 0.0}]
#     opt = torch.optim.AdamW(groups, lr=0.1, foreach=False)
#     sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
#     for _ in range(4):
#         opt.zero_grad()
#         loss = torch.nn.functional.cross_entropy(l2(torch.tanh(l1(X))), Y)
#         loss.backward()
#         opt.step()
#         sched.step()
#     print(f"biases {biases}:")
#     for name, t in (("W1", l1.weight), ("B1", l1.bias), ("W2", l2.weight), ("B2", l2.bias)):
#         print(f"    {name!r}: {t.detach().tolist()!r},")
TORCH_X = [[0.5, -1.0, 0.25], [1.5, 0.3, -0.7], [-0.2, 0.8, 1.1], [0.9, -0.4, -1.3], [-1.2, 0.6, 0.4]]
TORCH_Y = [0, 1, 1, 0, 1]
TORCH_START = {"W1": [[0.3, -0.5, 0.8], [-0.6, 0.2, 0.4], [0.7, 0.9, -0.3], [-0.1, -0.8, 0.5]],
               "B1": [0.1, -0.2, 0.05, 0.3], "W2": [[0.4, -0.7, 0.2, 0.6], [-0.3, 0.5, -0.9, 0.1]], "B2": [0.2, -0.1]}
ADAMW_GOLDEN = {
    False: {
        'W1': [[0.10776707013094082, -0.6524000942192113, 0.5723777906434971],
               [-0.709727448497774, 0.3665300944144631, 0.5433142989144474],
               [0.8401030242082094, 0.6711085401590082, -0.46043845538742384],
               [-0.2723095401441795, -0.9400809164752373, 0.28801581293669376]],
        'B1': [-0.0789253860972114, -0.029915817133446716, -0.12253350356057778, 0.11445736828054266],
        'W2': [[0.34941490541649045, -0.6141012852212419, 0.00993659439714827, 0.749721414371698],
               [-0.2549420994633655, 0.425155673314992, -0.6712462360690231, -0.08841177269982307]],
        'B2': [0.017039638601178644, 0.08296036139882133],
    },
    True: {
        'W1': [[0.1079290957872802, -0.6523437857792996, 0.5724097909796008],
               [-0.707282407447863, 0.3665446616291932, 0.5426955989713149],
               [0.8400911289725695, 0.6711507206916582, -0.46030507827421213],
               [-0.27134995337071727, -0.9400710055118344, 0.28801874257744675]],
        'B1': [-0.08093436339830896, -0.022690853895692763, -0.12145651918803331, 0.10142419862396307],
        'W2': [[0.3494224260094849, -0.6146990830141501, 0.009979599909581685, 0.7496396280087314],
               [-0.25494962005635996, 0.4257534711079001, -0.6712892415814566, -0.08832998633685643]],
        'B2': [0.009514525357170121, 0.08495828059595487],
    },
}


@pytest.mark.parametrize("biases", [False, True])
def test_adam_with_decay_matches_torch_adamw_under_a_schedule(biases):
    x, y = np.array(TORCH_X), np.array(TORCH_Y)
    d = Dataset("t", "classification", x, y, None, None, x, y, 2)
    cfg = merged_config({"name": "t", "dtype": "float64", "data": {"val_fraction": 0}},
                        model={"hidden": [4], "activation": "tanh"},
                        train={"epochs": 4, "batch_size": "full", "shuffle": False,
                               "optimizer": {"name": "adam", "lr": 0.1},
                               "schedule": {"name": "step", "step_size": 1, "gamma": 0.5},
                               "regularization": {"decay": 0.3, "biases": biases}})
    tr = Trainer(cfg, d)
    names = {"W1": "dense1.W", "B1": "dense1.b", "W2": "dense2.W", "B2": "dense2.b"}
    for k, name in names.items():  # torch's Linear.weight is (out, in), nnlab's W (in, out)
        tr.model.view(name)[...] = np.array(TORCH_START[k]).T
    model = tr.run().model
    assert [r["lr"] for r in tr.result.history] == [0.1, 0.05, 0.025, 0.0125]
    for k, name in names.items():
        np.testing.assert_allclose(model.view(name), np.array(ADAMW_GOLDEN[biases][k]).T, rtol=1e-12, atol=1e-15)
