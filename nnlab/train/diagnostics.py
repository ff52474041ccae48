"""Per-layer training diagnostics: what you need to see vanishing gradients and dead units.

For each Dense layer, per epoch:
  grad_norm           mean of ||dL/dW|| (the data loss's gradient, before penalties and clipping)
                      over up to 8 evenly spaced steps of the epoch (every step when an epoch has
                      at most 8); a first layer orders of magnitude below the last is the
                      vanishing-gradient picture of Hung-yi Lee's notes
  update_ratio        ||W_after - W_before|| / ||W_before|| on the epoch's last step
                      (CS231n suggests around 1e-3)
  dead_fraction       activations that can die (ReLU and its variants, ELU, SELU: units never on their
                      positive part; maxout: pieces that never win) over all of the epoch's batches
  saturated_fraction  activations with flat parts (sigmoid, tanh, hard tanh, ELU, SELU): fraction of
                      activations on a flat part in the epoch's last training batch (recorded before
                      the step, not after the validation pass)

Which statistic a layer gets is asked of the activation (``tracks_activity`` with
``unit_activity()``, ``tracks_saturation`` with ``saturated()``), never by testing classes.

Cost per step: for layers that track activity one ``maximum.reduce`` over the batch; on the
sampled steps one pass over the weight gradients (a reduceat); the rest happens once per epoch.
"""

from __future__ import annotations

import numpy as np

COLUMNS = ["epoch", "layer", "grad_norm", "update_ratio", "dead_fraction", "saturated_fraction"]


class Diagnostics:
    SAMPLES = 8  # gradient-norm samples per epoch

    def __init__(self, model, steps_per_epoch: int = 1):
        self.model = model
        self.stride = max(1, steps_per_epoch // self.SAMPLES)
        dense = [t for t in model.tensors if t.key == "W"]  # weights come first, in layer order
        self.names = [t.name.split(".")[0] for t in dense]
        self.offsets = np.array([t.start for t in dense])
        self.n_w = model.n_decay
        self._sq = np.empty(self.n_w, dtype=model.dtype)
        # the activation after each hidden Dense layer
        self.acts: dict[str, object] = {}
        current = None
        for name, layer in zip(model.names, model.layers):
            if name.startswith("dense"):
                current = name
            elif hasattr(layer, "kind") and layer.kind == "activation" and current not in self.acts:
                self.acts[current] = layer
        self.active = {k: a for k, a in self.acts.items() if a.tracks_activity}
        self.saturating = {k: a for k, a in self.acts.items() if a.tracks_saturation}
        self.start_epoch()

    def start_epoch(self):
        self.grad_norm_sum = np.zeros(len(self.names))
        self.steps = 0  # sampled steps
        self.step = 0  # all steps of the epoch
        # the largest activity of each unit over the epoch's batches: > 0 iff it was ever active
        self.peak = {k: None for k in self.active}
        self.saturated = {}

    def after_backward(self, g):
        """Record the per-layer gradient norms of this step (call before penalties and clipping)."""
        if self.step % self.stride == 0:
            np.multiply(g[: self.n_w], g[: self.n_w], out=self._sq)
            self.grad_norm_sum += np.sqrt(np.add.reduceat(self._sq, self.offsets))
            self.steps += 1
        self.step += 1
        for k, act in self.active.items():
            top = act.unit_activity()
            peak = self.peak[k]
            if peak is None:
                self.peak[k] = top
            else:
                np.maximum(peak, top, out=peak)

    def before_last_step(self):
        self._w_before = self.model.params[: self.n_w].copy()
        # the activations still hold the last training batch; by end_epoch the validation pass has replaced them
        self.saturated = {k: a.saturated() for k, a in self.saturating.items()
                          if getattr(a, "z", None) is not None}

    def end_epoch(self, epoch: int) -> list[dict]:
        p = self.model.params[: self.n_w]
        rows = []
        bounds = list(self.offsets) + [self.n_w]
        for i, name in enumerate(self.names):
            s, e = bounds[i], bounds[i + 1]
            ratio = None
            if getattr(self, "_w_before", None) is not None:
                before = self._w_before[s:e]
                denom = float(np.linalg.norm(before))
                ratio = float(np.linalg.norm(p[s:e] - before)) / denom if denom > 0 else None
            row = {"epoch": epoch, "layer": name,
                   "grad_norm": float(self.grad_norm_sum[i] / max(self.steps, 1)),
                   "update_ratio": ratio, "dead_fraction": None, "saturated_fraction": None}
            if name in self.active and self.peak[name] is not None:
                row["dead_fraction"] = float(np.count_nonzero(self.peak[name] <= 0)) / self.peak[name].size
            act = self.saturating.get(name)
            if name in self.saturated:
                row["saturated_fraction"] = self.saturated[name]
            elif act is not None and getattr(act, "z", None) is not None:
                row["saturated_fraction"] = act.saturated()
            rows.append(row)
        self._w_before = None
        self.start_epoch()
        return rows

    # -- checkpoints in the middle of an epoch -------------------------------------------
    def state_dict(self) -> tuple[dict, dict]:
        meta = {"steps": self.steps, "step": self.step}
        arrays = {"grad_norm_sum": self.grad_norm_sum}
        arrays.update({f"peak.{k}": v for k, v in self.peak.items() if v is not None})
        return meta, arrays

    def load_state_dict(self, meta: dict, arrays: dict) -> None:
        self.steps, self.step = meta["steps"], meta["step"]
        self.grad_norm_sum = np.array(arrays["grad_norm_sum"])
        for k in self.peak:
            if f"peak.{k}" in arrays:
                self.peak[k] = np.array(arrays[f"peak.{k}"])
