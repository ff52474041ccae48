"""The best epoch and early stopping (nnlab.train.early_stopping), against hand-worked sequences."""

from __future__ import annotations

import math

import numpy as np

from nnlab.train.early_stopping import EarlyStopping


class Net:
    """Stands in for the MLP: snapshot() returns (params, buffers) and counts the calls."""

    def __init__(self):
        self.params = np.array([1.0, 2.0, 3.0], np.float32)
        self.bufs = {"bn1.running_mean": np.array([0.5, -0.5], np.float32),
                     "bn1.running_var": np.array([2.0, 3.0], np.float32)}
        self.calls = 0

    def snapshot(self):
        self.calls += 1
        return self.params.copy(), {k: v.copy() for k, v in self.bufs.items()}


def feed(es, metric, values, net=None):
    net = net or Net()
    return [es.update({"epoch": i + 1, metric: v}, net) for i, v in enumerate(values)]


def test_defaults():
    es = EarlyStopping("val_loss")
    assert (es.metric, es.patience, es.min_delta, es.restore_best) == ("val_loss", None, 0.0, False)
    assert es.maximize is False
    assert es.best_value is None and es.best_row is None and es.since_best == 0 and es.snapshot is None
    assert es.state_dict() == ({"best_value": None, "best_row": None, "since_best": 0}, {})


def test_default_min_delta_is_zero_any_strict_improvement_counts():
    es = EarlyStopping("val_loss")
    es.update({"epoch": 1, "val_loss": 1.0}, Net())
    assert es.improved(0.999) is True
    assert es.improved(1.0) is False


def test_accuracy_is_maximized_loss_minimized():
    acc = EarlyStopping("val_acc")
    assert acc.maximize is True
    acc.update({"epoch": 1, "val_acc": 0.5}, Net())
    assert acc.improved(0.6) is True and acc.improved(0.4) is False
    for metric in ("train_acc", "test_acc"):
        assert EarlyStopping(metric).maximize is True
    for metric in ("val_loss", "train_loss", "val_mse"):
        assert EarlyStopping(metric).maximize is False
    loss = EarlyStopping("val_loss")
    loss.update({"epoch": 1, "val_loss": 0.5}, Net())
    assert loss.improved(0.4) is True and loss.improved(0.6) is False


def test_equal_values_are_not_improvements():
    for metric in ("val_acc", "val_loss"):
        es = EarlyStopping(metric)
        es.update({"epoch": 1, metric: 0.75}, Net())
        assert es.improved(0.75) is False


def test_min_delta_must_be_exceeded():
    acc = EarlyStopping("val_acc", min_delta=0.25)
    acc.update({"epoch": 1, "val_acc": 0.5}, Net())
    assert acc.improved(0.625) is False  # 0.5 + 0.25 = 0.75 needed
    assert acc.improved(0.75) is False  # exactly min_delta is not more than min_delta
    assert acc.improved(0.875) is True
    assert acc.improved(0.375) is False
    loss = EarlyStopping("val_loss", min_delta=0.25)
    loss.update({"epoch": 1, "val_loss": 1.0}, Net())
    assert loss.improved(0.875) is False
    assert loss.improved(0.75) is False
    assert loss.improved(0.625) is True
    assert loss.improved(1.125) is False


def test_nan_inf_and_none_never_improve_even_first():
    for metric in ("val_acc", "val_loss"):
        es = EarlyStopping(metric)
        for bad in (None, math.nan, math.inf, -math.inf):
            assert es.improved(bad) is False
        assert es.improved(0.3) is True  # the first finite value always does


def test_patience_counts_epochs_since_the_best():
    es = EarlyStopping("val_loss", patience=2)
    # 1.0 best; 1.2 (1 since); 0.9 best; 0.95 (1); 0.9 (2, equal is no improvement) -> stop
    assert feed(es, "val_loss", [1.0, 1.2, 0.9, 0.95, 0.9]) == [False, False, False, False, True]
    assert es.best_value == 0.9 and es.best_row == {"epoch": 3, "val_loss": 0.9}
    assert es.since_best == 2
    assert es.message() == "early stopping: val_loss did not improve for 2 epochs (best 0.9 in epoch 3)"


def test_a_leading_nan_counts_one_epoch_without_improvement():
    es = EarlyStopping("val_loss", patience=2)
    assert feed(es, "val_loss", [math.nan]) == [False]
    assert es.since_best == 1 and es.best_value is None and es.best_row is None
    assert feed(es, "val_loss", [math.nan]) == [True]


def test_no_patience_never_stops_but_tracks_the_best():
    es = EarlyStopping("val_acc")
    assert not any(feed(es, "val_acc", [0.5] + [0.1] * 50))
    assert es.since_best == 50 and es.best_value == 0.5


def test_best_row_is_a_copy():
    es = EarlyStopping("val_acc")
    row = {"epoch": 1, "val_acc": 0.5}
    es.update(row, Net())
    row["val_acc"] = 0.0
    assert es.best_row == {"epoch": 1, "val_acc": 0.5}


def test_snapshot_only_when_restore_best_and_only_at_improvements():
    net = Net()
    feed(EarlyStopping("val_loss", patience=3), "val_loss", [1.0, 0.5], net)
    assert net.calls == 0
    es = EarlyStopping("val_loss", patience=3, restore_best=True)
    feed(es, "val_loss", [1.0, 2.0, 0.5, 0.7], net)
    assert net.calls == 2


def test_from_config():
    es = EarlyStopping.from_config({"patience": 4, "min_delta": 0.01, "restore_best": True}, "val_acc")
    assert (es.metric, es.patience, es.min_delta, es.restore_best, es.maximize) == ("val_acc", 4, 0.01, True, True)
    es = EarlyStopping.from_config(None, "val_loss")
    assert (es.patience, es.min_delta, es.restore_best) == (None, 0.0, False)


def test_state_dict_round_trip_with_snapshot_copies_arrays():
    net = Net()
    es = EarlyStopping("val_loss", patience=5, restore_best=True)
    feed(es, "val_loss", [1.0, 0.5, 0.75], net)
    meta, arrays = es.state_dict()
    assert meta == {"best_value": 0.5, "best_row": {"epoch": 2, "val_loss": 0.5}, "since_best": 1}
    assert sorted(arrays) == ["es.buf.bn1.running_mean", "es.buf.bn1.running_var", "es.params"]
    np.testing.assert_array_equal(arrays["es.params"], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(arrays["es.buf.bn1.running_var"], [2.0, 3.0])

    other = EarlyStopping("val_loss", patience=5, restore_best=True)
    other.load_state_dict(meta, arrays)
    assert (other.best_value, other.best_row, other.since_best) == (0.5, {"epoch": 2, "val_loss": 0.5}, 1)
    params, bufs = other.snapshot
    assert params.dtype == np.float32
    np.testing.assert_array_equal(params, [1.0, 2.0, 3.0])
    assert sorted(bufs) == ["bn1.running_mean", "bn1.running_var"]
    np.testing.assert_array_equal(bufs["bn1.running_mean"], [0.5, -0.5])
    np.testing.assert_array_equal(bufs["bn1.running_var"], [2.0, 3.0])
    # copies, not aliases of the loaded arrays
    assert not np.shares_memory(params, arrays["es.params"])
    assert not np.shares_memory(bufs["bn1.running_var"], arrays["es.buf.bn1.running_var"])
    # the restored object continues as the original would
    assert feed(other, "val_loss", [0.6] * 4) == [False, False, False, True]


def test_load_state_dict_without_snapshot_leaves_none():
    es = EarlyStopping("val_acc", patience=3)
    feed(es, "val_acc", [0.5, 0.25])
    meta, arrays = es.state_dict()
    assert arrays == {}
    other = EarlyStopping("val_acc", patience=3)
    other.load_state_dict(meta, {})
    assert other.snapshot is None
    assert (other.best_value, other.since_best) == (0.5, 1)
