"""The training loop: reproducibility, what it records, divergence, early stopping, constraints."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import merged_config

from nnlab.components.losses import SoftmaxCrossEntropy
from nnlab.components.regularizers import add_penalty_grad, apply_max_norm, clip_by_norm, clip_by_value, penalty
from nnlab.config import validate
from nnlab.data import load_dataset
from nnlab.train.model import build_model
from nnlab.train.trainer import evaluate, rng_streams, steps_per_epoch, train

BASE = {"name": "t", "seed": 0,
           "data": {"name": "spiral", "n_samples": 150, "val_fraction": 0.2},
           "model": {"hidden": [16], "activation": "relu"},
           "train": {"epochs": 5, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.01}}}


def config(**sections):
    return merged_config(BASE, **sections)


def fit(cfg, **kw):
    return train(cfg, load_dataset(cfg.data, cfg.dtype), **kw)


def strip_time(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_same_seed_same_numbers_other_seed_other_numbers():
    cfg = config(model={"dropout": 0.2})
    a, b = fit(cfg), fit(cfg)
    assert strip_time(a.history) == strip_time(b.history)
    assert np.array_equal(a.model.params, b.model.params)
    c = fit(config(seed=1, model={"dropout": 0.2}))
    assert strip_time(c.history) != strip_time(a.history)


def test_streams_are_independent_dropout_does_not_change_init():
    d = load_dataset(config().data)
    nets = []
    for rate in (0.0, 0.5):
        cfg = config(model={"dropout": rate})
        r = rng_streams(cfg.seed)
        nets.append(build_model(cfg.model, d.n_features, d.n_outputs, "float32", r["init"], r["noise"]))
    assert np.array_equal(nets[0].params, nets[1].params)


def test_global_numpy_state_untouched():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    fit(config(model={"dropout": 0.3, "activation": "rrelu"}))
    assert np.array_equal(np.random.get_state()[1], before)


def test_float32_by_default_float64_on_request():
    assert fit(config()).model.params.dtype == np.float32
    assert fit(config(dtype="float64")).model.params.dtype == np.float64


def test_first_epoch_train_loss_is_the_mean_over_batches_before_updates():
    # full batch, no shuffle, one epoch: the recorded loss is the loss of the initial weights
    cfg = config(train={"epochs": 1, "batch_size": "full", "shuffle": False})
    d = load_dataset(cfg.data)
    r = rng_streams(cfg.seed)
    model = build_model(cfg.model, d.n_features, d.n_outputs, "float32", r["init"], r["noise"])
    expected, expected_acc = evaluate(model, d.x_train, d.y_train, SoftmaxCrossEntropy())
    row = fit(cfg).history[0]
    assert row["train_loss"] == pytest.approx(expected, rel=1e-6)
    assert row["train_acc"] == pytest.approx(expected_acc)
    assert row["epoch"] == 1 and row["lr"] == 0.01


def test_val_and_test_metrics_match_evaluate():
    cfg = config()
    d = load_dataset(cfg.data)
    res = train(cfg, d)
    loss, acc = evaluate(res.model, d.x_val, d.y_val, SoftmaxCrossEntropy())
    assert res.history[-1]["val_loss"] == pytest.approx(loss) and res.history[-1]["val_acc"] == acc
    loss, acc = evaluate(res.model, d.x_test, d.y_test, SoftmaxCrossEntropy())
    assert res.test == {"loss": pytest.approx(loss), "acc": acc}


def test_no_validation_split_leaves_val_columns_empty():
    res = fit(config(data={"val_fraction": 0}))
    assert all(r["val_loss"] is None and r["val_acc"] is None for r in res.history)
    assert res.best["epoch"] >= 1


def test_learning_is_real_spiral_gets_solved():
    res = fit(config(model={"hidden": [64]}, train={"epochs": 60, "batch_size": 32}))
    assert res.status == "completed"
    assert res.history[-1]["train_acc"] > 0.9 and res.test["acc"] > 0.85
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"] / 3


def test_regression_task_uses_mse_and_no_accuracy(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (120, 2))
    np.savez(tmp_path / "r.npz", x=x, y=x[:, 0] * 2 - x[:, 1])
    cfg = validate({"data": {"name": "npz", "path": str(tmp_path / "r.npz")},
                    "model": {"hidden": [8], "activation": "tanh"},
                    "train": {"epochs": 40, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.01}}})
    res = fit(cfg)
    assert res.history[-1]["train_acc"] is None and res.test["acc"] is None
    assert res.history[-1]["train_loss"] < 0.1 * res.history[0]["train_loss"]


def test_divergence_stops_with_a_message_and_keeps_history():
    res = fit(config(train={"epochs": 30, "optimizer": {"name": "sgd", "lr": 1e6}}))
    assert res.status == "diverged"
    assert "lower learning rate" in res.message and "epoch" in res.message
    assert len(res.history) < 30
    assert res.test == {"loss": None, "acc": None}


def test_interrupt_keeps_what_was_recorded():
    seen = []

    def on_epoch(row):
        seen.append(row)
        if row["epoch"] == 3:
            raise KeyboardInterrupt

    res = fit(config(train={"epochs": 10}), on_epoch=on_epoch)
    assert res.status == "interrupted" and len(res.history) == 3 == len(seen)


def test_early_stopping_restores_the_best_epoch_weights():
    cfg = config(model={"hidden": [64]},
                 train={"epochs": 200, "batch_size": 8, "optimizer": {"name": "adam", "lr": 0.05},
                        "early_stopping": {"metric": "val_loss", "patience": 3}})
    d = load_dataset(cfg.data)
    res = train(cfg, d)
    assert res.stopped_early and len(res.history) < 200
    best = min(res.history, key=lambda r: r["val_loss"])
    assert res.restored_epoch == best["epoch"] == res.best["epoch"]
    assert len(res.history) == best["epoch"] + 3  # patience epochs without improvement
    # the model now holds the best epoch's weights: its validation loss is that epoch's
    loss, _ = evaluate(res.model, d.x_val, d.y_val, SoftmaxCrossEntropy())
    assert loss == pytest.approx(best["val_loss"], rel=1e-6)


def test_early_stopping_without_restore_keeps_last_weights():
    cfg = config(train={"epochs": 200, "batch_size": 8, "optimizer": {"name": "adam", "lr": 0.05},
                        "early_stopping": {"metric": "val_loss", "patience": 2, "restore_best": False}})
    d = load_dataset(cfg.data)
    res = train(cfg, d)
    assert res.restored_epoch is None
    loss, _ = evaluate(res.model, d.x_val, d.y_val, SoftmaxCrossEntropy())
    assert loss == pytest.approx(res.history[-1]["val_loss"], rel=1e-6)


def test_max_norm_holds_after_training_and_binds():
    free = fit(config(train={"epochs": 10, "optimizer": {"name": "sgd", "lr": 0.5}}))
    norms = [np.linalg.norm(free.model.view(t.name), axis=0).max() for t in free.model.tensors if t.key == "W"]
    c = 0.5 * min(norms)
    res = fit(config(train={"epochs": 10, "optimizer": {"name": "sgd", "lr": 0.5},
                            "regularization": {"max_norm": float(c)}}))
    for t in res.model.tensors:
        if t.key == "W":
            assert np.linalg.norm(res.model.view(t.name), axis=0).max() <= c * (1 + 1e-5)


def test_steps_per_epoch_batch_variants():
    assert steps_per_epoch(config(train={"batch_size": "full"}), 96) == 1
    assert steps_per_epoch(config(train={"batch_size": 1}), 96) == 96
    assert steps_per_epoch(config(train={"batch_size": 10}), 96) == 10


def test_step_unit_schedule_changes_within_epochs():
    cfg = config(train={"epochs": 3, "batch_size": 12, "optimizer": {"name": "sgd", "lr": 0.1},
                        "schedule": {"name": "step", "step_size": 5, "gamma": 0.5, "unit": "step"}})
    res = fit(cfg)  # 120 train samples -> 10 steps per epoch: epochs start at steps 0, 10, 20
    assert [r["lr"] for r in res.history] == [0.1, 0.1 * 0.5 ** 2, 0.1 * 0.5 ** 4]


# -- regularizers: the formulas of Hung-yi Lee's notes ------------------------------------


def test_l2_and_l1_penalty_and_gradient():
    w = np.array([1.0, -2.0, 0.0, 3.0])
    assert penalty(w, l1=0.0, l2=0.1) == pytest.approx(0.05 * 14)
    assert penalty(w, l1=0.5, l2=0.0) == pytest.approx(3.0)
    g = np.zeros(4)
    add_penalty_grad(g, w, l1=0.5, l2=0.1)
    assert np.allclose(g, [0.1 + 0.5, -0.2 - 0.5, 0.0, 0.3 + 0.5])


def test_sgd_with_l2_is_weight_decay():
    # w <- w - lr (dL/dw + l2 w) = (1 - lr l2) w - lr dL/dw
    w, dl, lr, l2 = np.array([2.0, -1.0]), np.array([0.5, 0.25]), 0.1, 0.3
    g = dl.copy()
    add_penalty_grad(g, w, 0.0, l2)
    assert np.allclose(w - lr * g, (1 - lr * l2) * w - lr * dl)


def test_clip_by_norm_and_value():
    g = np.array([3.0, 4.0, 0.0, 12.0])  # norm 13
    before = clip_by_norm(g, 6.5)
    assert before == 13 and np.allclose(g, [1.5, 2.0, 0.0, 6.0]) and np.linalg.norm(g) == pytest.approx(6.5)
    g2 = np.array([0.1, -0.2])
    clip_by_norm(g2, 1.0)
    assert np.allclose(g2, [0.1, -0.2])  # under the bound: untouched
    g3 = np.array([-5.0, 0.3, 2.0])
    clip_by_value(g3, 1.0)
    assert np.allclose(g3, [-1.0, 0.3, 1.0])


def test_grad_clip_bounds_every_step_in_training(monkeypatch):
    import nnlab.components.optimizers as optim

    seen = []
    original = optim.SGD.step

    def spy(self, p, g, lr, n_decay=None):
        seen.append(float(np.linalg.norm(g)))
        return original(self, p, g, lr, n_decay)

    monkeypatch.setattr(optim.SGD, "step", spy)
    fit(config(train={"epochs": 2, "optimizer": {"name": "sgd", "lr": 0.1}, "grad_clip": {"norm": 0.05}}))
    assert seen and max(seen) <= 0.05 * (1 + 1e-5)


def test_max_norm_rescales_columns():
    W = np.array([[3.0, 0.1], [4.0, 0.1]])
    apply_max_norm([W], 2.0)
    assert np.allclose(W[:, 0], [1.2, 1.6]) and np.allclose(W[:, 1], [0.1, 0.1])
