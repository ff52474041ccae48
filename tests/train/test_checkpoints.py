"""Checkpoints inside the trainer: every state it offers continues the run exactly (in-process, fast)."""

from __future__ import annotations

import json

import numpy as np
from helpers import RAW, copy

from nnlab.config import validate
from nnlab.data import load_dataset
from nnlab.train.trainer import train


def test_resume_from_the_middle_of_an_epoch_is_exact():
    """checkpoint_seconds=0 offers a checkpoint after every batch; any of them continues exactly."""
    cfg = validate({**RAW, "train": {**RAW["train"], "epochs": 4}})
    data = load_dataset(cfg.data)
    states = []
    full = train(cfg, data, on_checkpoint=lambda s: states.append(copy(s)), checkpoint_seconds=0.0,
                 on_diagnostics=lambda rows: None)
    metas = [json.loads(str(s["meta"])) for s in states]
    mid = [i for i, m in enumerate(metas) if m["epoch_position"] is not None and m["epochs_done"] == 2]
    assert len(mid) >= 5  # 15 batches an epoch
    state = states[mid[len(mid) // 2]]
    again = train(cfg, data, resume=state, on_diagnostics=lambda rows: None)
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(again.history) == strip(full.history)
    np.testing.assert_array_equal(again.model.params, full.model.params)
    assert again.test == full.test

def test_every_end_of_epoch_checkpoint_resumes_exactly():
    cfg = validate({**RAW, "train": {**RAW["train"], "epochs": 6}})
    data = load_dataset(cfg.data)
    states = []
    full = train(cfg, data, on_checkpoint=lambda s: states.append(copy(s)), checkpoint_every=0)
    assert [json.loads(str(s["meta"]))["epochs_done"] for s in states] == [1, 2, 3, 4, 5, 6]
    for s in states[:-1]:
        again = train(cfg, data, resume=s)
        np.testing.assert_array_equal(again.model.params, full.model.params)
        strip = {k: v for k, v in again.best.items() if k != "seconds"}
        assert strip == {k: v for k, v in full.best.items() if k != "seconds"}
        assert again.restored_epoch == full.restored_epoch

def test_early_stopped_run_resumed_after_its_last_checkpoint_stops_the_same_way():
    raw = {**RAW, "train": {**RAW["train"], "epochs": 60,
                            "early_stopping": {"metric": "val_loss", "patience": 3, "min_delta": 0.05}}}
    cfg = validate(raw)
    data = load_dataset(cfg.data)
    states = []
    full = train(cfg, data, on_checkpoint=lambda s: states.append(copy(s)))
    assert full.stopped_early and len(full.history) < 60
    again = train(cfg, data, resume=states[-1])
    assert again.stopped_early and len(again.history) == len(full.history)
    assert again.restored_epoch == full.restored_epoch
    np.testing.assert_array_equal(again.model.params, full.model.params)

def test_short_epochs_are_saved_once_a_second_and_a_signal_saves_the_last_one():
    """Checkpoints of fast epochs are throttled; a stop by signal still keeps every finished epoch."""
    cfg = validate({**RAW, "train": {**RAW["train"], "epochs": 50}})
    data = load_dataset(cfg.data)
    saved = []

    def stop_at_30(row):
        if row["epoch"] == 30:
            raise KeyboardInterrupt

    result = train(cfg, data, on_epoch=stop_at_30, on_checkpoint=lambda s: saved.append(copy(s)),
                   checkpoint_every=3600)
    assert result.status == "interrupted"
    done = [json.loads(str(s["meta"]))["epochs_done"] for s in saved]
    assert done == [1, 29]  # the first epoch, then on the signal the last finished (and fed) epoch
    again = train(cfg, data, resume=saved[-1])
    full = train(cfg, data)
    np.testing.assert_array_equal(again.model.params, full.model.params)


def test_decoupled_decay_with_biases_and_unscaled_dropout_resume_exactly():
    """decay, biases and the dropout mode add no state of their own: the usual checkpoint continues them."""
    raw = {**RAW, "model": {**RAW["model"], "dropout": {"rate": 0.2, "mode": "unscaled"}},
           "train": {**RAW["train"], "epochs": 4, "optimizer": {"name": "adam", "lr": 0.01},
                     "regularization": {"decay": 0.1, "l2": 1e-3, "biases": True}}}
    cfg = validate(raw)
    data = load_dataset(cfg.data)
    states = []
    full = train(cfg, data, on_checkpoint=lambda s: states.append(copy(s)), checkpoint_every=0)
    again = train(cfg, data, resume=states[1])
    np.testing.assert_array_equal(again.model.params, full.model.params)
    assert [r["val_loss"] for r in again.history] == [r["val_loss"] for r in full.history]
