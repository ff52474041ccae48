"""One learning-rate range test end to end: data -> folder -> test -> files (what ``nnlab lr-find`` runs).

The test itself is nnlab.train.range_test (Leslie Smith's range test, as fastai's lr_find; course
note 004 on choosing the learning rate).  This module writes its folder
``runs/<date_time>_<name>_lr-find/`` (nnlab.runs.create_run_dir: a new folder, never an existing one):

  config.yaml   the resolved config, written first (``nnlab lr-find`` it again to replay the test)
  lr_find.csv   step (1-based), lr, loss (the mini-batch loss before the step), smoothed; rows are
                flushed as the test goes and the file is rewritten atomically at the end
  lr_find.png   the smoothed loss against a log learning-rate axis, the suggestions marked
  summary.json  written at the start with status running, and atomically at the end: status
                (completed, interrupted, failed), the range tested, steps done, why it stopped, the
                three suggestions with their rules and the recommended one

The final files are written with signals held back (nnlab.interrupt.deferred), so Ctrl-C leaves a
consistent folder: status interrupted, and what was measured so far.  The folder is not a run:
``nnlab runs`` and ``nnlab compare`` pass it by (its summary.json says ``kind: lr-find``).
"""

from __future__ import annotations

import csv
import io
import math
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from nnlab import runs
from nnlab.components.optimizers import optimizers
from nnlab.errors import ConfigError, RunError
from nnlab.interrupt import deferred
from nnlab.look.figures import plot_lr_find
from nnlab.train.range_test import (BETA, MIN_POINTS, RECOMMENDED, SKIP_END, STOP_FACTOR, WHY, RangeTestResult,
                                    range_test, suggest, sweep_rates)
from nnlab.train.size import check_model_size
from nnlab.train.threads import blas_threads, limited

CSV = "lr_find.csv"
PNG = "lr_find.png"
COLUMNS = ["step", "lr", "loss", "smoothed"]
SUFFIX = "_lr-find"
MAX_STEPS = 1_000_000


def check_range(start, end, steps) -> None:
    """The range options, or one ConfigError line naming the option."""
    if not (isinstance(start, (int, float)) and math.isfinite(start) and start > 0):
        raise ConfigError(f"--start: must be a finite rate > 0, got {start}")
    if not (isinstance(end, (int, float)) and math.isfinite(end)):
        raise ConfigError(f"--end: must be a finite rate, got {end}")
    if start >= end:
        raise ConfigError(f"--start {start:g} must be below --end {end:g}: the rate grows from start to end")
    if not isinstance(steps, int) or steps < 2:
        raise ConfigError(f"--steps: must be at least 2 (the test needs two rates), got {steps}")
    if steps > MAX_STEPS:
        raise ConfigError(f"--steps: at most {MAX_STEPS:,}, got {steps:,}")


def lr_text(lr: float) -> str:
    """A rate to 3 significant digits, as --set takes it (YAML reads 1.2e-05 and 0.0012 as floats)."""
    return f"{lr:.3g}"


def run_lr_find(cfg, dataset, runs_dir="runs", start: float = 1e-7, end: float = 10.0, steps: int = 100,
                linear: bool = False, on_start: Optional[Callable] = None, on_step: Optional[Callable] = None,
                command: str | None = None) -> tuple[Path, RangeTestResult | None, dict]:
    """Run the range test of a validated config into a new folder; return (folder, result, summary).

    ``on_start(info)`` gets the folder and the sizes, ``on_step(i, lr, loss, smoothed)`` every step.
    """
    check_range(start, end, steps)

    opt = cfg.train["optimizer"]
    if optimizers.get(opt["name"]).obj.needs_closure:
        raise ConfigError(f"{cfg.source}: train.optimizer: {opt['name']} evaluates the full-batch loss many times per "
                          "step and chooses its own step lengths; a learning-rate range test, one mini-batch step "
                          "per rate, has nothing to find for it")
    check_model_size(cfg, dataset.n_features, dataset.n_outputs)
    lrs = sweep_rates(start, end, steps, linear)
    started = datetime.now()
    folder = runs.create_run_dir(runs_dir, cfg.name + SUFFIX, started)
    t = cfg.train
    summary = {
        "kind": "lr-find", "name": cfg.name, "status": "running", "config_source": cfg.source,
        "started": started.isoformat(timespec="seconds"), **runs.host_info(), "seed": cfg.seed,
        "command": command or runs.command_line(), "versions": runs.versions(), "git_commit": runs.git_commit(),
        "data": {"name": dataset.name, "task": dataset.task, "n_train": len(dataset.x_train),
                 "n_features": dataset.n_features, "n_outputs": dataset.n_outputs},
        "optimizer": t["optimizer"]["name"], "config_lr": t["optimizer"]["lr"], "batch_size": t["batch_size"],
        "schedule_ignored": t["schedule"]["name"],
        "range": {"start": start, "end": end, "steps": steps, "spacing": "linear" if linear else "exponential"},
        "smoothing": {"beta": BETA, "stop_factor": STOP_FACTOR},
    }
    try:
        runs.atomic_write(folder / "config.yaml", cfg.dump())
        runs.write_json(folder / "summary.json", summary)
        writer = runs.MetricsWriter(folder / CSV, COLUMNS)
    except OSError as exc:  # a full disk or a vanished folder at the start: leave no empty folder behind
        shutil.rmtree(folder, ignore_errors=True)
        raise RunError(f"{folder}: cannot write the lr-find folder ({exc.strerror or exc}); nothing was "
                       "trained") from None

    def step_cb(i, lr, loss, smoothed):
        writer.write({"step": i + 1, "lr": lr, "loss": loss, "smoothed": smoothed})
        if on_step:
            on_step(i, lr, loss, smoothed)

    t0 = time.perf_counter()
    result = None
    threads = blas_threads(cfg, dataset.n_features, dataset.n_outputs, len(dataset.x_train))
    try:
        if on_start:
            on_start({"folder": folder, "steps": steps})
        with limited(threads):
            result = range_test(cfg, dataset, lrs, on_step=step_cb)
    except KeyboardInterrupt as exc:  # before the loop started
        summary.update(status="interrupted", message=f"interrupted by {getattr(exc, 'name', 'SIGINT')} "
                                                     "before the test started", steps_done=0)
        raise
    except BaseException as exc:  # a bug or resource problem: record it, then let the CLI report it
        summary.update(status="failed", message=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        with deferred():
            _finish(cfg, folder, summary, writer, result, t0)
    return folder, result, summary


def _finish(cfg, folder: Path, summary: dict, writer, result: RangeTestResult | None, t0: float) -> None:
    """The last files, whatever happened: the whole CSV again (atomically), the figure, summary.json."""
    writer.close()
    if result is not None:
        n = result.steps_done
        lrs = result.lrs[:n]
        losses, smoothed = np.array(result.losses, dtype=np.float64), np.array(result.smoothed, dtype=np.float64)
        buf = io.StringIO(newline="")
        w = csv.writer(buf)
        w.writerow(COLUMNS)
        w.writerows([i + 1, repr(float(lrs[i])), repr(float(losses[i])), repr(float(smoothed[i]))] for i in range(n))
        try:
            runs.atomic_write(folder / CSV, buf.getvalue())
        except OSError as exc:
            summary["error"] = f"{CSV} not rewritten: {exc.strerror or exc}"
        found, win = suggest(lrs, smoothed, summary["range"]["steps"])
        summary.update(_result_summary(cfg, result, found, win, lrs, smoothed))
        if n:
            try:
                plot_lr_find(lrs, losses, smoothed, found, (win.first, win.stop), folder / PNG,
                             title=f"{cfg.name}: {cfg.train['optimizer']['name']}, range test",
                             recommended=RECOMMENDED if found else None)
            except Exception as exc:  # noqa: BLE001 - a missing plot must not lose the measurements
                summary["plot_error"] = f"{type(exc).__name__}: {exc}"
    summary["wall_seconds"] = time.perf_counter() - t0
    summary["finished"] = datetime.now().isoformat(timespec="seconds")
    try:
        runs.write_json(folder / "summary.json", summary)
    except OSError as exc:
        raise RunError(f"{folder}: cannot write summary.json ({exc.strerror or exc}); {CSV} keeps what was "
                       "measured") from None


def result_range(result: RangeTestResult) -> tuple[float, float]:
    """The first and the last rate the test was to try."""
    return float(result.lrs[0]), float(result.lrs[-1])


def _result_summary(cfg, result: RangeTestResult, found: dict, win, lrs, smoothed) -> dict:
    steps = len(result.lrs)
    out = {
        "status": result.status, "message": result.message, "stopped": result.stopped,
        "steps_done": result.steps_done, "seconds": result.seconds,
        "last_lr": float(lrs[-1]) if len(lrs) else None,
        "window": {"first_step": win.first + 1, "last_step": win.stop,
                   "excluded": f"the first {steps // 10} steps (steps // 10), the last {SKIP_END} recorded and any "
                               "from the first non-finite loss on"},
        "suggestions": {k: s.as_dict() for k, s in found.items()},
    }
    if result.signal:
        out["signal"] = result.signal
    finite = np.isfinite(smoothed)
    if finite.any():
        i = int(np.argmin(np.where(finite, smoothed, np.inf)))
        out["min_smoothed"] = {"loss": float(smoothed[i]), "lr": float(lrs[i]), "step": i + 1}
    if found:
        lr = found[RECOMMENDED].lr
        out["recommended"] = {"rule": RECOMMENDED, "lr": lr, "set": f"train.optimizer.lr={lr_text(lr)}", "why": WHY}
    else:
        out["recommended"] = None
        out["no_suggestion"] = (f"{win.size} point{'' if win.size == 1 else 's'} to read, {MIN_POINTS} needed: the "
                                f"rules leave out the first {steps // 10} steps (a tenth of --steps) and the last "
                                f"{SKIP_END} of the {result.steps_done} recorded; use more --steps, or a range the "
                                "test can run through")
        if result.stopped == "exploded" and result.steps_done < steps:
            rng = result_range(result)
            growth = (rng[1] / rng[0]) ** (1 / max(1, steps - 1)) if rng[0] > 0 else 1.0
            if growth > 2:  # a range so wide that each step multiplies the rate many times over
                out["no_suggestion"] += (f"; it stopped at step {result.steps_done}, lr {float(lrs[-1]):.3g}, the rate "
                                         f"growing {growth:.3g}x a step: a much smaller --end (or more --steps) "
                                         f"lets the test see where the loss turns")
            else:
                out["no_suggestion"] += (f"; it stopped at step {result.steps_done}, lr {float(lrs[-1]):.3g}: a "
                                         f"smaller --start, or, when the mini-batch losses are this noisy (batch_size "
                                         f"{cfg.train['batch_size']}), a larger train.batch_size for the test")
    return out


__all__ = ["COLUMNS", "CSV", "PNG", "check_range", "lr_text", "run_lr_find"]
