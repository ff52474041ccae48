"""Ensembles of runs: ``train.combine: {members: n}`` and ``nnlab ensemble RUN...`` (note 002).

A members ensemble is one run folder::

    runs/<stamp>_<name>/
      config.yaml        the config (with train.combine)
      members/seed<S>/   each member's ordinary run folder (seeds seed, seed+1, ...)
      metrics.csv        the members' mean per epoch (what compare and report draw)
      curves.png         the members' curves overlaid
      summary.json       each member's and the ensemble's validation and test loss and accuracy;
                         its test result and best are the ensemble's

The members train in parallel in the sweep's worker processes (one BLAS thread each) when the
machine has more than one core.  ``combine_runs`` scores finished runs on the same data as an
ensemble: the average of their softmax outputs (nnlab.train.combine).
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path

from nnlab import files, runs
from nnlab.errors import RunError


def member_configs(cfg) -> list:
    from nnlab.config.schema import validate

    out = []
    for k in range(cfg.train["ensemble"]["members"]):
        d = json.loads(json.dumps(cfg.as_dict()))
        d["seed"], d["name"] = cfg.seed + k, f"{cfg.name}-m{k}"
        d["train"]["ensemble"] = None
        out.append(validate(d, source=cfg.source))
    return out


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def run_members(cfg, runs_dir, dataset, on_start=None, on_epoch=None, jobs: int | None = None, run_dir=None,
                evaluate_test: bool = True):
    """Train the members of ``cfg`` (train.combine.members) and score their ensemble; (run folder, summary).

    ``run_dir``: this exact new folder instead of a timestamped one in ``runs_dir`` (a sweep's run);
    ``evaluate_test=False``: no member and not the ensemble looks at the test set (a sweep's choice).
    """
    from nnlab.experiment import _data_summary

    members = member_configs(cfg)
    started = datetime.now()
    run_dir = runs.new_run_dir(runs_dir, cfg.name, started, run_dir)
    summary = {"name": cfg.name, "status": "running", "config_source": cfg.source,
               "started": started.isoformat(timespec="seconds"), **runs.host_info(), "seed": cfg.seed,
               "command": runs.command_line(), "versions": runs.versions(), "git_commit": runs.git_commit(),
               "data": _data_summary(dataset)}
    runs.atomic_write(run_dir / "config.yaml", cfg.dump())
    runs.write_json(run_dir / "summary.json", summary)
    t0 = time.perf_counter()
    tasks = [{"config": m.as_dict(), "run_dir": str(run_dir / "members" / f"seed{m.seed}"), "metric": "val_loss",
              "worst": 0.0, "evaluate_test": evaluate_test, "plots": False, "git_commit": summary["git_commit"],
              "summary": {"ensemble_member": {"of": run_dir.name, "index": k}},
              "command": f"nnlab train (member {k} of {run_dir})"} for k, m in enumerate(members)]
    if on_start:
        on_start({"epochs": len(tasks), "unit": "members", "n_params": None, "run_dir": run_dir})
    outcomes: dict = {}
    import multiprocessing

    if multiprocessing.current_process().daemon:  # inside a sweep's worker: no children of its own
        jobs = 1
    try:
        _train(tasks, dataset, jobs or min(len(tasks), _cores()), outcomes, on_epoch)
    except KeyboardInterrupt as exc:
        summary.update(status="interrupted", signal=getattr(exc, "name", "SIGINT"),
                       message=f"interrupted after {len(outcomes)} of {len(tasks)} members; train the config again")
        runs.write_json(run_dir / "summary.json", summary)
        raise
    dirs = [Path(t["run_dir"]) for t in tasks]
    statuses = [outcomes.get(k, {}).get("status", "failed") for k in range(len(tasks))]
    summary.update(_ensemble_summary(cfg, dirs, dataset if evaluate_test else _without_test(dataset), statuses))
    summary["wall_seconds"] = time.perf_counter() - t0
    summary["finished"] = datetime.now().isoformat(timespec="seconds")
    _write_curves(cfg, run_dir, dirs, summary)
    runs.write_json(run_dir / "summary.json", summary)
    return run_dir, summary


def _train(tasks: list, dataset, jobs: int, outcomes: dict, on_epoch) -> None:
    from nnlab.sweep.trial import run_task

    def done(k, out):
        outcomes[k] = out
        if on_epoch:
            final = out.get("final") or {}
            on_epoch({"epoch": len(outcomes), "lr": None, **{m: final.get(m) for m in (
                "train_loss", "train_acc", "val_loss", "val_acc")}})

    if jobs <= 1:
        for k, task in enumerate(tasks):
            done(k, run_task(task, dataset))
        return
    from nnlab.sweep.pool import LocalPool
    from nnlab.sweep.trial import data_key_of, remember

    from nnlab.config.schema import validate

    remember({data_key_of(validate(dict(tasks[0]["config"]))): dataset})
    pool = LocalPool(jobs, threads=1)
    try:
        queue = list(enumerate(tasks))
        running = 0
        while queue or running:
            while queue and pool.free():
                k, task = queue.pop(0)
                pool.submit(k, task)
                running += 1
            for k, out in pool.wait(0.25):
                running -= 1
                done(k, out)
    except KeyboardInterrupt:
        for k, out in pool.stop():
            outcomes[k] = out
        raise
    finally:
        pool.close()


def _ensemble_summary(cfg, dirs: list[Path], dataset, statuses: list[str]) -> dict:
    finished = [d for d, s in zip(dirs, statuses) if s == "completed"]
    out = {"epochs": cfg.train["epochs"], "ensemble": {"members": len(dirs), "runs": [str(d.relative_to(
        d.parent.parent)) for d in dirs], "statuses": statuses}}
    bad = [s for s in statuses if s != "completed"]
    if not finished:
        out.update(status="failed", message=f"no member completed ({', '.join(sorted(set(statuses)))})")
        return out
    sc = combine_runs(finished, dataset)
    out["ensemble"].update(sc)
    e = sc["ensemble"]
    out["status"] = "completed" if not bad else ("diverged" if "diverged" in bad else "failed")
    out["message"] = (f"{len(finished)} of {len(dirs)} members completed; the ensemble averages those"
                      if bad else "")
    out["test"] = {"loss": e.get("test_loss"), "acc": e.get("test_acc")}
    metric = "val_acc" if e.get("val_acc") is not None else "val_loss"
    if e.get(metric) is not None:
        out["best"] = {"metric": metric, metric: e[metric], "epoch": cfg.train["epochs"]}
    rows = [runs.read_metrics(d / "metrics.csv") for d in finished]
    n = min(len(r) for r in rows)
    out["final"] = _mean_row([r[n - 1] for r in rows]) if n else None
    out["train_seconds"] = sum(json.loads(files.read_text_bounded(d / "summary.json", files.CONFIG_MAX_BYTES,
                                                                  "a run's summary.json")).get("train_seconds") or 0
                               for d in finished)
    return out


def _without_test(dataset):
    from dataclasses import replace

    return replace(dataset, x_test=None, y_test=None)


def _mean_row(rows: list[dict]) -> dict:
    out = {}
    for k in rows[0]:
        vals = [r.get(k) for r in rows]
        out[k] = None if any(v is None for v in vals) else sum(vals) / len(vals)
    return out


def _write_curves(cfg, run_dir: Path, dirs: list[Path], summary: dict) -> None:
    """metrics.csv: the members' mean per epoch; curves.png: the members overlaid."""
    from nnlab.metrics import METRIC_COLUMNS

    curves = [(d.name, runs.read_metrics(d / "metrics.csv")) for d in dirs if (d / "metrics.csv").is_file()]
    curves = [(name, rows) for name, rows in curves if rows]
    if not curves:
        return
    n = min(len(rows) for _, rows in curves)
    w = runs.MetricsWriter(run_dir / "metrics.csv", METRIC_COLUMNS)
    for e in range(n):
        w.write(_mean_row([rows[e] for _, rows in curves]))
    w.close()
    try:
        from nnlab.look.figures import plot_compare

        plot_compare(curves, run_dir / "curves.png", title=f"{cfg.name}: {len(curves)} members")
    except Exception as exc:  # noqa: BLE001 - a missing plot must not lose the run
        summary["plot_error"] = f"{type(exc).__name__}: {exc}"


# ------------------------------------------------------------------ combining finished runs


def combine_runs(run_dirs: list[Path], dataset=None) -> dict:
    """Score finished runs (their model.npz) as an ensemble on their common data: each member's and the
    ensemble's validation and test loss/accuracy, and the gain over the mean and the best member."""
    import numpy as np

    from nnlab.config import load_config
    from nnlab.train.combine import combine
    from nnlab.train.trainer import build

    cfgs = [load_config(Path(d) / "config.yaml") for d in run_dirs]
    if dataset is None:
        from nnlab.experiment import load_data

        dataset = load_data(cfgs[0])
    outs = {"val": [], "test": []}
    for d, cfg in zip(run_dirs, cfgs):
        model, _, _ = build(cfg, dataset)
        path = Path(d) / "model.npz"
        try:
            model.load_state(files.load_npz_bounded(path, "a run's model.npz", RunError))
        except (KeyError, ValueError, IndexError) as exc:  # weights of another network, or of none
            what = f"no array {exc}" if isinstance(exc, KeyError) else str(exc)
            raise RunError(f"{path}: does not hold the weights of its config.yaml's network ({what}); "
                           "the run folder looks damaged") from None
        for name, x in (("val", dataset.x_val), ("test", dataset.x_test)):
            if x is not None and len(x):
                outs[name].append(model.predict(x))
    members = [{"run": str(d)} for d in run_dirs]
    ens = {}
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for name, y in (("val", dataset.y_val), ("test", dataset.y_test)):
            if not outs[name]:
                continue
            ens[f"{name}_loss"], ens[f"{name}_acc"] = combine(outs[name], y, dataset.task).values()
            for m, o in zip(members, outs[name]):
                m[f"{name}_loss"], m[f"{name}_acc"] = combine([o], y, dataset.task).values()
    gain = {}
    for key in ("val_acc", "test_acc"):
        vals = [m.get(key) for m in members]
        if ens.get(key) is not None and all(v is not None for v in vals):
            gain[key] = {"over_mean_member": ens[key] - sum(vals) / len(vals), "over_best_member": ens[key] - max(vals)}
    return {"members": members, "ensemble": ens, "gain": gain}


def check_same_data(run_list) -> None:
    """Runs can form an ensemble only on the same data: same data spec and dtype, same features and classes."""
    first = run_list[0]
    for r in run_list[1:]:
        for what, a, b in (("data spec", (first.config or {}).get("data"), (r.config or {}).get("data")),
                           ("dtype", (first.config or {}).get("dtype"), (r.config or {}).get("dtype")),
                           ("features", first.summary.get("data", {}).get("n_features"),
                            r.summary.get("data", {}).get("n_features")),
                           ("classes", first.summary.get("data", {}).get("n_classes"),
                            r.summary.get("data", {}).get("n_classes"))):
            if a != b:
                raise RunError(f"{r.path}: its {what} differs from {first.path}'s ({_short(b)} vs {_short(a)}); "
                               "an ensemble averages models trained on the same data")


def _short(v) -> str:
    text = json.dumps(v, default=str, separators=(",", ":"))
    return text if len(text) <= 60 else text[:57] + "..."
