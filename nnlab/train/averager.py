"""Weight averaging (``train.averaging``): Polyak/EMA and SWA.

Note 002 (CS231n lecture 7, "Model Ensembles: Tips and Tricks"): instead of the last parameter
vector, keep a moving average of it and use that at test time (Polyak averaging).  Two forms,
each the rule of ``torch.optim.swa_utils.AveragedModel`` (torch 2.13), checked against it in
tests/test_averaging.py:

``{method: ema, decay: d}``  after every optimizer step t (the weights w_t after the step):
    avg_1 = w_1                                   (AveragedModel's first update copies)
    avg_t = avg_{t-1} + (1 - d) (w_t - avg_{t-1})  (get_ema_multi_avg_fn: torch._foreach_lerp_)
          = d avg_{t-1} + (1 - d) w_t
  No bias correction: early on the average leans on the first steps' weights.

``{method: swa, start: s, lr: r}``  stochastic weight averaging (Izmailov et al. 2018): the equal
  average of the weights at the end of each epoch of the SWA phase, the epochs after the first
  floor(s * epochs) (s = 0: every epoch; s = 0.75 of 100 epochs: epochs 76..100, 25 weights):
    avg_1 = w_(1),  avg_n = avg_{n-1} + (w_(n) - avg_{n-1}) / n   (AveragedModel's default,
  get_swa_avg_fn, which is what it uses on CPU).  With ``lr`` every step of the SWA phase uses that
  constant rate instead of the schedule's: as if ``SWALR(optimizer, swa_lr=r, anneal_epochs=0)`` were
  created just before the SWA phase (at the end of the epoch before it) and stepped after each of its
  epochs.  With anneal_epochs 0 SWALR's annealing step is max(1, step), so t = 1, alpha = 1 and its
  rate is swa_lr from the constructor on: there is no annealing from the schedule's rate.  Without
  ``lr`` the schedule goes on unchanged.

Validation (and the test set, at the end) sees the averaged weights once averaging has started
(EMA: from the first step; SWA: from the end of the first SWA epoch), before that the live ones;
the live weights' validation loss and accuracy are recorded as ``raw_val_loss``/``raw_val_acc``.
The training loss and accuracy are those of the live weights (the training step's own pass).

Batch normalization: the averaged weights need their own running statistics.  Whenever the
averaged weights are evaluated and have changed since, the statistics are recomputed as
``torch.optim.swa_utils.update_bn`` does: reset, then one pass over the training set in training
mode (batches of the configured size, in stored order) with momentum None, i.e. the cumulative
average over the batches, each batch weighted equally.  nnlab's running variance is the biased
batch variance (see BatchNorm); torch's update_bn averages the unbiased one.  Dropout and RReLU
noise of that pass come from a stream of their own, so the live training trajectory is exactly
that of the same run without averaging (with an SWA ``lr``, up to the SWA phase).

Early stopping with ``restore_best`` keeps a copy of the weights that were evaluated at the best
epoch (the averaged ones with their statistics, once averaging has started) and restores those.
Checkpoints hold the average, its count, its statistics and the noise stream of the BN pass, so a
resumed run equals one that never stopped.

Cost: EMA is one vectorised update of the flat parameter buffer per step, three in-place ufuncs
with one scratch buffer (5 us for 15k float32 parameters here); SWA does nothing per step and one
such update per SWA epoch; nothing is allocated or copied before averaging starts.  With batch
norm, each validation of changed averaged weights costs one training-mode forward pass over the
training set.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np

from nnlab.components.layers import BatchNorm


def swa_start_epoch(start: float, epochs: int) -> int:
    """0-based index of the first SWA epoch: floor(start * epochs), start in [0, 1) (so at least the last epoch).

    Rounded to 9 digits first so that 0.29 * 100 = 28.999999999999996 gives 29, not 28.
    """
    return math.floor(round(start * epochs, 9))


def epoch_rates(spec: dict | None, rates: list[float], epochs: int, steps_per_epoch: int = 1) -> list[float]:
    """The schedule's rates (one per epoch or per step) with SWA's constant ``lr`` from its first epoch on."""
    if not spec or spec["method"] != "swa" or spec["lr"] is None:
        return rates
    first = swa_start_epoch(spec["start"], epochs) * steps_per_epoch
    return rates[:first] + [spec["lr"]] * (len(rates) - first)


def update_bn(model, x, bounds, rng: np.random.Generator | None = None) -> None:
    """torch.optim.swa_utils.update_bn for nnlab's MLP: recompute every batch-norm running statistic.

    Reset (mean 0, variance 1), then one training-mode forward pass over ``x`` in the batches
    ``bounds`` ((start, stop) rows) with momentum None: after batch k the statistic is
    (1 - 1/k) old + (1/k) batch, the cumulative average over the batches.  Dropout masks and
    RReLU slopes of the pass are drawn from ``rng`` when given (the model's own stream otherwise).
    """
    bns = [layer for layer in model.layers if isinstance(layer, BatchNorm)]
    if not bns:
        return
    momenta = [bn.momentum for bn in bns]
    noisy = [layer for layer in model.layers if hasattr(layer, "rng")]
    streams = [layer.rng for layer in noisy]
    for bn in bns:
        if bn.running_mean is not None:
            bn.running_mean[...] = 0
            bn.running_var[...] = 1
    try:
        if rng is not None:
            for layer in noisy:
                layer.rng = rng
        for k, (a, b) in enumerate(bounds, start=1):
            for bn in bns:
                bn.momentum = (k - 1) / k  # nnlab: running = m running + (1 - m) batch; torch: factor 1/k
            model.forward_buffered(x[a:b], train=True)
    finally:
        for bn, m in zip(bns, momenta):
            bn.momentum = m
        for layer, s in zip(noisy, streams):
            layer.rng = s


class Averager:
    """The averaged weights of one run, kept beside the model's live ones (see the module docstring)."""

    def __init__(self, spec: dict, model, epochs: int, x_train, bounds, seed: int):
        self.method, self.model = spec["method"], model
        self.per_step = self.method == "ema"
        if self.per_step:
            self.start = 0
            self.weight = model.dtype.type(1 - spec["decay"])  # torch: lerp weight 1 - decay, in float32
            self.lr_override = None
        else:
            self.start = swa_start_epoch(spec["start"], epochs)
            self.lr_override = spec["lr"]
        self.x_train, self.bounds = x_train, bounds
        self.n = 0  # AveragedModel.n_averaged
        self.avg = self.scratch = None  # allocated by the first update
        self.has_bn = any(isinstance(layer, BatchNorm) for layer in model.layers)
        self.bufs: dict[str, np.ndarray] = {}  # the averaged weights' batch-norm statistics
        self.stale = False  # the average changed since ``bufs`` were computed
        # the BN pass's dropout/RReLU noise: a fourth stream beside init, shuffle and noise (trainer.rng_streams)
        self.rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(4)[3])

    @classmethod
    def from_config(cls, spec: dict | None, model, epochs: int, x_train, bounds, seed: int) -> "Averager | None":
        return None if not spec else cls(spec, model, epochs, x_train, bounds, seed)

    @property
    def active(self) -> bool:
        return self.n > 0

    def lr(self, epoch: int, scheduled: float) -> float:
        """The rate of a step in ``epoch`` (0-based): SWA's constant rate in the SWA phase, else the schedule's."""
        if self.lr_override is not None and epoch >= self.start:
            return self.lr_override
        return scheduled

    # -- updates --------------------------------------------------------------------------
    def update(self) -> None:
        """AveragedModel.update_parameters(model): copy on the first call, then EMA's lerp or SWA's equal average."""
        p = self.model.params
        if self.n == 0:
            self.avg, self.scratch = p.copy(), np.empty_like(p)
        else:
            s = self.scratch
            np.subtract(p, self.avg, out=s)
            if self.per_step:
                s *= self.weight  # avg + (1 - decay)(w - avg)
            else:
                s /= self.n + 1  # avg + (w - avg) / (n + 1)
            self.avg += s
        self.n += 1
        self.stale = self.has_bn

    def end_epoch(self, epoch: int, row: dict, validate) -> None:
        """After epoch ``epoch`` (0-based): SWA's update; the row's val_* become those of the averaged weights
        (``validate()`` -> (loss, acc) of the model as it stands), the live ones' go to raw_val_*."""
        if not self.per_step and epoch >= self.start:
            self.update()
        row["raw_val_loss"], row["raw_val_acc"] = row.get("val_loss"), row.get("val_acc")
        if self.active and row.get("val_loss") is not None:
            with self.swapped():
                row["val_loss"], row["val_acc"] = validate()

    # -- the averaged weights in the model --------------------------------------------------
    def _load(self) -> None:
        """The averaged weights into the model, with their batch-norm statistics (recomputed if stale)."""
        np.copyto(self.model.params, self.avg)
        if self.has_bn:
            if self.stale or not self.bufs:
                update_bn(self.model, self.x_train, self.bounds, self.rng)
                self.bufs = {k: v.copy() for k, v in self.model.buffers().items()}
                self.stale = False
            else:
                _set_buffers(self.model, self.bufs)

    @contextmanager
    def swapped(self):
        """Inside the block the model holds the averaged weights; the live ones are back after it."""
        m = self.model
        live = {k: v.copy() for k, v in m.buffers().items()}
        np.copyto(self.scratch, m.params)
        try:
            self._load()
            yield
        finally:
            np.copyto(m.params, self.scratch)
            _set_buffers(m, live)

    def snapshot(self):
        """What early stopping keeps: the evaluated weights (averaged once averaging has started)."""
        if not self.active:
            return self.model.snapshot()
        with self.swapped():
            return self.model.snapshot()

    def install(self) -> None:
        """At the end: the averaged weights (and statistics) become the model's for good (model.npz, test)."""
        if self.active:
            self._load()

    # -- checkpoints --------------------------------------------------------------------------
    def state_dict(self) -> tuple[dict, dict]:
        meta = {"n": self.n, "stale": self.stale, "rng": self.rng.bit_generator.state}
        arrays = {} if self.avg is None else {"avg.params": self.avg}
        arrays.update({f"avg.buf.{k}": v for k, v in self.bufs.items()})
        return meta, arrays

    def load_state_dict(self, meta: dict, arrays: dict) -> None:
        self.n, self.stale = int(meta["n"]), bool(meta["stale"])
        self.rng.bit_generator.state = meta["rng"]
        if self.n > 0:
            avg = np.asarray(arrays["avg.params"])
            if avg.shape != self.model.params.shape:
                raise ValueError(f"checkpoint has {avg.size} averaged parameters, the model {self.model.params.size}")
            self.avg = avg.astype(self.model.dtype, copy=True)
            self.scratch = np.empty_like(self.avg)
        self.bufs = {k[len("avg.buf."):]: np.array(v, dtype=self.model.dtype) for k, v in arrays.items()
                     if k.startswith("avg.buf.")}


def _set_buffers(model, bufs: dict) -> None:
    """Batch-norm running statistics from ``bufs`` (name -> array) into the model's layers."""
    for k, v in bufs.items():
        name, attr = k.rsplit(".", 1)
        layer = model.layers[model.names.index(name)]
        if getattr(layer, attr, None) is None:
            setattr(layer, attr, np.array(v, dtype=model.dtype))
        else:
            getattr(layer, attr)[...] = v
