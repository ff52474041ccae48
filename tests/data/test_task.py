"""data.task: auto reads the task from the labels; regression takes whole numbers as targets; classification
refuses labels that are not whole numbers; a config that leaves it at auto resolves as before (no key)."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.config import validate
from nnlab.data import RawData, load_dataset, prepare_dataset
from nnlab.errors import ConfigError, DataError


def test_whole_numbers_are_classes_unless_the_task_says_regression(tmp_path):
    x = np.arange(40.0).reshape(20, 2)
    y = np.arange(20) % 4
    np.savez(tmp_path / "d.npz", x=x, y=y, x_test=x[:6], y_test=y[:6])
    auto = load_dataset({"name": "npz", "path": str(tmp_path / "d.npz"), "val_fraction": 0, "preprocess": "none"})
    assert auto.task == "classification" and auto.n_classes == 4
    reg = load_dataset({"name": "npz", "path": str(tmp_path / "d.npz"), "val_fraction": 0, "preprocess": "none",
                        "task": "regression"})
    assert reg.task == "regression" and reg.y_train.shape == (20, 1) and reg.y_train.dtype == np.float32
    np.testing.assert_array_equal(reg.y_train[:, 0], y)
    assert "data.task is regression" in reg.task_reason


def test_classification_refuses_fractions_and_auto_keeps_configs_as_they_were():
    raw = RawData(np.zeros((4, 2)), np.array([0.5, 1.0, 0.0, 1.0]), np.zeros((2, 2)), np.array([0.0, 1.0]))
    with pytest.raises(DataError, match="data.task is classification, but y holds non-integer numbers"):
        prepare_dataset(raw, {"task": "classification", "val_fraction": 0})
    assert "task" not in validate({"data": {"name": "spiral"}}).data
    assert validate({"data": {"name": "spiral", "task": "regression"}}).data["task"] == "regression"
    with pytest.raises(ConfigError, match="data.task: must be one of auto, classification, regression"):
        validate({"data": {"name": "spiral", "task": "numbers"}})
