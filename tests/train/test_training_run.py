"""What a run reports, pinned to reference values: messages, statuses, the monitored metric, the
schedule's length, evaluation, checkpoint positions and their throttle, timing accounting.

Timing is made exact by replacing the trainer's clock (``nnlab.train.trainer.time``) with one that
only moves when a test says so: every optimizer step takes ``dt`` seconds, a validation pass 100 s,
the test pass 1000 s.  Then train_seconds, the row's seconds, the mid-epoch checkpoint positions
(every ``checkpoint_seconds``) and the end-of-epoch throttle (``checkpoint_every``) are integers a
reader can count by hand.
"""

from __future__ import annotations

import json
import signal
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import merged_config

import nnlab.train.trainer as trainer
from nnlab.components.losses import MeanSquaredError, SoftmaxCrossEntropy
from nnlab.data import load_dataset
from nnlab.data.splits import Dataset
from nnlab.interrupt import Interrupted
from nnlab.train.model import MLP, build_model
from nnlab.train.trainer import (CHECKPOINT_VERSION, Trainer, _json_default, _pack, evaluate, make_schedule,
                                 monitor_metric, rng_streams, train)

N_TRAIN = 120  # spiral, 150 samples, val_fraction 0.2: 120 training rows, 30 validation rows


BASE = {"name": "t", "seed": 0, "dtype": "float64",
           "data": {"name": "spiral", "n_samples": 150, "val_fraction": 0.2},
           "model": {"hidden": [4], "activation": "relu"},
           "train": {"epochs": 3, "batch_size": 30, "optimizer": {"name": "sgd", "lr": 0.1}}}


def config(**sections):
    """A small float64 run: 120 training rows in batches of 30 (4 steps an epoch), SGD."""
    return merged_config(BASE, **sections)


def data(cfg):
    return load_dataset(cfg.data, cfg.dtype)


def meta(state):
    return json.loads(str(state["meta"]))


def copy(state):
    return {k: np.array(v) for k, v in state.items()}


def strip(history):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


class Clock:
    """A perf_counter that moves only when told: each step dt, each validation pass val, the test pass test."""

    def __init__(self, monkeypatch, d, dt=1.0, val=100.0, test=1000.0):
        self.t = 0.0
        self.steps = []  # (loss, correct, batch length, last) of every step
        monkeypatch.setattr(trainer, "time", SimpleNamespace(perf_counter=lambda: self.t))
        step, evaluate_ = Trainer.step, trainer.evaluate

        def timed_step(tr, xb, yb, epoch, last):
            loss, c = step(tr, xb, yb, epoch, last)
            self.steps.append((loss, c, len(xb), last))
            self.t += dt
            return loss, c

        def timed_evaluate(model, x, y, loss_fn, batch=4096):
            self.t += test if x is d.x_test else val
            return evaluate_(model, x, y, loss_fn, batch)

        monkeypatch.setattr(Trainer, "step", timed_step)
        monkeypatch.setattr(trainer, "evaluate", timed_evaluate)


# -- the monitored metric and the schedule's length ------------------------------------------------


def test_monitor_metric_by_task_split_and_early_stopping():
    plain = config()
    es = config(train={"early_stopping": {"metric": "train_loss", "patience": 2}})
    x = np.zeros((2, 2))
    for task, has_val, expected in [("classification", True, "val_acc"), ("classification", False, "train_acc"),
                                    ("regression", True, "val_loss"), ("regression", False, "train_loss")]:
        d = SimpleNamespace(task=task, x_val=x if has_val else None)
        assert monitor_metric(plain, d) == expected, (task, has_val)
        assert monitor_metric(es, d) == "train_loss"  # early stopping's metric wins


def test_make_schedule_total_is_epochs_or_epochs_times_steps():
    # 120 rows: batches of 30 -> 4 steps an epoch; batches of 7 -> 17 of 7 and one of 1 -> 18
    assert make_schedule(config(train={"epochs": 5}), N_TRAIN).total == 5
    assert make_schedule(config(train={"epochs": 5, "schedule": {"name": "step", "step_size": 2}}), N_TRAIN).total == 5
    step = {"name": "step", "step_size": 2, "unit": "step"}
    assert make_schedule(config(train={"epochs": 5, "schedule": step}), N_TRAIN).total == 20
    assert make_schedule(config(train={"epochs": 5, "batch_size": 7, "schedule": step}), N_TRAIN).total == 90
    sched = make_schedule(config(train={"epochs": 5, "schedule": {"name": "cosine", "t_max": 3}}), N_TRAIN)
    assert sched.total == 5 and sched.unit == "epoch" and sched.base_lr == 0.1


# -- evaluate ------------------------------------------------------------------------------------------


def test_evaluate_in_small_batches_is_the_mean_over_samples():
    cfg = config()
    d = data(cfg)
    r = rng_streams(0)
    model = build_model(cfg.model, d.n_features, d.n_outputs, cfg.dtype, r["init"], r["noise"])
    x, y = d.x_val[:10], d.y_val[:10]
    out = model.forward(x)  # evaluation mode
    # per sample: -log softmax(out)[y], and whether the largest logit is y
    logp = out - out.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    losses = -logp[np.arange(10), y]
    hits = out.argmax(axis=1) == y
    assert 0 < hits.sum() < 10
    for batch in (1, 3, 4, 10, 4096):  # batches of 3: 3 + 3 + 3 + 1, weighted by their lengths
        loss, acc = evaluate(model, x, y, SoftmaxCrossEntropy(), batch=batch)
        assert loss == pytest.approx(losses.mean(), rel=1e-12), batch
        assert acc == hits.sum() / 10
    # regression: the mean of the squared errors, no accuracy
    t = np.linspace(-1, 1, 30).reshape(10, 3)
    loss, acc = evaluate(model, x, t, MeanSquaredError(), batch=4)
    assert loss == pytest.approx(((out - t) ** 2).mean(), rel=1e-12) and acc is None


# -- messages and statuses -----------------------------------------------------------------------------


def test_training_loss_divergence_message_time_and_no_test_pass(monkeypatch):
    cfg = config(train={"epochs": 30, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 1e6}},
                 model={"hidden": [16]})
    d = data(cfg)
    clock = Clock(monkeypatch, d)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # overflow and invalid values on the way are not warnings
        res = train(cfg, d)
    assert res.status == "diverged" and len(res.history) == 3
    assert res.message == ("the training loss became nan in epoch 4; try a lower learning rate "
                           "(train.optimizer.lr is 1000000.0)")
    assert np.isnan(clock.steps[-1][0]) and all(np.isfinite(s[0]) for s in clock.steps[:-1])
    assert res.train_seconds == len(clock.steps)  # every step, the diverging one included
    assert res.samples_seen == 3 * N_TRAIN
    assert res.test == {"loss": None, "acc": None} and res.restored_epoch is None
    assert clock.t == len(clock.steps) + 3 * 100  # no test pass


def test_a_diverged_regression_with_large_targets_says_to_scale_them(tmp_path):
    """Targets in the millions diverge at any sensible rate; the message names that cause first.  Targets of
    ordinary size keep the plain message (a rate of 1e6 is the cause there)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 3))
    path = tmp_path / "d.npz"
    for scale, lr in ((1e6, 0.01), (1.0, 1e6)):
        np.savez(path, x=x, y=x @ np.array([1.0, 2.0, 3.0]) * scale)
        cfg = merged_config({**BASE, "data": {"name": "npz", "path": str(path), "preprocess": "none"}},
                            train={"epochs": 5, "batch_size": 20, "optimizer": {"name": "sgd", "lr": lr}})
        d = data(cfg)
        with np.errstate(all="ignore"):
            res = train(cfg, d)
        assert res.status == "diverged", scale
        top = float(np.abs(d.y_train).max())
        plain = f"try a lower learning rate (train.optimizer.lr is {lr})"
        if scale > 1:
            assert res.message.endswith(f"; the regression targets reach |y| = {top:.3g}: scale them (to unit "
                                        f"variance, say) before training, or {plain}"), res.message
        else:
            assert res.message.endswith(f"; {plain}") and "targets" not in res.message, res.message


def test_the_target_scale_hint_starts_above_a_thousand():
    plain = "the training loss became inf in epoch 2; try a lower learning rate (train.optimizer.lr is 0.1)"
    assert trainer._diverged("the training loss", float("inf"), 2, 0.1) == plain
    assert trainer._diverged("the training loss", float("inf"), 2, 0.1, None) == plain
    assert trainer._diverged("the training loss", float("inf"), 2, 0.1, 1000.0) == plain
    assert trainer._diverged("the training loss", float("inf"), 2, 0.1, 1000.5) == (
        "the training loss became inf in epoch 2; the regression targets reach |y| = 1e+03: scale them (to unit "
        "variance, say) before training, or try a lower learning rate (train.optimizer.lr is 0.1)")


def test_class_labels_are_not_targets_to_scale():
    # 1500 classes: the labels reach 1499, which is no reason to scale anything
    labels = SimpleNamespace(y_train=np.array([0, 1499, 7]))
    assert Trainer._target_max(SimpleNamespace(classify=True, data=labels)) is None
    targets = SimpleNamespace(y_train=np.array([[-2e4], [3.0]]))
    assert Trainer._target_max(SimpleNamespace(classify=False, data=targets)) == 2e4


def nan_validation_at(monkeypatch, epoch):
    """Validation reports NaN (loss and accuracy) from the given epoch on."""
    calls = []
    original = trainer.evaluate

    def fake(model, x, y, loss_fn, batch=4096):
        loss, acc = original(model, x, y, loss_fn, batch)
        if len(x) == 30:  # the validation set
            calls.append(1)
            if len(calls) >= epoch:
                return float("nan"), float("nan")
        return loss, acc

    monkeypatch.setattr(trainer, "evaluate", fake)


def test_a_monitored_metric_going_nan_is_divergence_and_the_best_weights_meet_the_test_set(monkeypatch):
    es = {"metric": "val_loss", "patience": 50, "restore_best": True}
    cfg = config(train={"epochs": 10, "early_stopping": es})
    d = data(cfg)
    nan_validation_at(monkeypatch, 3)
    res = train(cfg, d)
    assert res.status == "diverged" and len(res.history) == 3 and not res.stopped_early
    assert res.message == "val_loss became nan in epoch 3; try a lower learning rate (train.optimizer.lr is 0.1)"
    best = min(res.history[:2], key=lambda r: r["val_loss"])["epoch"]
    assert res.restored_epoch == best == res.best["epoch"]
    monkeypatch.undo()
    ref = train(config(train={"epochs": best}), d)  # a constant rate: the same run stopped at the best epoch
    np.testing.assert_array_equal(res.model.params, ref.model.params)
    assert res.test == ref.test and res.test["loss"] is not None


def test_a_nan_metric_without_restore_skips_the_test_set(monkeypatch):
    cfg = config(train={"epochs": 10})
    d = data(cfg)
    nan_validation_at(monkeypatch, 2)
    seen = []
    res = train(cfg, d, on_epoch=seen.append)
    assert res.status == "diverged" and len(res.history) == 2 == len(seen)
    assert res.message == "val_acc became nan in epoch 2; try a lower learning rate (train.optimizer.lr is 0.1)"
    assert res.restored_epoch is None and res.test == {"loss": None, "acc": None}
    assert res.best["epoch"] == 1


def test_early_stopping_message_and_resume_of_a_finished_run(monkeypatch):
    es = {"metric": "train_loss", "patience": 2, "min_delta": 10.0, "restore_best": False}
    cfg = config(train={"epochs": 10, "early_stopping": es})
    d = data(cfg)
    states = []
    res = train(cfg, d, on_checkpoint=lambda s: states.append(copy(s)), checkpoint_every=0)
    first = res.history[0]["train_loss"]
    assert res.stopped_early and len(res.history) == 3 and res.status == "completed"
    assert res.message == f"early stopping: train_loss did not improve for 2 epochs (best {first:.4g} in epoch 1)"
    # the stopping epoch is not offered (a resume replays it and stops the same way); before it, not done
    assert [(meta(s)["epochs_done"], meta(s)["done"]) for s in states] == [(1, False), (2, False)]
    assert all(meta(s)["done"] is False for s in states)  # False, not merely falsy
    # the state of the finished run (Trainer.state_dict) is marked done and keeps the message
    tr = Trainer(cfg, d)
    assert tr.run() is tr.result
    state = copy(tr.state_dict())
    m = meta(state)
    assert m["done"] is True and m["stopped_early"] is True and m["message"] == res.message
    assert m["epochs_done"] == 3 and m["step"] == 12 and m["samples_seen"] == 3 * N_TRAIN
    clock = Clock(monkeypatch, d)
    seen, start = [], []
    again = train(cfg, d, resume=state, on_epoch=seen.append, on_start=start.append)
    assert seen == [] and clock.steps == []  # nothing left to train
    assert start[0]["start_epoch"] == 3
    assert again.stopped_early and again.message == res.message and again.status == "completed"
    assert again.train_seconds == m["train_seconds"] > 0 and again.samples_seen == 3 * N_TRAIN
    assert again.history == tr.result.history and again.best == tr.result.best
    assert strip(again.history) == strip(res.history)
    assert again.test == res.test  # the final weights, evaluated once
    np.testing.assert_array_equal(again.model.params, res.model.params)


@pytest.mark.parametrize("exc, name, how", [
    (KeyboardInterrupt, "SIGINT", "the user (Ctrl-C)"),
    (lambda: Interrupted(signal.SIGINT), "SIGINT", "the user (Ctrl-C)"),
    (lambda: Interrupted(signal.SIGTERM), "SIGTERM", "SIGTERM"),
    (lambda: Interrupted(signal.SIGHUP), "SIGHUP", "SIGHUP"),
])
def test_interruption_message_and_signal(exc, name, how):
    cfg = config(train={"epochs": 10})
    d = data(cfg)

    def on_epoch(row):
        if row["epoch"] == 2:
            raise exc()

    res = train(cfg, d, on_epoch=on_epoch)
    assert res.status == "interrupted" and res.signal == name
    assert res.message == f"interrupted by {how} after 2 epochs"
    # the test set is still evaluated once, on the weights the run stopped with
    ref = train(config(train={"epochs": 2}), d)
    np.testing.assert_array_equal(res.model.params, ref.model.params)
    assert res.test == ref.test


def test_completed_run_has_no_signal_and_no_message():
    cfg = config(train={"epochs": 2})
    res = train(cfg, data(cfg))
    assert res.status == "completed" and res.signal is None and res.message == "" and not res.stopped_early


# -- what on_start is told, and the numbers of a run ------------------------------------------------------


def test_on_start_info_fresh_and_resumed():
    cfg = config(train={"epochs": 5})
    d = data(cfg)
    info, states = [], []
    train(cfg, d, on_start=info.append, on_checkpoint=lambda s: states.append(copy(s)), checkpoint_every=0)
    # 2 inputs -> 4 hidden -> 3 classes: (2*4 + 4) + (4*3 + 3) = 27 parameters
    assert info == [{"epochs": 5, "n_params": 27, "steps_per_epoch": 4, "start_epoch": 0}]
    train(cfg, d, on_start=info.append, resume=states[1])
    assert info[1] == {"epochs": 5, "n_params": 27, "steps_per_epoch": 4, "start_epoch": 2}


def test_timing_and_counts_with_a_counted_clock(monkeypatch):
    cfg = config(train={"epochs": 3})
    d = data(cfg)
    clock = Clock(monkeypatch, d)
    res = train(cfg, d)
    assert res.train_seconds == 12  # 3 epochs of 4 steps of 1 s; validation is not training time
    assert [r["seconds"] for r in res.history] == [104, 104, 104]  # 4 steps + the validation pass
    assert res.samples_seen == 3 * N_TRAIN and res.samples_per_second == 30
    assert clock.t == 12 + 300 + 1000  # one test pass, at the end
    assert [s[3] for s in clock.steps] == [False, False, False, True] * 3  # `last` only on the last batch
    # each row's loss is the batch losses weighted by batch length, over the epoch's rows
    for e, row in enumerate(res.history):
        batch = clock.steps[4 * e:4 * e + 4]
        assert row["train_loss"] == sum(loss * n for loss, _, n, _ in batch) / N_TRAIN
        assert row["train_acc"] == sum(c for _, c, _, _ in batch) / N_TRAIN


def test_regression_rows_and_no_validation_split(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (48, 2))
    y = (x[:, :1] * 2 - x[:, 1:]).astype(np.float64)
    d = Dataset(name="r", task="regression", x_train=x[:40], y_train=y[:40], x_val=None, y_val=None,
                x_test=x[40:], y_test=y[40:], n_classes=None)
    cfg = config(train={"epochs": 2, "batch_size": 10})
    states = []
    res = train(cfg, d, on_checkpoint=lambda s: states.append(copy(s)), checkpoint_seconds=0)
    assert all(r["train_acc"] is None and r["val_loss"] is None and r["val_acc"] is None for r in res.history)
    assert res.test["acc"] is None and res.test["loss"] == pytest.approx(
        float(((res.model.forward(d.x_test) - d.y_test) ** 2).mean()), rel=1e-12)
    positions = [meta(s)["epoch_position"] for s in states]
    mid = [p for p in positions if p is not None]
    assert [p["next_batch"] for p in mid] == [1, 2, 3, 1, 2, 3]
    assert all(p["correct_sum"] == 0 for p in mid)  # no accuracy counted for regression
    assert res.best["epoch"] == min(res.history, key=lambda r: r["train_loss"])["epoch"]  # train_loss monitored


def test_a_batch_with_no_correct_prediction_counts_zero():
    # all inputs zero, all labels 1: the first step's logits are the zero biases, argmax 0, none correct;
    # after it the class-1 bias has grown and every sample is right
    x = np.zeros((8, 2))
    y = np.ones(8, dtype=np.int64)
    d = Dataset(name="z", task="classification", x_train=x, y_train=y, x_val=None, y_val=None,
                x_test=x[:2], y_test=y[:2], n_classes=2)
    cfg = config(train={"epochs": 1, "batch_size": 4, "shuffle": False})
    res = train(cfg, d)
    assert res.history[0]["train_acc"] == 0.5


# -- checkpoints: positions within an epoch, throttle, copies ---------------------------------------------


def test_mid_epoch_checkpoint_positions_and_sums(monkeypatch):
    cfg = config(train={"epochs": 2, "schedule": {"name": "step", "step_size": 3, "gamma": 0.5, "unit": "step"}})
    d = data(cfg)
    clock = Clock(monkeypatch, d)
    states = []
    res = train(cfg, d, on_checkpoint=lambda s: states.append(copy(s)), checkpoint_seconds=0, checkpoint_every=0)
    metas = [meta(s) for s in states]
    # after batches 1, 2, 3 of each epoch (never after the last), then the end of the epoch
    assert [(m["epochs_done"], (m["epoch_position"] or {}).get("next_batch")) for m in metas] == [
        (0, 1), (0, 2), (0, 3), (1, None), (1, 1), (1, 2), (1, 3), (2, None)]
    for k, m in enumerate(metas):
        pos = m["epoch_position"]
        if pos is None:
            assert m["step"] == 4 * m["epochs_done"] and m["train_seconds"] == 4 * m["epochs_done"]
            continue
        e, nb = pos["epoch"], pos["next_batch"]
        done = clock.steps[4 * e:4 * e + nb]
        assert e == m["epochs_done"] and m["step"] == 4 * e + nb
        assert pos["loss_sum"] == sum(loss * n for loss, _, n, _ in done)
        assert pos["correct_sum"] == sum(c for _, c, _, _ in done)
        assert pos["lr"] == 0.1 * 0.5 ** ((4 * e) // 3)  # the rate of the epoch's first step
        assert pos["elapsed"] == nb  # seconds into the epoch
        assert m["train_seconds"] == 4 * e + nb
        order = states[k]["epoch.order"]
        assert sorted(order) == list(range(N_TRAIN)) and (order != np.arange(N_TRAIN)).any()  # shuffled
    assert res.train_seconds == 8 and [r["seconds"] for r in res.history] == [104, 104]


def test_mid_epoch_checkpoints_every_checkpoint_seconds(monkeypatch):
    cfg = config(train={"epochs": 2, "shuffle": False})
    d = data(cfg)
    Clock(monkeypatch, d)
    states = []
    train(cfg, d, on_checkpoint=lambda s: states.append(copy(s)), checkpoint_seconds=2)
    # more than 2 s since the epoch's start (or the last save): after batch 3 (3 s), not after batch 2 (2 s)
    mid = [meta(s)["epoch_position"] for s in states if meta(s)["epoch_position"]]
    assert [(p["epoch"], p["next_batch"], p["elapsed"]) for p in mid] == [(0, 3, 3), (1, 3, 3)]
    assert all("epoch.order" not in s for s in states)  # no shuffling: no order to keep
    # resuming from the middle of an unshuffled epoch ends as the run that never stopped
    full = train(cfg, d)
    again = train(cfg, d, resume=states[2])
    assert meta(states[2])["epoch_position"]["epoch"] == 1
    assert strip(again.history) == strip(full.history) and again.test == full.test
    assert again.history[1]["seconds"] == 104  # 3 s before the checkpoint, 1 after, 100 validating
    np.testing.assert_array_equal(again.model.params, full.model.params)


@pytest.mark.parametrize("direct", [False, True])
def test_default_checkpoint_seconds_is_60_and_checkpoint_every_is_1(monkeypatch, direct):
    cfg = config(train={"epochs": 3})
    d = data(cfg)

    def run(dt):
        monkeypatch.undo()  # one clock at a time
        Clock(monkeypatch, d, dt=dt, val=0.0, test=0.0)
        states = []
        if direct:
            Trainer(cfg, d, on_checkpoint=lambda s: states.append(copy(s))).run()
        else:
            train(cfg, d, on_checkpoint=lambda s: states.append(copy(s)))
        return [meta(s) for s in states]

    # steps of 30.5 s: 61 s after batch 2 is more than 60 (not more than 61)
    metas = run(30.5)
    assert [m["epoch_position"]["next_batch"] for m in metas if m["epoch_position"]] == [2, 2, 2]
    # epochs of 1 s (4 steps of 0.25): every end of epoch is at least 1 s after the last save
    metas = run(0.25)
    assert [m["epochs_done"] for m in metas] == [1, 2, 3]


def test_checkpoint_every_throttles_and_a_signal_saves_the_unsaved_epoch(monkeypatch):
    cfg = config(train={"epochs": 10})
    d = data(cfg)

    def run(every, stop_at):
        monkeypatch.undo()  # one clock at a time
        Clock(monkeypatch, d, val=0.0, test=0.0)  # epochs of 4 s
        saved = []

        def on_epoch(row):
            if row["epoch"] == stop_at:
                raise KeyboardInterrupt

        res = train(cfg, d, on_epoch=on_epoch, on_checkpoint=lambda s: saved.append(copy(s)),
                    checkpoint_every=every)
        return res, saved

    # exactly 4 s since the last save is enough
    res, saved = run(4, None)
    assert [meta(s)["epochs_done"] for s in saved] == list(range(1, 11)) and res.status == "completed"
    # every 5 s: epochs 1 (t=4), 3 (t=12), 5 (t=20); epoch 2 (t=8) and 4 (t=16) are kept in memory
    res, saved = run(5, 4)  # stopped in epoch 4's callback: epoch 3 was saved, nothing is pending
    assert [meta(s)["epochs_done"] for s in saved] == [1, 3] and res.status == "interrupted"
    res, saved = run(5, 5)  # stopped in epoch 5's: epoch 4's copy is written
    assert [meta(s)["epochs_done"] for s in saved] == [1, 3, 4]
    monkeypatch.undo()
    # the copy is of epoch 4's state, not a view of the weights epoch 5 went on to change
    ref = train(config(train={"epochs": 4}), d)
    np.testing.assert_array_equal(saved[-1]["model.params"], ref.model.params)
    assert not np.array_equal(res.model.params, ref.model.params)
    assert meta(saved[-1])["history"] == json.loads(json.dumps(res.history[:4]))


def test_resume_mid_epoch_with_diagnostics_gives_the_same_diagnostics():
    cfg = config(train={"epochs": 2})
    d = data(cfg)
    states, rows = [], []
    full = train(cfg, d, on_checkpoint=lambda s: states.append(copy(s)), checkpoint_seconds=0,
                 on_diagnostics=rows.append)
    assert [r[0]["epoch"] for r in rows] == [1, 2] and [r["layer"] for r in rows[0]] == ["dense1", "dense2"]
    mid = [s for s in states if meta(s)["epoch_position"] and meta(s)["epoch_position"]["epoch"] == 1]
    assert [meta(s)["epoch_position"]["diagnostics"] for s in mid] == [
        {"steps": k, "step": k} for k in (1, 2, 3)]  # 4 steps an epoch: every step sampled
    for s in mid:
        again_rows = []
        again = train(cfg, d, resume=s, on_diagnostics=again_rows.append)
        assert again_rows == rows[1:]
        np.testing.assert_array_equal(again.model.params, full.model.params)
    # a run without diagnostics ignores them in the state
    again = train(cfg, d, resume=mid[0])
    np.testing.assert_array_equal(again.model.params, full.model.params)


def test_diagnostics_update_ratio_is_of_the_epochs_last_step(monkeypatch):
    cfg = config(train={"epochs": 1, "shuffle": False})
    d = data(cfg)
    before = []
    step = Trainer.step

    def spy(tr, xb, yb, epoch, last):
        before.append(tr.model.params.copy())
        return step(tr, xb, yb, epoch, last)

    monkeypatch.setattr(Trainer, "step", spy)
    rows = []
    res = train(cfg, d, on_diagnostics=rows.append)
    w_end = res.model.params
    for row, t in zip(rows[0], [t for t in res.model.tensors if t.key == "W"]):
        sl = slice(t.start, t.start + t.size)
        expected = np.linalg.norm(w_end[sl] - before[3][sl]) / np.linalg.norm(before[3][sl])
        assert row["update_ratio"] == pytest.approx(expected, rel=1e-12)


# -- the state itself ---------------------------------------------------------------------------------------


def test_state_dict_of_a_new_trainer():
    cfg = config()
    d = data(cfg)
    state = Trainer(cfg, d).state_dict()
    m = meta(state)
    assert m["version"] == CHECKPOINT_VERSION == 1
    assert (m["epochs_done"], m["step"], m["done"], m["history"], m["epoch_position"]) == (0, 0, False, [], None)
    assert m["done"] is False and m["stopped_early"] is False and m["message"] == ""
    assert m["train_seconds"] == 0.0 and m["samples_seen"] == 0
    assert set(m["rngs"]) == {"init", "shuffle", "noise"}
    assert state["model.params"].shape == (27,)


def test_json_default_and_pack():
    assert _json_default(np.float32(0.5)) == 0.5 and type(_json_default(np.float32(0.5))) is float
    assert _json_default(np.int64(3)) == 3 and type(_json_default(np.int64(3))) is int
    with pytest.raises(TypeError, match="^cannot store object in a checkpoint$"):
        _json_default(object())
    packed = _pack({"a": np.float64(1.25), "b": [np.int32(2)]}, {"x": np.arange(3)})
    assert set(packed) == {"x", "meta"} and str(packed["meta"]) == '{"a": 1.25, "b": [2]}'
    with pytest.raises(TypeError, match="cannot store set in a checkpoint"):
        _pack({"s": {1}}, {})


def test_load_state_dict_rejects_other_versions_and_other_models():
    cfg = config()
    d = data(cfg)
    state = Trainer(cfg, d).state_dict()
    m = meta(state)
    for version, shown in [(2, "2"), (None, "None")]:
        bad = {**state, "meta": np.array(json.dumps({**m, "version": version}))}
        with pytest.raises(ValueError, match=rf"^checkpoint version {shown} is not 1$"):
            Trainer(cfg, d).load_state_dict(bad)
    del m["version"]
    with pytest.raises(ValueError, match=r"^checkpoint version None is not 1$"):
        Trainer(cfg, d).load_state_dict({**state, "meta": np.array(json.dumps(m))})
    other = config(model={"hidden": [6]})  # (2*6 + 6) + (6*3 + 3) = 39 parameters
    with pytest.raises(ValueError, match=r"^checkpoint has 27 parameters, the model 39$"):
        Trainer(other, d).load_state_dict(state)


def test_interrupted_before_the_first_epoch_ends_touches_no_test_set():
    cfg = config(train={"epochs": 3})
    d = data(cfg)

    def stop(state):
        raise KeyboardInterrupt

    res = train(cfg, d, on_checkpoint=stop, checkpoint_seconds=0)  # the first mid-epoch save, after batch 1
    assert res.status == "interrupted" and res.history == [] and res.best is None
    assert res.message == "interrupted by the user (Ctrl-C) after 0 epochs"
    assert res.test == {"loss": None, "acc": None} and res.samples_seen == 0


def test_a_test_set_that_overflows_gives_a_nan_loss_and_no_warning():
    # inputs at the float64 maximum overflow the first layer (inf), and inf - inf follows (NaN)
    cfg = config(train={"epochs": 1})
    d = data(cfg)
    x_test = np.full_like(d.x_test, np.finfo(np.float64).max)
    d = Dataset(name="o", task="classification", x_train=d.x_train, y_train=d.y_train, x_val=d.x_val,
                y_val=d.y_val, x_test=x_test, y_test=d.y_test, n_classes=d.n_classes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # overflow and invalid values in the test pass are not warnings
        res = train(cfg, d)
    assert res.status == "completed" and np.isnan(res.test["loss"])
    with np.errstate(all="ignore"):
        assert res.test["acc"] == evaluate(res.model, x_test, d.y_test, SoftmaxCrossEntropy())[1]


def test_diagnostics_sample_every_third_step_of_24(monkeypatch):
    # 120 rows in batches of 5: 24 steps an epoch; the gradient norm is sampled every 24 // 8 = 3 steps
    cfg = config(train={"epochs": 1, "batch_size": 5})
    d = data(cfg)
    grads = []
    backward = MLP.backward

    def spy(model, dout):
        out = backward(model, dout)
        grads.append(model.grads.copy())  # the data gradient of this step
        return out

    monkeypatch.setattr(MLP, "backward", spy)
    rows, states = [], []
    res = train(cfg, d, on_diagnostics=rows.append, on_checkpoint=lambda s: states.append(copy(s)),
                checkpoint_seconds=0)
    assert len(grads) == 24
    for row, t in zip(rows[0], [t for t in res.model.tensors if t.key == "W"]):
        sl = slice(t.start, t.start + t.size)
        expected = np.mean([np.linalg.norm(g[sl]) for g in grads[::3]])
        assert row["grad_norm"] == pytest.approx(expected, rel=1e-12)
    diag = [meta(s)["epoch_position"]["diagnostics"] for s in states if meta(s)["epoch_position"]]
    assert diag[:5] == [{"steps": 1, "step": 1}, {"steps": 1, "step": 2}, {"steps": 1, "step": 3},
                        {"steps": 2, "step": 4}, {"steps": 2, "step": 5}]


def test_a_division_by_zero_in_training_is_divergence_not_a_warning():
    # Adam with eps 0 (allowed): a feature of 1e-30 gives float32 weight gradients around 1e-31 whose
    # squares underflow to 0, so the update divides by zero (inf weights, then a NaN loss)
    cfg = config(dtype="float32", train={"epochs": 2, "optimizer": {"name": "adam", "lr": 0.01, "eps": 0.0}})
    d = data(cfg)
    x = d.x_train.copy()
    x[:, 1] = 1e-30
    d = Dataset(name="e", task="classification", x_train=x, y_train=d.y_train, x_val=None, y_val=None,
                x_test=d.x_test, y_test=d.y_test, n_classes=d.n_classes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = train(cfg, d)
    assert res.status == "diverged" and res.history == []
    assert res.message == "the training loss became nan in epoch 1; try a lower learning rate (train.optimizer.lr is 0.01)"
