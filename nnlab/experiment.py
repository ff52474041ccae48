"""One experiment end to end: data -> run folder -> train -> files; the seam sweeps call.

``run_experiment`` is what ``nnlab train`` does for each config, without any
printing: progress goes to callbacks.  Order matters for safety: the data are
loaded (and may fail) before the run folder exists; config.yaml is written
first; summary.json is written at once with status ``running`` (and the pid and
host, so a vanished process reads as crashed); metrics.csv and diagnostics.csv
grow row by row; checkpoint.npz is replaced atomically after every epoch (and
every minute within a long epoch); model.npz and the PNGs follow; summary.json is
rewritten last, atomically, with the outcome and the diagnosis, whatever the
outcome.  Signals that arrive while those last files are written wait until they
are all written (nnlab.interrupt.deferred).

``resume_experiment`` continues a run folder from its checkpoint, in place.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import yaml

from nnlab import files, runs
from nnlab.components.schedules import schedules
from nnlab.config import load_config
from nnlab.data import load_dataset
from nnlab.data.augment import check_against_data as check_augment
from nnlab.errors import ConfigError, NnlabError, RunError
from nnlab.interrupt import deferred
from nnlab.look.figures import plot_curves, plot_diagnostics
from nnlab.metrics import METRIC_COLUMNS
from nnlab.runs.compare import flatten
from nnlab.runs.diagnosis import diagnose
from nnlab.text import setting
from nnlab.train.diagnostics import COLUMNS as DIAG_COLUMNS
from nnlab.train.size import check_model_size
from nnlab.train.threads import continued, run_threads
from nnlab.train.trainer import Trainer, TrainResult, monitor_metric, train

CHECKPOINT = "checkpoint.npz"
RESUMABLE = ("interrupted", "crashed", "failed")


def load_data(cfg):
    return load_dataset(cfg.data, dtype=cfg.dtype)


def check_against_data(cfg, dataset) -> None:
    """Config choices that only the data can confirm, checked before anything trains.

    The network must fit in memory for the data's width.  The metric of early stopping and of the plateau schedule must be one the run records:
    no val_* metric without a validation split, no *_acc metric for regression.  Mixup needs classes,
    and a shift must be shorter than the inputs (nnlab.data.augment).
    """
    has_val = dataset.x_val is not None
    uses = []
    if cfg.train["early_stopping"]:
        uses.append(("train.early_stopping.metric", cfg.train["early_stopping"]["metric"]))

    if schedules.get(cfg.train["schedule"]["name"]).obj.stateful:  # it reacts to its metric option
        uses.append(("train.schedule.metric", cfg.train["schedule"]["metric"]))
    errors = []
    for key, metric in uses:
        if metric.endswith("acc") and dataset.task != "classification":
            allowed = "val_loss or train_loss" if has_val else "train_loss"
            errors.append(f"{cfg.source}: {key}: {metric} is not recorded for regression data "
                          f"({dataset.name} has float targets); use {allowed}")
        elif metric.startswith("val_") and not has_val:
            allowed = "train_loss or train_acc" if dataset.task == "classification" else "train_loss"
            errors.append(f"{cfg.source}: {key}: {metric} needs a validation split, but data.val_fraction is 0; "
                          f"use {allowed}, or set data.val_fraction > 0")

    errors += check_augment(cfg.data.get("augment"), dataset, cfg.source)
    if errors:
        raise ConfigError(lines=errors)

    check_model_size(cfg, dataset.n_features, dataset.n_outputs)  # one line, not a MemoryError mid-build


def run_experiment(cfg, runs_dir="runs", dataset=None,
                   on_start: Optional[Callable] = None, on_epoch: Optional[Callable] = None,
                   command: str | None = None, checkpoint_seconds: float = 60.0, *,
                   run_dir: str | os.PathLike | None = None, options: "RunOptions | None" = None
                   ) -> tuple[Path, TrainResult | None, dict]:
    """Train one network, a validated config, into a new run folder; return (run folder, result, summary).

    The folder is ``runs_dir/<date_time>_<name>``, or exactly ``run_dir`` when given (it must not
    exist yet: a sweep names its runs).  ``options`` are what a sweep changes (RunOptions).  A members
    ensemble is several networks: a plan the caller chooses (nnlab.sweep.members), not this.
    """
    options = options or RunOptions()
    if (cfg.train.get("ensemble") or {}).get("members"):
        raise RunError(f"{cfg.source}: train.ensemble.members: an ensemble of members trains several networks; "
                       "run it with nnlab.sweep.members.run_members (nnlab train does)")
    if dataset is None:
        dataset = load_data(cfg)
    check_against_data(cfg, dataset)
    started = datetime.now()
    run_dir = runs.new_run_dir(runs_dir, cfg.name, started, run_dir)
    summary = runs.new_summary(cfg, dataset, started, command=command, **options.summary)
    try:
        runs.atomic_write(run_dir / "config.yaml", cfg.dump())
        runs.write_json(run_dir / "summary.json", summary)  # status running: a vanished process reads as crashed
        writers = (runs.MetricsWriter(run_dir / "metrics.csv", METRIC_COLUMNS),
                   runs.MetricsWriter(run_dir / "diagnostics.csv", DIAG_COLUMNS))
    except OSError as exc:  # a full disk or a vanished folder at the start: leave no empty run behind
        shutil.rmtree(run_dir, ignore_errors=True)
        raise RunError(f"{run_dir}: cannot write the run folder ({exc.strerror or exc}); nothing was trained") \
            from None
    return _run(cfg, dataset, run_dir, summary, writers, [], None, on_start, on_epoch, checkpoint_seconds, options)


@dataclass
class RunOptions:
    """How a run differs from a plain ``nnlab train`` (what a sweep asks for).

    ``threads``: BLAS threads (None: the run's own choice, nnlab.train.threads.run_threads);
    ``should_stop(row)``: a pruner, see nnlab.train.trainer.train; ``evaluate_test=False``
    holds the test set back; ``plots=False`` skips curves.png and diagnostics.png (a sweep
    draws its own); ``checkpoints=False`` writes no checkpoint.npz (a Dask worker's run, which
    trains in a temporary folder, is run again from the start); ``summary``: extra keys for
    summary.json (``git_commit`` replaces the one this process would read); ``test_note``: why the
    test set was held back (summary.json's ``test_held_back``).
    """

    threads: int | None = None
    should_stop: Optional[Callable] = None
    evaluate_test: bool = True
    plots: bool = True
    checkpoints: bool = True
    summary: dict = field(default_factory=dict)
    test_note: str = "the sweep looks at the test set only for the configuration it chooses"


def resume_experiment(run_dir, on_start: Optional[Callable] = None, on_epoch: Optional[Callable] = None,
                      command: str | None = None, checkpoint_seconds: float = 60.0, prepared=None,
                      options: "RunOptions | None" = None) -> tuple[Path, TrainResult | None, dict]:
    """Continue an interrupted or crashed run in place from its checkpoint.npz.

    The finished folder's metrics.csv, model.npz and summary.json are those of a run that
    never stopped (apart from timings and the ``resumed`` record).  ``options``: a sweep's run goes on
    with its sweep's (threads, pruner, test set, plots).
    """
    cfg, dataset, state, lock = prepared or prepare_resume(run_dir)
    try:
        return _resume(cfg, dataset, state, run_dir, on_start, on_epoch, command, checkpoint_seconds, options)
    finally:
        lock.release()


def _resume(cfg, dataset, state, run_dir, on_start, on_epoch, command, checkpoint_seconds, options):
    run_dir = Path(run_dir)
    meta = json.loads(str(state["meta"]))
    done = meta["epochs_done"]
    summary = runs.read_summary_json(run_dir)
    summary.update(status="running", **runs.host_info(), command=command or runs.command_line())
    for k in ("message", "finished", "wall_seconds", "plot_error", "error", "signal", "trained"):
        summary.pop(k, None)
    summary.setdefault("resumed", []).append({"at": datetime.now().isoformat(timespec="seconds"),
                                              "from_epoch": done})
    for tmp in run_dir.glob(".*.*"):  # temporary files of an atomic write the kill interrupted
        if tmp.is_file() and tmp.name.split(".")[1] in ("checkpoint", "summary", "model", "metrics", "diagnostics",
                                                         "curves", "config"):
            tmp.unlink()
    diag_rows = [r for r in runs.read_diagnostics(run_dir / "diagnostics.csv") if r["epoch"] <= done] \
        if (run_dir / "diagnostics.csv").is_file() else []
    try:
        runs.write_json(run_dir / "summary.json", summary)
        writers = (runs.MetricsWriter(run_dir / "metrics.csv", METRIC_COLUMNS, keep_epochs=done),
                   runs.MetricsWriter(run_dir / "diagnostics.csv", DIAG_COLUMNS, keep_epochs=done))
    except OSError as exc:
        raise RunError(f"{run_dir}: cannot write the run folder ({exc.strerror or exc})") from None
    return _run(cfg, dataset, run_dir, summary, writers, diag_rows, state, on_start, on_epoch, checkpoint_seconds,
                options or RunOptions())


def prepare_resume(run_dir, data_for: Optional[Callable] = None):
    """(config, dataset, checkpoint state, lock) of a run folder that can be resumed, or one RunError line.

    The run folder's lock is taken first and held (until resume_experiment ends, or ``lock.release()``):
    two processes never resume one run.  ``data_for(cfg)`` gives the data (a sweep's worker keeps them
    loaded); by default they are loaded."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise RunError(f"{run_dir}: no such run folder")
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: is a file, not a run folder")
    if runs.load_run(run_dir) is None:
        inside = sorted(c.name for c in run_dir.iterdir() if c.is_dir() and (c / "config.yaml").is_file())
        hint = f"; it holds runs: name one, e.g. {run_dir / inside[-1]}" if inside else ""
        raise RunError(f"{run_dir}: not a run folder (expected config.yaml, summary.json and checkpoint.npz){hint}")
    lock = files.FolderLock(run_dir).acquire(f"{run_dir}: being resumed by another nnlab process")
    try:
        return _prepare(run_dir, data_for) + (lock,)
    except BaseException:
        lock.release()
        raise


def _prepare(run_dir: Path, data_for) -> tuple:
    run = runs.load_run(run_dir)
    if run is None:
        inside = sorted(c.name for c in run_dir.iterdir() if c.is_dir() and (c / "config.yaml").is_file())
        hint = f"; it holds runs: name one, e.g. {run_dir / inside[-1]}" if inside else ""
        raise RunError(f"{run_dir}: not a run folder (expected config.yaml, summary.json and checkpoint.npz){hint}")
    if run.status == "running":
        raise RunError(f"{run_dir}: still running (pid {run.summary.get('pid')} on {run.summary.get('host')}); "
                       "stop it first, or wait")
    if run.status not in RESUMABLE:
        raise RunError(f"{run_dir}: the run is {run.status}; only interrupted, crashed or failed runs "
                       "can be resumed")
    ckpt = run_dir / CHECKPOINT
    if not ckpt.is_file():
        raise RunError(f"{run_dir}: no {CHECKPOINT} (the run stopped before its first epoch ended); "
                       f"train its config.yaml again")
    cfg = load_config(run_dir / "config.yaml")
    try:
        state = files.load_npz_bounded(ckpt, "a run's checkpoint", RunError)
        meta = json.loads(str(state["meta"]))
    except RunError as exc:  # not a regular file (a FIFO is never waited on), too large, not an archive
        reason = str(exc).removeprefix(f"{ckpt}: ").split("; expected")[0]
        raise RunError(f"{ckpt}: damaged checkpoint ({reason}); the run cannot be resumed") from None
    except Exception as exc:  # noqa: BLE001 - any damage to the file is the same problem for the user
        raise RunError(f"{ckpt}: damaged checkpoint ({type(exc).__name__}); the run cannot be resumed") from None
    dataset = (data_for or load_data)(cfg)
    try:  # every field the trainer will read, checked now rather than after the run folder is touched

        Trainer(cfg, dataset).load_state_dict(state)
    except (KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
        raise RunError(f"{ckpt}: damaged checkpoint ({type(exc).__name__}: {exc}); the run cannot be resumed") \
            from None
    if str(state.get("data.fingerprint", "")) != dataset.fingerprint():
        raise RunError(f"{run_dir}: the data of {cfg.data['name']} differ from those the run was trained on "
                       "(a changed data file?); a resumed run must see the same data")
    if "config.yaml" in state and str(state["config.yaml"]) != cfg.dump():  # checkpoints before it: not checked
        raise RunError(f"{run_dir}/config.yaml: changed since the run started ({_changed(str(state['config.yaml']), cfg)}"
                       "); a resumed run goes on with the config it started with: put config.yaml back, or train "
                       "the new config as a new run")
    if meta["epochs_done"] > cfg.train["epochs"]:
        raise RunError(f"{ckpt}: says {meta['epochs_done']} epochs were done, but the config has "
                       f"{cfg.train['epochs']}")
    return cfg, dataset, state


def _changed(old_text: str, cfg) -> str:
    """'train.optimizer.lr 0.01 -> 0.5': the first config key whose value is not what the run started with."""
    try:
        old = flatten(yaml.safe_load(old_text) or {})
    except yaml.YAMLError:
        return "its checkpoint holds another config"
    new = flatten(cfg.as_dict())
    for key in sorted(set(old) | set(new)):
        if old.get(key, "<absent>") != new.get(key, "<absent>"):
            return f"{key} {setting(old.get(key))} -> {setting(new.get(key))}"
    return "its text differs"


def _run(cfg, dataset, run_dir: Path, summary: dict, writers, diag_rows: list, resume, on_start, on_epoch,
         checkpoint_seconds, options: RunOptions) -> tuple[Path, TrainResult | None, dict]:
    writer, diag_writer = writers
    t0 = time.perf_counter()
    result = None
    fingerprint = np.array(dataset.fingerprint())

    def epoch_cb(row):
        writer.write(row)
        if on_epoch:
            on_epoch(row)

    def diag_cb(rows):
        diag_rows.extend(rows)
        for r in rows:
            diag_writer.write(r)

    def start_cb(info):
        summary["n_params"] = info["n_params"]
        if on_start:
            on_start({**info, "run_dir": run_dir})

    config_text = np.array(cfg.dump())

    def checkpoint_cb(state):
        state["data.fingerprint"] = fingerprint
        state["config.yaml"] = config_text
        runs.atomic_savez(run_dir / CHECKPOINT, state)

    start = 1 + (json.loads(str(resume["meta"]))["epochs_done"] if resume is not None else 0)
    earlier = summary.get("threads") or {}  # a resumed run's record goes on
    choice = None
    try:
        with run_threads(cfg, dataset, options.threads, epoch=start) as choice:
            result = train(cfg, dataset, on_epoch=epoch_cb, on_start=start_cb, on_diagnostics=diag_cb,
                           on_checkpoint=checkpoint_cb if options.checkpoints else None, resume=resume,
                           checkpoint_seconds=checkpoint_seconds,
                           should_stop=options.should_stop, evaluate_test=options.evaluate_test, threads=choice)
    except KeyboardInterrupt as exc:  # before the loop started: nothing trained
        summary.update(status="interrupted", message=f"interrupted by {getattr(exc, 'name', 'SIGINT')} "
                                                     "before training started")
        raise
    except BaseException as exc:  # a bug or resource problem: record it, then let the CLI report it
        summary.update(status="failed", message=_failure(exc))
        raise
    finally:
        if choice is not None:
            summary["threads"] = continued(earlier, choice.record())
            summary["blas_threads"] = summary["threads"]["threads"]
        with deferred():
            _finish(cfg, dataset, run_dir, summary, writers, diag_rows, result, t0, options)
    return run_dir, result, summary


def _plot(cfg, run_dir: Path, history: list, diag_rows: list, summary: dict) -> None:
    try:
        plot_curves(history, run_dir / "curves.png", title=cfg.name)
        if diag_rows:
            plot_diagnostics(diag_rows, run_dir / "diagnostics.png", title=cfg.name)
    except Exception as exc:  # noqa: BLE001 - a missing plot must not lose the run: it is said, and the run not
        summary["plot_error"] = f"{type(exc).__name__}: {exc}"  # called completed (resuming draws it again)
        _not_written(summary, "curves.png", exc)


def _not_written(summary: dict, name: str, exc: BaseException) -> None:
    """A final file that could not be written: the run is not completed (nor diverged, nor pruned), whatever
    it learned; its checkpoint stays, so --resume writes the files once there is room."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
    if summary.get("status") in ("completed", "diverged", "pruned"):
        summary["trained"] = summary["status"]
        summary["status"] = "failed"
        summary["message"] = (f"{name} not written ({reason}); the training {summary['trained']}, and "
                              f"nnlab train --resume finishes the files")
    summary.setdefault("error", f"{name} not written: {reason}")


def _failure(exc: BaseException) -> str:
    if isinstance(exc, NnlabError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "MemoryError: not enough memory for this network and batch size"
    return f"{type(exc).__name__}: {exc}"


def _finish(cfg, dataset, run_dir, summary, writers, diag_rows, result, t0, options: RunOptions) -> None:
    """The last files, whatever happened: model, plots, summary; the checkpoint goes once it is useless."""
    unwritten = []
    for w in writers:
        try:
            w.close()
        except OSError as exc:  # the last rows could not be flushed (a full disk)
            unwritten.append((w.path.name, exc))
    if result is not None:
        summary.update(_result_summary(cfg, dataset, result))
        if not options.evaluate_test:
            summary["test"] = {"loss": None, "acc": None}
            summary["test_held_back"] = options.test_note
        summary["diagnosis"] = diagnose(result.history, diag_rows, summary, cfg.as_dict())
        if result.history:
            try:
                runs.atomic_savez(run_dir / "model.npz", result.model.state())
            except OSError as exc:
                _not_written(summary, "model.npz", exc)
            if options.plots:
                _plot(cfg, run_dir, result.history, diag_rows, summary)
            else:
                summary["plots"] = "not drawn (a sweep's run: the sweep draws its own figures)"
    for name, exc in unwritten:
        _not_written(summary, name, exc)
    summary["wall_seconds"] = time.perf_counter() - t0  # of this process (a resumed run: since the resume)
    summary["finished"] = datetime.now().isoformat(timespec="seconds")
    try:
        runs.write_json(run_dir / "summary.json", summary)
    except OSError as exc:
        raise RunError(f"{run_dir}: cannot write summary.json ({exc.strerror or exc}); metrics.csv and "
                       f"{CHECKPOINT} keep what was trained") from None
    if summary["status"] in ("completed", "diverged", "pruned"):
        try:
            os.unlink(run_dir / CHECKPOINT)  # finished: model.npz and the curves say it all
        except OSError:
            pass


def _result_summary(cfg, dataset, result: TrainResult) -> dict:
    best = None
    if result.best is not None:
        best = {"metric": monitor_metric(cfg, dataset), **result.best}
    out = {
        "status": result.status,
        "message": result.message,
        "epochs": len(result.history),
        "best": best,
        "final": result.final,
        "test": result.test,
        "train_seconds": result.train_seconds,
        "samples_per_second": result.samples_per_second,
        "stopped_early": result.stopped_early,
        "restored_epoch": result.restored_epoch,
    }
    if result.signal:
        out["signal"] = result.signal
    if result.ensemble is not None:
        out["ensemble"] = result.ensemble
    return out
