"""train(): the only training loop.

It knows nothing of YAML, files or terminals: it takes a validated Config and a
Dataset, and reports each epoch's metrics to callbacks (the CLI writes them to
the run folder and draws the progress bar).  It stops with a status:
completed, diverged (a NaN or infinite loss), interrupted (Ctrl-C) or, through
early stopping, completed with ``stopped_early``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from nnlab.train.diagnostics import Diagnostics
from nnlab.components.losses import loss_for_task
from nnlab.train.model import MLP, build_model
from nnlab.components.optimizers import optimizers
from nnlab.components.regularizers import add_penalty_grad, apply_max_norm, clip_by_norm, clip_by_value
from nnlab.components.schedules import schedules

GATHER_LIMIT = 1 << 30  # shuffle by copying the training set once per epoch up to 1 GiB

METRIC_COLUMNS = ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"]


@dataclass
class TrainResult:
    status: str  # completed | diverged | interrupted
    history: list[dict]
    model: MLP
    message: str = ""
    train_seconds: float = 0.0
    samples_seen: int = 0
    best: Optional[dict] = None
    stopped_early: bool = False
    restored_epoch: Optional[int] = None
    test: dict = field(default_factory=lambda: {"loss": None, "acc": None})

    @property
    def final(self) -> Optional[dict]:
        return self.history[-1] if self.history else None

    @property
    def samples_per_second(self) -> Optional[float]:
        return self.samples_seen / self.train_seconds if self.train_seconds > 0 else None


def rng_streams(seed: int) -> dict[str, np.random.Generator]:
    """Independent generators for init, shuffling and dropout/RReLU noise (SeedSequence.spawn)."""
    init, shuffle, noise = np.random.SeedSequence(seed).spawn(3)
    return {"init": np.random.default_rng(init), "shuffle": np.random.default_rng(shuffle),
            "noise": np.random.default_rng(noise)}


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
        out = model.forward(x[i:i + batch], train=False)
        yb = y[i:i + batch]
        c = loss_fn.correct(out, yb)
        loss, _ = loss_fn(out, yb)
        total += loss * len(yb)
        correct = None if c is None else correct + c
    return total / n, (None if correct is None else correct / n)


def build(cfg, dataset):
    """The model, loss, optimizer and schedule for a config, plus the random streams."""
    rngs = rng_streams(cfg.seed)
    model = build_model(cfg.model, dataset.n_features, dataset.n_outputs, cfg.dtype, rngs["init"], rngs["noise"])
    loss_fn = loss_for_task(dataset.task)
    return model, loss_fn, rngs


def steps_per_epoch(cfg, n_train: int) -> int:
    bs = n_train if cfg.train["batch_size"] == "full" else min(cfg.train["batch_size"], n_train)
    return -(-n_train // bs)


def make_schedule(cfg, n_train: int):
    t = cfg.train
    spec = t["schedule"]
    total = t["epochs"] * (steps_per_epoch(cfg, n_train) if spec.get("unit") == "step" else 1)
    return schedules.build(spec, t["optimizer"]["lr"], total)


def _better(value, best, maximize, min_delta=0.0):
    if value is None or value != value:
        return False
    if best is None:
        return True
    return value > best + min_delta if maximize else value < best - min_delta


def train(cfg, dataset, on_epoch: Callable[[dict], None] | None = None,
          on_start: Callable[[dict], None] | None = None,
          on_diagnostics: Callable[[list], None] | None = None) -> TrainResult:
    """Train the configured MLP on the dataset.

    Calls ``on_epoch(row)`` after every epoch with its metrics and, when given,
    ``on_diagnostics(rows)`` with the per-layer diagnostics (nnlab.train.diagnostics).
    """
    t_cfg = cfg.train
    model, loss_fn, rngs = build(cfg, dataset)
    opt = optimizers.build(t_cfg["optimizer"])
    sched = make_schedule(cfg, len(dataset.x_train))
    reg, clip = t_cfg["regularization"], t_cfg["grad_clip"]
    es = t_cfg["early_stopping"]
    metric = monitor_metric(cfg, dataset)
    maximize = metric.endswith("acc")

    x, y = dataset.x_train, dataset.y_train
    n = len(x)
    bs = n if t_cfg["batch_size"] == "full" else min(int(t_cfg["batch_size"]), n)
    step_unit = sched.unit == "step"
    p, g, n_decay = model.params, model.grads, model.n_decay
    w, gw = p[:n_decay], g[:n_decay]
    l1, l2, max_norm = reg["l1"], reg["l2"], reg["max_norm"]
    dense_w = [model.view(tn.name) for tn in model.tensors if tn.key == "W"]
    full_batch = bs == n and not t_cfg["shuffle"]
    gather_epoch = t_cfg["shuffle"] and x.nbytes <= GATHER_LIMIT
    if gather_epoch:
        xs, ys = np.empty_like(x), np.empty_like(y)
    diag = Diagnostics(model, -(-n // bs)) if on_diagnostics else None
    last_start = ((n - 1) // bs) * bs  # the epoch's last batch starts here

    if on_start:
        on_start({"epochs": t_cfg["epochs"], "n_params": model.n_params, "steps_per_epoch": -(-n // bs)})

    result = TrainResult(status="completed", history=[], model=model)
    best_val, best_snap, since_best = None, None, 0
    step = 0
    # overflow on the way to a NaN loss is reported as divergence, not as numpy warnings
    errstate = np.errstate(over="ignore", invalid="ignore", divide="ignore")
    errstate.__enter__()
    try:
        for epoch in range(t_cfg["epochs"]):
            t0 = time.perf_counter()
            if t_cfg["shuffle"]:
                order = rngs["shuffle"].permutation(n)
                if gather_epoch:
                    # one gather per epoch, then every batch is a contiguous view: far fewer cache
                    # misses than gathering random rows batch by batch
                    np.take(x, order, axis=0, out=xs)
                    np.take(y, order, axis=0, out=ys)
            loss_sum, correct_sum, lr_epoch = 0.0, 0, None
            diverged = False
            for s in range(0, n, bs):
                if not t_cfg["shuffle"] or full_batch:
                    xb, yb = x[s:s + bs], y[s:s + bs]
                elif gather_epoch:
                    xb, yb = xs[s:s + bs], ys[s:s + bs]
                else:  # a training set too large to copy: gather each batch
                    idx = order[s:s + bs]
                    xb, yb = np.take(x, idx, axis=0), y[idx]
                m = len(xb)
                out = model.forward(xb, train=True)
                c = loss_fn.correct(out, yb)
                loss, dout = loss_fn(out, yb)
                if not math.isfinite(loss):
                    diverged = True
                    break
                loss_sum += loss * m
                if c is not None:
                    correct_sum += c
                model.backward(dout)
                if diag is not None:
                    diag.after_backward(g)
                    if s == last_start:
                        diag.before_last_step()
                if l1 or l2:
                    add_penalty_grad(gw, w, l1, l2)
                if clip is not None:
                    if clip["norm"] is not None:
                        clip_by_norm(g, clip["norm"])
                    else:
                        clip_by_value(g, clip["value"])
                lr = sched(step if step_unit else epoch)
                if lr_epoch is None:
                    lr_epoch = lr
                opt.step(p, g, lr, n_decay)
                if max_norm is not None:
                    apply_max_norm(dense_w, max_norm)
                step += 1
            result.train_seconds += time.perf_counter() - t0
            if diverged:
                result.status = "diverged"
                result.message = (f"the training loss became {loss} in epoch {epoch + 1}; "
                                  f"try a lower learning rate (train.optimizer.lr is {t_cfg['optimizer']['lr']})")
                break
            result.samples_seen += n
            row = {"epoch": epoch + 1, "lr": lr_epoch, "train_loss": loss_sum / n,
                   "train_acc": correct_sum / n if dataset.task == "classification" else None,
                   "val_loss": None, "val_acc": None}
            if dataset.x_val is not None:
                row["val_loss"], row["val_acc"] = evaluate(model, dataset.x_val, dataset.y_val, loss_fn)
            row["seconds"] = time.perf_counter() - t0
            result.history.append(row)
            sched.observe(row)
            if on_epoch:
                on_epoch(row)
            if diag is not None:
                on_diagnostics(diag.end_epoch(epoch + 1))
            value = row.get(metric)
            if _better(value, best_val, maximize, es["min_delta"] if es else 0.0):
                best_val, since_best = value, 0
                result.best = dict(row)
                if es and es["restore_best"]:
                    best_snap = model.snapshot()
            else:
                since_best += 1
            if value is not None and not np.isfinite(value):
                result.status = "diverged"
                result.message = (f"{metric} became {value} in epoch {epoch + 1}; "
                                  f"try a lower learning rate (train.optimizer.lr is {t_cfg['optimizer']['lr']})")
                break
            if es and since_best >= es["patience"]:
                result.stopped_early = True
                result.message = (f"early stopping: {metric} did not improve for {es['patience']} epochs "
                                  f"(best {best_val:.4g} in epoch {result.best['epoch']})")
                break
    except KeyboardInterrupt:
        result.status = "interrupted"
        result.message = f"interrupted by the user after {len(result.history)} epochs"
    finally:
        errstate.__exit__(None, None, None)
    if best_snap is not None:
        model.restore(best_snap)
        result.restored_epoch = result.best["epoch"]
    # the test set is touched once, at the end, unless the weights are broken (diverged, nothing restored)
    if result.history and (result.status != "diverged" or result.restored_epoch is not None):
        loss, acc = evaluate(model, dataset.x_test, dataset.y_test, loss_fn)
        result.test = {"loss": loss, "acc": acc}
    return result
