"""The best epoch so far and early stopping (Hung-yi Lee's notes: stop where validation error is lowest).

One small object follows the monitored metric after every epoch: it remembers the best
row, counts the epochs since the last improvement, keeps a copy of the weights at the
best epoch when they are to be restored, and says when to stop.  Without early stopping
it still tracks the best epoch (reported in summary.json) and never says stop.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np


class EarlyStopping:
    """Track ``metric`` (maximized for *_acc, minimized for *_loss); stop after ``patience`` epochs
    without an improvement larger than ``min_delta`` (patience None: never stop)."""

    def __init__(self, metric: str, patience: Optional[int] = None, min_delta: float = 0.0,
                 restore_best: bool = False):
        self.metric, self.patience, self.min_delta, self.restore_best = metric, patience, min_delta, restore_best
        self.maximize = metric.endswith("acc")
        self.best_value: Optional[float] = None
        self.best_row: Optional[dict] = None
        self.since_best = 0
        self.snapshot = None  # (params, buffers) at the best epoch when restore_best

    @classmethod
    def from_config(cls, es_cfg: dict | None, metric: str) -> "EarlyStopping":
        if not es_cfg:
            return cls(metric)
        return cls(metric, es_cfg["patience"], es_cfg["min_delta"], es_cfg["restore_best"])

    def improved(self, value) -> bool:
        """value beats the best by more than min_delta (the first finite value always does)."""
        if value is None or not math.isfinite(value):
            return False
        if self.best_value is None:
            return True
        if self.maximize:
            return value > self.best_value + self.min_delta
        return value < self.best_value - self.min_delta

    def update(self, row: dict, model) -> bool:
        """Record one epoch's row; True when training should stop."""
        value = row.get(self.metric)
        if self.improved(value):
            self.best_value, self.best_row, self.since_best = value, dict(row), 0
            if self.restore_best:
                self.snapshot = model.snapshot()
        else:
            self.since_best += 1
        return self.patience is not None and self.since_best >= self.patience

    def message(self) -> str:
        return (f"early stopping: {self.metric} did not improve for {self.patience} epochs "
                f"(best {self.best_value:.4g} in epoch {self.best_row['epoch']})")

    # -- checkpoints -------------------------------------------------------------------
    def state_dict(self) -> tuple[dict, dict]:
        """(JSON-able scalars, arrays) to save; restored by load_state_dict."""
        meta = {"best_value": self.best_value, "best_row": self.best_row, "since_best": self.since_best}
        arrays = {}
        if self.snapshot is not None:
            params, bufs = self.snapshot
            arrays["es.params"] = params
            arrays.update({f"es.buf.{k}": v for k, v in bufs.items()})
        return meta, arrays

    def load_state_dict(self, meta: dict, arrays: dict) -> None:
        self.best_value, self.best_row, self.since_best = meta["best_value"], meta["best_row"], meta["since_best"]
        if "es.params" in arrays:
            bufs = {k[len("es.buf."):]: np.array(v) for k, v in arrays.items() if k.startswith("es.buf.")}
            self.snapshot = (np.array(arrays["es.params"]), bufs)
