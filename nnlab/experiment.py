"""One experiment end to end: data -> run folder -> train -> files.

``run_experiment`` is what ``nnlab train`` does for each config, without any
printing: progress goes to callbacks.  Order matters for safety: the data are
loaded (and may fail) before the run folder exists; config.yaml is written
first; summary.json is written at once with status ``running`` (and the pid and
host, so a vanished process reads as crashed); metrics.csv and diagnostics.csv
grow row by row; model.npz and the PNGs follow; summary.json is rewritten last,
atomically, with the outcome and the diagnosis, whatever the outcome.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Callable, Optional

from nnlab import runs
from nnlab.runs.diagnosis import diagnose
from nnlab.train.diagnostics import COLUMNS as DIAG_COLUMNS
from nnlab.train.trainer import METRIC_COLUMNS, TrainResult, monitor_metric, train


def load_data(cfg):
    from nnlab.data import load_dataset

    return load_dataset(cfg.data, dtype=cfg.dtype)


def run_experiment(cfg, runs_dir="runs", dataset=None,
                   on_start: Optional[Callable] = None, on_epoch: Optional[Callable] = None,
                   command: str | None = None) -> tuple[Path, TrainResult | None, dict]:
    """Train one validated config; return (run folder, result, summary)."""
    if dataset is None:
        dataset = load_data(cfg)
    started = datetime.now()
    run_dir = runs.create_run_dir(runs_dir, cfg.name, started)
    runs.atomic_write(run_dir / "config.yaml", cfg.dump())
    writer = runs.MetricsWriter(run_dir / "metrics.csv", METRIC_COLUMNS)
    diag_writer = runs.MetricsWriter(run_dir / "diagnostics.csv", DIAG_COLUMNS)
    diag_rows: list[dict] = []
    summary = {
        "name": cfg.name, "status": "running", "config_source": cfg.source,
        "started": started.isoformat(timespec="seconds"), **runs.host_info(),
        "seed": cfg.seed, "command": command or runs.command_line(),
        "versions": runs.versions(), "git_commit": runs.git_commit(),
        "data": {"name": dataset.name, "task": dataset.task, "n_train": len(dataset.x_train),
                 "n_val": 0 if dataset.x_val is None else len(dataset.x_val), "n_test": len(dataset.x_test),
                 "n_features": dataset.n_features, "n_classes": dataset.n_classes},
    }
    runs.write_json(run_dir / "summary.json", summary)  # status running: a vanished process reads as crashed
    t0 = time.perf_counter()
    result = None

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

    try:
        result = train(cfg, dataset, on_epoch=epoch_cb, on_start=start_cb, on_diagnostics=diag_cb)
    except Exception as exc:  # a bug or resource problem: record it, then let the CLI report it
        summary.update(status="failed", message=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        writer.close()
        diag_writer.close()
        if result is not None:
            summary.update(_result_summary(cfg, dataset, result))
            summary["diagnosis"] = diagnose(result.history, diag_rows, summary, cfg.as_dict())
            if result.history:
                runs.atomic_savez(run_dir / "model.npz", result.model.state())
                try:
                    from nnlab.look.figures import plot_curves, plot_diagnostics

                    plot_curves(result.history, run_dir / "curves.png", title=cfg.name)
                    if diag_rows:
                        plot_diagnostics(diag_rows, run_dir / "diagnostics.png", title=cfg.name)
                except Exception as exc:  # a missing plot must not lose the run
                    summary["plot_error"] = f"{type(exc).__name__}: {exc}"
        summary["wall_seconds"] = time.perf_counter() - t0
        summary["finished"] = datetime.now().isoformat(timespec="seconds")
        runs.write_json(run_dir / "summary.json", summary)
    return run_dir, result, summary


def _result_summary(cfg, dataset, result: TrainResult) -> dict:
    best = None
    if result.best is not None:
        best = {"metric": monitor_metric(cfg, dataset), **result.best}
    return {
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
