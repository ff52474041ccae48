"""train(): the only training loop.

It knows nothing of YAML, files or terminals: it takes a validated Config and a
Dataset, and reports to callbacks (the experiment writes the run folder, the CLI
draws the progress bar).  It stops with a status: completed, diverged (a NaN or
infinite loss), interrupted (Ctrl-C, SIGTERM, SIGHUP) or, through early stopping,
completed with ``stopped_early``.

One gradient step, in this order (each a test in tests/test_loop.py):
    forward (training mode) -> loss -> backward -> diagnostics (data gradient)
    -> + L1/L2 penalty gradient (Dense weights, and biases with regularization.biases) -> clipping (of the
    penalised gradient) -> decoupled decay w *= 1 - lr decay (the same weights, the step's rate)
    -> optimizer step with the schedule's rate -> max-norm (after the step) -> EMA of the weights
After every epoch: SWA's average, validation (evaluation mode; of the averaged weights once
train.averaging has started, nnlab.train.averager), the plateau schedule is fed, early
stopping decides, and a checkpoint is offered (``on_checkpoint``): everything needed
to continue the run exactly as if it had never stopped (``resume=``).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from nnlab.components.losses import loss_for_task
from nnlab.components.optimizers import optimizers
from nnlab.components.regularizers import (add_penalty_grad, apply_max_norm, clip_by_norm, clip_by_value,
                                           decay_weights)
from nnlab.components.schedules import schedules
from nnlab.data.augment import Augmenter
from nnlab.data.augment import active as augment_active
from nnlab.metrics import METRIC_COLUMNS  # noqa: F401 (re-exported for the run folder)
from nnlab.train.averager import Averager
from nnlab.train.batching import Batches, batch_bounds, batch_size_for, steps_per_epoch
from nnlab.train.closure import ClosureStep
from nnlab.train.combine import scores
from nnlab.train.diagnostics import Diagnostics
from nnlab.train.early_stopping import EarlyStopping
from nnlab.train.model import MLP, build_model
from nnlab.text import setting

CHECKPOINT_VERSION = 1


@dataclass
class TrainResult:
    status: str  # completed | diverged | pruned | interrupted
    history: list[dict]
    model: MLP
    message: str = ""
    train_seconds: float = 0.0
    samples_seen: int = 0
    best: Optional[dict] = None
    stopped_early: bool = False
    restored_epoch: Optional[int] = None
    test: dict = field(default_factory=lambda: {"loss": None, "acc": None})
    signal: Optional[str] = None  # SIGINT, SIGTERM or SIGHUP when interrupted by one
    ensemble: Optional[dict] = None  # a snapshot ensemble's scores (nnlab.train.combine.scores)

    @property
    def final(self) -> Optional[dict]:
        return self.history[-1] if self.history else None

    @property
    def samples_per_second(self) -> Optional[float]:
        return self.samples_seen / self.train_seconds if self.train_seconds > 0 else None


def rng_streams(seed: int, augment: bool = False) -> dict[str, np.random.Generator]:
    """Independent generators for init, shuffling and dropout/RReLU noise (SeedSequence.spawn), and
    for data augmentation when it is on (the fourth child: the first three are the same either way)."""
    init, shuffle, noise, aug = np.random.SeedSequence(seed).spawn(4)
    streams = {"init": np.random.default_rng(init), "shuffle": np.random.default_rng(shuffle),
               "noise": np.random.default_rng(noise)}
    if augment:
        streams["augment"] = np.random.default_rng(aug)
    return streams


def monitor_metric(cfg, dataset) -> str:
    """The metric that picks the 'best' epoch: early stopping's, else val acc (val loss for regression)."""
    es = cfg.train.get("early_stopping")
    if es:
        return es["metric"]
    has_val = dataset.x_val is not None
    if dataset.task == "classification":
        return "val_acc" if has_val else "train_acc"
    return "val_loss" if has_val else "train_loss"


def evaluate(model: MLP, x, y, loss_fn, batch: int = 4096) -> tuple[float, Optional[float]]:
    """Mean loss and accuracy (None for regression) over a whole set, in evaluation mode."""
    total, correct, n = 0.0, 0, len(x)
    for i in range(0, n, batch):
        out = model.forward_buffered(x[i:i + batch], train=False)
        yb = y[i:i + batch]
        c = loss_fn.correct(out, yb)
        loss, _ = loss_fn(out, yb)
        total += loss * len(yb)
        correct = None if c is None else correct + c
    return total / n, (None if correct is None else correct / n)


def build(cfg, dataset):
    """The model, loss and random streams for a config."""
    rngs = rng_streams(cfg.seed, augment=augment_active(cfg.data.get("augment")))
    model = build_model(cfg.model, dataset.n_features, dataset.n_outputs, cfg.dtype, rngs["init"], rngs["noise"])
    return model, loss_for_task(dataset.task), rngs


def make_schedule(cfg, n_train: int):
    t = cfg.train
    spec = t["schedule"]
    total = t["epochs"] * (steps_per_epoch(cfg, n_train) if spec.get("unit") == "step" else 1)
    return schedules.build(spec, t["optimizer"]["lr"], total)


# regression targets beyond this size make the squared error and its gradient large whatever the rate
TARGET_SCALE_HINT = 1e3


STRONG_AUGMENT = 10.0  # noise std or a scale factor this large swamps standardized inputs


def _diverged(what: str, value, epoch: int, lr, y_max: float | None = None, augment: dict | None = None) -> str:
    """The divergence message; for regression targets as large as ``y_max``, or an augmentation strong enough to
    swamp the inputs, the likelier cause first."""
    aug = augment or {}
    strong = [f"{k} {setting(aug[k])}" for k in ("noise", "scale") if aug.get(k) is not None and
              max(aug[k] if isinstance(aug[k], list) else [aug[k]]) >= STRONG_AUGMENT]
    if strong:
        return (f"{what} became {value} in epoch {epoch}; data.augment's {' and '.join(strong)} swamps the inputs: "
                f"weaken the augmentation (noise and scale act on standardized inputs, a few tenths at most), or "
                f"try a lower learning rate (train.optimizer.lr is {lr})")
    if y_max is not None and y_max > TARGET_SCALE_HINT:
        return (f"{what} became {value} in epoch {epoch}; the regression targets reach |y| = {y_max:.3g}: scale "
                f"them (to unit variance, say) before training, or try a lower learning rate "
                f"(train.optimizer.lr is {lr})")
    return f"{what} became {value} in epoch {epoch}; try a lower learning rate (train.optimizer.lr is {lr})"


class Trainer:
    """The state of one run and the loop over it; ``train()`` is the way to use it."""

    def __init__(self, cfg, dataset, on_epoch=None, on_diagnostics=None, on_checkpoint=None,
                 checkpoint_seconds: float = 60.0, checkpoint_every: float = 1.0, should_stop=None,
                 evaluate_test: bool = True, threads=None):
        self.cfg, self.data = cfg, dataset
        # times the steps and may change the BLAS thread count between them (nnlab.train.threads.ThreadChooser)
        self.pace = threads if threads is not None and threads.adaptive else None
        self.should_stop, self.evaluate_test = should_stop, evaluate_test
        self.on_epoch, self.on_diagnostics, self.on_checkpoint = on_epoch, on_diagnostics, on_checkpoint
        self.checkpoint_seconds, self.checkpoint_every = checkpoint_seconds, checkpoint_every
        self._last_saved = -math.inf  # perf_counter of the last checkpoint handed to on_checkpoint
        self._unsaved = None  # the latest end-of-epoch state, copied, when it was not handed over
        t = cfg.train
        self.model, self.loss_fn, self.rngs = build(cfg, dataset)
        self.opt = optimizers.build(t["optimizer"])
        # L-BFGS evaluates the full-batch loss many times per step: nnlab/train/closure.py
        self.closure_step = ClosureStep(self) if getattr(self.opt, "needs_closure", False) else None
        self.sched = make_schedule(cfg, len(dataset.x_train))
        self.step_unit = self.sched.unit == "step"
        reg = t["regularization"]
        self.l1, self.l2, self.decay, self.max_norm = reg["l1"], reg["l2"], reg["decay"], reg["max_norm"]
        self.clip = t["grad_clip"]
        m = self.model
        # the regularized parts of the flat buffers (one slice unless biases interleave with batch norm or PReLU)
        parts = m.regularized(reg["biases"])
        self.w, self.gw = [m.params[s] for s in parts], [m.grads[s] for s in parts]
        self.dense_w = [m.view(tn.name) for tn in m.tensors if tn.key == "W"]
        n = len(dataset.x_train)
        bounds = batch_bounds(n, batch_size_for(t["batch_size"], n), bool(cfg.model["batch_norm"]))
        self.batches = Batches(dataset.x_train, dataset.y_train, bounds, t["shuffle"], self.rngs["shuffle"])
        self.augment = Augmenter.build(cfg.data.get("augment"), dataset, self.rngs.get("augment"))
        self.diag = Diagnostics(m, len(bounds)) if on_diagnostics else None
        self.stopper = EarlyStopping.from_config(t["early_stopping"], monitor_metric(cfg, dataset))
        self.avg = Averager.from_config(t.get("averaging"), m, t["epochs"], dataset.x_train, bounds, cfg.seed)
        self._after_step = self.avg.update if self.avg is not None and self.avg.per_step else None  # EMA
        self.classify = dataset.task == "classification"
        self.result = TrainResult(status="completed", history=[], model=m)
        self.step_count = 0  # optimizer steps so far
        self.done = False  # stopped for good (early stopping); a resumed run only finishes
        en = t.get("ensemble") or {}
        self.n_snapshots = en.get("snapshots") or 0  # a snapshot ensemble: the weights at cycle ends
        self.snapshots: list = []  # [(unit, epoch, model.state())], the last n_snapshots
        self._epoch_pos = None  # (epoch, next batch, sums, order) while an epoch is under way

    # -- one step and one epoch ---------------------------------------------------------
    def _lr(self, epoch: int) -> float:
        """The rate of the next step: the schedule's, or SWA's constant rate in its phase."""
        lr = self.sched(self.step_count if self.step_unit else epoch)
        return lr if self.avg is None else self.avg.lr(epoch, lr)

    def _target_max(self) -> float | None:
        """The largest |y| of a regression's training targets (None for classification), for the
        divergence message: only computed once a run has diverged (the targets are finite in the run's
        dtype and the training set is never empty: nnlab.data checks both)."""
        return None if self.classify else float(np.max(np.abs(self.data.y_train)))

    def step(self, xb, yb, epoch: int, last: bool) -> tuple[float, int]:
        """One gradient step on a batch; returns (mean batch loss, correct count)."""
        if self.closure_step is not None:
            return self.closure_step(xb, yb, epoch, last)
        m, g = self.model, self.model.grads
        if self.augment is not None:  # training batches only (data.augment)
            xb, yb = self.augment(xb, yb)
        out = m.forward_buffered(xb, train=True)
        c = self.loss_fn.correct(out, yb)
        loss, dout = self.loss_fn(out, yb)
        if not math.isfinite(loss):
            return loss, 0
        m.backward(dout)
        if self.diag is not None:
            self.diag.after_backward(g)
            if last:
                self.diag.before_last_step()
        if self.l1 or self.l2:
            for gw, w in zip(self.gw, self.w):
                add_penalty_grad(gw, w, self.l1, self.l2)
        if self.clip is not None:
            if self.clip["norm"] is not None:
                clip_by_norm(g, self.clip["norm"])
            else:
                clip_by_value(g, self.clip["value"])
        lr = self._lr(epoch)
        if self.decay:  # before the update, as torch.optim.AdamW
            for w in self.w:
                decay_weights(w, lr, self.decay)
        self.opt.step(m.params, g, lr, m.n_decay)
        if self.max_norm is not None:
            apply_max_norm(self.dense_w, self.max_norm)
        if self._after_step is not None:
            self._after_step()
        self.step_count += 1
        if self.n_snapshots and self.step_unit:
            self._maybe_snapshot(self.step_count - 1, epoch + 1)
        return loss, (c or 0)

    def run_epoch(self, epoch: int) -> Optional[dict]:
        """Train one epoch (0-based index); the epoch's row, or None if the loss diverged."""
        batches, res = self.batches, self.result
        if self._epoch_pos is not None:  # resuming mid-epoch
            _, first, loss_sum, correct_sum, lr_epoch, before, order = self._epoch_pos
            batches.start_epoch(order)
        else:
            first, loss_sum, correct_sum, lr_epoch, before = 0, 0.0, 0, None, 0.0
            batches.start_epoch()
        self._epoch_pos = None
        t0 = seg = last_ckpt = time.perf_counter()  # seg: start of the time not yet in train_seconds
        n_batches = len(batches.bounds)
        pace = self.pace
        for i in range(first, n_batches):
            if lr_epoch is None:
                lr_epoch = self._lr(epoch)
            xb, yb = batches.get(i)
            if pace is not None:
                pace.start()
            loss, c = self.step(xb, yb, epoch, last=i == n_batches - 1)
            if pace is not None:
                pace.stop(epoch + 1)
            if not math.isfinite(loss):
                res.train_seconds += time.perf_counter() - seg
                res.status = "diverged"
                res.message = _diverged("the training loss", loss, epoch + 1, self.cfg.train["optimizer"]["lr"],
                                        self._target_max(), self.cfg.data.get("augment"))
                return None
            loss_sum += loss * len(xb)
            correct_sum += c
            if self.on_checkpoint and i + 1 < n_batches and time.perf_counter() - last_ckpt > self.checkpoint_seconds:
                # a long epoch: save where it stands, so that a kill loses at most checkpoint_seconds
                now = time.perf_counter()
                res.train_seconds += now - seg
                seg = now
                self._epoch_pos = (epoch, i + 1, loss_sum, correct_sum, lr_epoch, before + now - t0, batches.order)
                self._save(self._state())
                self._epoch_pos = None
                last_ckpt = time.perf_counter()
        res.train_seconds += time.perf_counter() - seg
        n = len(self.data.x_train)
        res.samples_seen += n
        row = {"epoch": epoch + 1, "lr": lr_epoch, "train_loss": loss_sum / n,
               "train_acc": correct_sum / n if self.classify else None, "val_loss": None, "val_acc": None}
        if self.data.x_val is not None:
            row["val_loss"], row["val_acc"] = evaluate(self.model, self.data.x_val, self.data.y_val, self.loss_fn)
        if self.avg is not None:  # validation of the averaged weights; the live ones' as raw_val_*
            self.avg.end_epoch(epoch, row, lambda: evaluate(self.model, self.data.x_val, self.data.y_val,
                                                            self.loss_fn))
        row["seconds"] = before + time.perf_counter() - t0
        return row

    def end_epoch(self, row: dict) -> bool:
        """Record the row, feed the schedule and early stopping; True to stop training."""
        res = self.result
        res.history.append(row)
        self.sched.observe(row)
        if self.on_epoch:
            self.on_epoch(row)
        if self.diag is not None:
            self.on_diagnostics(self.diag.end_epoch(row["epoch"]))
        stop = self.stopper.update(row, self.model if self.avg is None else self.avg)  # the evaluated weights
        res.best = self.stopper.best_row
        value = row.get(self.stopper.metric)
        if value is not None and not np.isfinite(value):
            res.status = "diverged"
            res.message = _diverged(self.stopper.metric, value, row["epoch"], self.cfg.train["optimizer"]["lr"],
                                    self._target_max(), self.cfg.data.get("augment"))
            return True
        if stop:
            res.stopped_early = True
            res.message = self.stopper.message()
            self.done = True
        return stop

    def run(self) -> TrainResult:
        res = self.result
        # overflow on the way to a NaN loss is reported as divergence, not as numpy warnings
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            try:
                epoch = len(res.history)
                while not self.done and epoch < self.cfg.train["epochs"]:
                    row = self.run_epoch(epoch)
                    if self.n_snapshots and not self.step_unit and row is not None:
                        self._maybe_snapshot(epoch, epoch + 1)
                    if row is None or self.end_epoch(row):
                        break
                    if self.should_stop is not None:  # a sweep's pruner: this run is clearly worse
                        reason = self.should_stop(row)
                        if reason:
                            res.status, res.message = "pruned", reason
                            break
                    epoch += 1
                    if self.on_checkpoint:
                        self._offer_checkpoint()
            except KeyboardInterrupt as exc:
                if self._unsaved is not None:  # stopped by a signal: keep every finished epoch
                    self._save(self._unsaved)
                res.status = "interrupted"
                res.signal = getattr(exc, "name", "SIGINT")
                how = "the user (Ctrl-C)" if res.signal == "SIGINT" else res.signal
                res.message = f"interrupted by {how} after {len(res.history)} epochs"
        self.finish()
        return res

    def _maybe_snapshot(self, unit: int, epoch: int) -> None:
        """Keep the weights if ``unit`` is the last of a learning-rate cycle (the rate at its lowest)."""
        if self.sched.cycle_index(unit + 1) != self.sched.cycle_index(unit):
            self.snapshots.append((unit, epoch, self.model.state()))
            del self.snapshots[:-self.n_snapshots]

    def _snapshot_ensemble(self) -> None:
        """The snapshots' averaged predictions on validation (and test) data, the weights left as they were."""
        res = self.result
        if not self.snapshots:
            res.ensemble = {"snapshots": 0, "message": "no learning-rate cycle ended: nothing to average"}
            return
        current = self.model.state()
        data = self.data
        if not self.evaluate_test:
            data = data.without_test()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            sc = scores(self.model, [s for _, _, s in self.snapshots], data)
        self.model.load_state(current)
        for (unit, epoch, _), m in zip(self.snapshots, sc["members"]):
            m.update({"unit": unit, "epoch": epoch})
        res.ensemble = {"snapshots": len(self.snapshots), "asked": self.n_snapshots, **sc}
        if len(self.snapshots) < self.n_snapshots:
            res.ensemble["message"] = (f"only {len(self.snapshots)} learning-rate cycles ended in the run; "
                                       f"averaged those (asked for {self.n_snapshots})")

    def finish(self) -> None:
        """Restore the best weights if asked, then touch the test set once."""
        res = self.result
        if self.n_snapshots and res.history and res.status == "completed":
            self._snapshot_ensemble()
        if self.stopper.snapshot is not None:
            self.model.restore(self.stopper.snapshot)
            res.restored_epoch = self.stopper.best_row["epoch"]
        elif self.avg is not None:  # the averaged weights are the result (a diverged run's may overflow)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                self.avg.install()
        # the test set is used once, at the end, unless the weights are broken (diverged, nothing restored)
        # or the caller holds it back (a sweep looks at it only for the configuration it chose)
        if self.evaluate_test and res.history and (res.status != "diverged" or res.restored_epoch is not None):
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                loss, acc = evaluate(self.model, self.data.x_test, self.data.y_test, self.loss_fn)
            res.test = {"loss": loss, "acc": acc}

    # -- checkpoints --------------------------------------------------------------------
    def _offer_checkpoint(self) -> None:
        """Hand the end-of-epoch state over, at most once per ``checkpoint_every`` seconds.

        Writing a checkpoint costs about 1.2 ms for a 15k-parameter net (a seventh of an MNIST-1D
        epoch; bench/checkpoint.py), so short epochs are saved once a second; between saves the state is kept as an
        in-memory copy, written if a signal stops the run.  A kill (SIGKILL, power loss) then
        loses at most the epoch in progress or the last second, whichever is longer.
        """
        meta, arrays = self._state()
        if time.perf_counter() - self._last_saved >= self.checkpoint_every:
            self._save((meta, arrays))
        else:
            self._unsaved = (dict(meta), {k: np.array(v) for k, v in arrays.items()})

    def _save(self, state) -> None:
        self.on_checkpoint(_pack(*state))
        self._last_saved = time.perf_counter()
        self._unsaved = None

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything needed to continue exactly: weights, optimizer, schedule, early stopping,
        every random stream, the position in the run; as arrays plus one JSON 'meta' string."""
        return _pack(*self._state())

    def _state(self) -> tuple[dict, dict]:
        m, res = self.model, self.result
        arrays = {"model.params": m.params}
        arrays.update({f"model.buf.{k}": v for k, v in m.buffers().items()})
        opt_meta, opt_arrays = self.opt.state_dict()
        arrays.update({f"opt.{k}": v for k, v in opt_arrays.items()})
        es_meta, es_arrays = self.stopper.state_dict()
        arrays.update(es_arrays)
        for i, (_, _, snap) in enumerate(self.snapshots):
            arrays.update({f"snapshot.{i}.{k}": v for k, v in snap.items()})
        avg_meta, avg_arrays = self.avg.state_dict() if self.avg is not None else (None, {})
        arrays.update(avg_arrays)
        pos = None
        if self._epoch_pos is not None:
            epoch, nxt, loss_sum, correct_sum, lr_epoch, elapsed, order = self._epoch_pos
            pos = {"epoch": epoch, "next_batch": nxt, "loss_sum": loss_sum, "correct_sum": correct_sum,
                   "lr": lr_epoch, "elapsed": elapsed}
            if order is not None:
                arrays["epoch.order"] = order
            if self.diag is not None:
                d_meta, d_arrays = self.diag.state_dict()
                pos["diagnostics"] = d_meta
                arrays.update({f"diag.{k}": v for k, v in d_arrays.items()})
        meta = {
            "version": CHECKPOINT_VERSION, "epochs_done": len(res.history), "step": self.step_count,
            "done": self.done, "history": list(res.history), "train_seconds": res.train_seconds,
            "samples_seen": res.samples_seen, "stopped_early": res.stopped_early, "message": res.message,
            "optimizer": opt_meta, "schedule": self.sched.state_dict(), "early_stopping": es_meta,
            "rngs": {k: g.bit_generator.state for k, g in self.rngs.items()}, "epoch_position": pos,
            "snapshots": [[u, e] for u, e, _ in self.snapshots],
            "averaging": avg_meta,
        }
        return meta, arrays

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state_dict()``'s output; ValueError (or TypeError) naming the field when its parts are
        not what this run writes (a hand-edited or damaged checkpoint is refused, never half-loaded)."""
        meta = json.loads(str(state["meta"]))
        if meta.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"checkpoint version {meta.get('version')} is not {CHECKPOINT_VERSION}")
        _check_meta(meta, self.cfg.train["epochs"])
        m, res = self.model, self.result
        if state["model.params"].shape != m.params.shape:
            raise ValueError(f"checkpoint has {state['model.params'].size} parameters, the model "
                             f"{m.params.size}")
        m.restore((state["model.params"],
                   {k[len("model.buf."):]: v for k, v in state.items() if k.startswith("model.buf.")}))
        opt_arrays = {k[4:]: np.array(v) for k, v in state.items() if k.startswith("opt.")}
        if not self.opt.needs_closure:  # every buffer of a stepped rule is one value per parameter
            for k, a in opt_arrays.items():
                if a.shape != m.params.shape:
                    raise ValueError(f"optimizer state {k} has shape {a.shape}, the parameters {m.params.shape}")
        self.opt.load_state_dict(meta["optimizer"], opt_arrays)
        self.sched.load_state_dict(meta["schedule"])
        self.stopper.load_state_dict(meta["early_stopping"], state)
        if self.avg is not None:
            self.avg.load_state_dict(meta["averaging"], state)
        for k, g in self.rngs.items():
            g.bit_generator.state = meta["rngs"][k]
        self.step_count, self.done = meta["step"], meta["done"]
        self.snapshots = [(u, e, {k[len(f"snapshot.{i}."):]: np.array(v) for k, v in state.items()
                                  if k.startswith(f"snapshot.{i}.")})
                          for i, (u, e) in enumerate(meta.get("snapshots", []))]
        res.history, res.best = meta["history"], self.stopper.best_row
        res.train_seconds, res.samples_seen = meta["train_seconds"], meta["samples_seen"]
        res.stopped_early, res.message = meta["stopped_early"], meta["message"]
        pos = meta.get("epoch_position")
        if pos is not None:
            order = np.array(state["epoch.order"]) if "epoch.order" in state else None
            self._epoch_pos = (pos["epoch"], pos["next_batch"], pos["loss_sum"], pos["correct_sum"], pos["lr"],
                               pos["elapsed"], order)
            if self.diag is not None and "diagnostics" in pos:
                self.diag.load_state_dict(pos["diagnostics"],
                                          {k[5:]: np.array(v) for k, v in state.items() if k.startswith("diag.")})


def _whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_meta(meta: dict, epochs: int) -> None:
    """The checkpoint's counters and history are what a run writes: whole numbers in range, one history row
    per epoch done, numbered 1, 2, ...; TypeError or ValueError naming the field otherwise."""
    done, history = meta["epochs_done"], meta["history"]
    if not _whole(done) or not 0 <= done <= epochs:
        raise ValueError(f"epochs_done must be a whole number from 0 to the config's {epochs} epochs, got {done!r}")
    if not isinstance(history, list) or len(history) != done:
        raise ValueError(f"history must hold one row per epoch done ({done}), got "
                         f"{len(history) if isinstance(history, list) else type(history).__name__}")
    for i, row in enumerate(history):
        if not isinstance(row, dict) or row.get("epoch") != i + 1:
            raise ValueError(f"history row {i + 1} is not the record of epoch {i + 1}")
    if not _whole(meta["step"]) or meta["step"] < 0:
        raise ValueError(f"step must be a whole number >= 0, got {meta['step']!r}")
    if not isinstance(meta["done"], bool):
        raise ValueError(f"done must be true or false, got {meta['done']!r}")


def _pack(meta: dict, arrays: dict) -> dict[str, np.ndarray]:
    """A checkpoint: the arrays plus the scalars as one JSON string under 'meta'."""
    return {**arrays, "meta": np.array(json.dumps(meta, default=_json_default))}


def _json_default(v):
    if hasattr(v, "item"):
        return v.item()
    raise TypeError(f"cannot store {type(v).__name__} in a checkpoint")


def train(cfg, dataset, on_epoch: Callable[[dict], None] | None = None,
          on_start: Callable[[dict], None] | None = None,
          on_diagnostics: Callable[[list], None] | None = None,
          on_checkpoint: Callable[[dict], None] | None = None,
          resume: dict | None = None, checkpoint_seconds: float = 60.0,
          checkpoint_every: float = 1.0, should_stop: Callable[[dict], str | None] | None = None,
          evaluate_test: bool = True, threads=None) -> TrainResult:
    """Train the configured MLP on the dataset.

    Calls ``on_epoch(row)`` after every epoch with its metrics, ``on_diagnostics(rows)``
    with the per-layer diagnostics (nnlab.train.diagnostics) when given, and
    ``on_checkpoint(state)`` with the state to save after an epoch (at most once per
    ``checkpoint_every`` seconds; when a signal stops the run, the last finished epoch's
    state) and every ``checkpoint_seconds`` within a long epoch.  Its arrays may be live
    views of the training state: save or copy them during the call.  ``resume`` is such a state: training continues
    from it and ends with the same numbers as a run that never stopped.  ``should_stop(row)``, called after
    each epoch, may return a reason to stop the run now as ``pruned`` (a sweep's pruner).  With
    ``evaluate_test=False`` the test set is not touched (``result.test`` stays None).  ``threads``: the
    run's thread choice (nnlab.train.threads.run_threads); a ThreadChooser times every step.
    """
    trainer = Trainer(cfg, dataset, on_epoch, on_diagnostics, on_checkpoint, checkpoint_seconds, checkpoint_every,
                      should_stop, evaluate_test, threads)
    if resume is not None:
        trainer.load_state_dict(resume)
    if on_start:
        on_start({"epochs": cfg.train["epochs"], "n_params": trainer.model.n_params,
                  "steps_per_epoch": len(trainer.batches.bounds), "start_epoch": len(trainer.result.history)})
    return trainer.run()


__all__ = ["TrainResult", "Trainer", "train", "evaluate", "monitor_metric", "rng_streams", "make_schedule",
           "steps_per_epoch", "build"]
