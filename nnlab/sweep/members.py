"""A members ensemble (``train.ensemble: {members: n}``, note 002): n independent networks, the config's
seed, seed + 1, ..., whose averaged predictions are the ensemble's.

It is a plan, not one run: ``run_members`` makes the ensemble's run folder (nnlab.ensemble describes it)
and trains the members as a sweep of one point over their seeds, in ``<run folder>/members/``, through
the one sweep lifecycle (nnlab.sweep.lifecycle): the same lock, the same records, the same pool, and the
same resume (``resume_members``: finished members are kept, a stopped one continues from its checkpoint).
Then the finished members are scored together (nnlab.ensemble).  The caller chooses this plan (``nnlab
train`` for such a config; nnlab.sweep.work for a sweep's trial that is one), and gives it the options a
single run takes: threads, the sweep's pruner and medians, whether the test set is seen, summary tags.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

from nnlab import runs
from nnlab.config import load_config
from nnlab.config.schema import validate
from nnlab.ensemble import MEMBERS, ensemble_summary, member_runs, write_mean_curves
from nnlab.errors import NnlabError, RunError
from nnlab.experiment import RESUMABLE, check_against_data, load_data
from nnlab.sweep.lifecycle import Datasets, SweepView, run_sweep
from nnlab.sweep.pool import LocalPool, SerialPool
from nnlab.sweep.record import run_name
from nnlab.sweep.spec import build_spec
from nnlab.sweep.task import data_key_of, dataset_for, failed, options_for, remember, run_value, train_task, warm_up
from nnlab.text import plural
from nnlab.train.threads import cores


def is_members(config: dict) -> bool:
    """Whether a resolved config mapping is a members ensemble."""
    return bool((((config or {}).get("train") or {}).get("ensemble") or {}).get("members"))


def members_spec(cfg, of: str, *, evaluate_test: bool = True, tags: dict | None = None, prune: dict | None = None):
    """The sweep of one members ensemble: one point (the config without train.ensemble), its members' seeds,
    every run tested or none (``evaluate_test``), each run tagged with ``tags``, the ensemble's folder name
    ``of`` and its member index; ``prune``: a sweep's pruner and its medians (``reference``), which every
    member answers to."""
    base = json.loads(json.dumps(cfg.as_dict()))
    base["train"]["ensemble"] = None
    k = cfg.train["ensemble"]["members"]
    settings = {"name": cfg.name, "method": "grid", "metric": "val_loss" if cfg.data.get("val_fraction") else
                "train_loss", "seeds": [cfg.seed + i for i in range(k)], "role": "members",
                "tags": {**(tags or {}), "ensemble_member": {"of": of}}}
    if evaluate_test:
        settings["test"] = "all"
    spec = build_spec(settings, base, [], cfg.source)
    spec.prune = prune
    return spec


class _Members(SweepView):
    """The plan's progress for ``on_epoch``: one row per finished member (its last epoch's metrics)."""

    def __init__(self, on_epoch, note=None):
        self.on_epoch, self.say, self.done = on_epoch, note, 0

    def note(self, text: str) -> None:
        if self.say:
            self.say(text)

    def finished(self, sweep, trial: int, seed: int) -> None:
        self.done += 1
        if not self.on_epoch:
            return
        final = runs.read_summary_json(sweep.runs_dir / run_name(trial, seed)).get("final") or {}
        self.on_epoch({"epoch": self.done, "lr": None, **{m: final.get(m) for m in (
            "train_loss", "train_acc", "val_loss", "val_acc")}})


def _pool(jobs: int, threads: int | None, serial: bool, config: dict):
    def make(datasets):
        if serial or jobs <= 1:
            return SerialPool(train_task, threads)
        remember(datasets.loaded)
        from functools import partial

        return LocalPool(jobs, train_task, threads=1, warm=partial(warm_up, config))
    return make


def _train(cfg, dataset, run_dir: Path, summary: dict, *, resume: bool, jobs: int | None, threads, serial: bool,
           evaluate_test: bool, tags: dict | None, prune: dict | None, on_epoch, note) -> dict:
    """Train the members (or go on with them) and score them: the ensemble's summary.json, written."""
    k = cfg.train["ensemble"]["members"]
    spec = members_spec(cfg, run_dir.name, evaluate_test=evaluate_test, tags=tags, prune=prune)
    datasets = Datasets()
    datasets.loaded[data_key_of(cfg)] = dataset
    folder = run_dir / MEMBERS
    t0 = time.perf_counter()
    view = _Members(on_epoch, note)
    try:
        sweep, _ = run_sweep(spec, _pool(jobs or min(k, cores()), threads, serial, spec.base), folder=folder,
                             resume=resume, view=view, figures=False, prepared=(datasets, dataset.fingerprint()))
    except KeyboardInterrupt as exc:
        done = sum(1 for d in member_runs(run_dir))
        summary.update(status="interrupted", signal=getattr(exc, "name", "SIGINT"),
                       message=f"interrupted after {done} of {plural(k, 'member')} finished; "
                               f"nnlab train --resume {run_dir} continues it")
        runs.write_json(run_dir / "summary.json", summary)
        raise
    trial = sweep.trials[0]
    dirs = [sweep.runs_dir / trial.run(s).name for s in spec.seeds]
    summary.update(ensemble_summary(cfg.train["epochs"], dirs, dataset if evaluate_test else dataset.without_test(),
                                    trial.statuses))
    summary["wall_seconds"] = summary.get("wall_seconds", 0.0) + time.perf_counter() - t0
    summary["finished"] = datetime.now().isoformat(timespec="seconds")
    write_mean_curves(cfg.name, run_dir, dirs, summary)
    runs.write_json(run_dir / "summary.json", summary)
    return summary


def run_members(cfg, runs_dir="runs", dataset=None, *, run_dir=None, jobs: int | None = None,
                threads: int | None = None, serial: bool = False, evaluate_test: bool = True,
                tags: dict | None = None, prune: dict | None = None, command: str | None = None,
                on_start=None, on_epoch=None, note=None) -> tuple[Path, dict]:
    """Train the members of ``cfg`` and score their ensemble into a new run folder; (run folder, summary).

    ``run_dir``: this exact new folder instead of a timestamped one in ``runs_dir`` (a sweep's run);
    ``jobs``: members trained at once (default: the cores, one BLAS thread each; ``serial``: one after another
    in this process, with ``threads``); ``evaluate_test=False``: no member and not the ensemble looks at the
    test set; ``tags``: more summary.json keys (a sweep's); ``prune``: a sweep's pruner and its medians.
    """
    dataset = dataset if dataset is not None else load_data(cfg)
    check_against_data(cfg, dataset)
    started = datetime.now()
    run_dir = runs.new_run_dir(runs_dir, cfg.name, started, run_dir)
    summary = runs.new_summary(cfg, dataset, started, command=command, **(tags or {}))
    try:
        runs.atomic_write(run_dir / "config.yaml", cfg.dump())
        runs.write_json(run_dir / "summary.json", summary)
    except OSError as exc:
        raise RunError(f"{run_dir}: cannot write the run folder ({exc.strerror or exc}); nothing was trained") \
            from None
    if on_start:
        on_start({"epochs": cfg.train["ensemble"]["members"], "unit": "members", "n_params": None,
                  "run_dir": run_dir})
    summary = _train(cfg, dataset, run_dir, summary, resume=False, jobs=jobs, threads=threads, serial=serial,
                     evaluate_test=evaluate_test, tags=tags, prune=prune, on_epoch=on_epoch, note=note)
    return run_dir, summary


def resume_members(run_dir, *, jobs: int | None = None, threads: int | None = None, serial: bool = False,
                   evaluate_test: bool | None = None, prune: dict | None = None, command: str | None = None,
                   on_start=None, on_epoch=None, note=None) -> tuple[Path, dict]:
    """Go on with a stopped members ensemble in place: finished members are kept, a stopped one continues from
    its checkpoint, the rest train; then the ensemble is scored.  One RunError line when it cannot."""
    run_dir = Path(run_dir)
    run = runs.load_run(run_dir)
    if run is None or not (run_dir / "config.yaml").is_file():
        raise RunError(f"{run_dir}: not a run folder (expected config.yaml and summary.json)")
    if run.status not in RESUMABLE:
        raise RunError(f"{run_dir}: the run is {run.status}; only interrupted, crashed or failed runs can be resumed")
    cfg = load_config(run_dir / "config.yaml")
    dataset = load_data(cfg)
    summary = runs.read_summary_json(run_dir)
    if summary.get("data", {}).get("n_train") not in (None, len(dataset.x_train)):
        raise RunError(f"{run_dir}: the data of {cfg.data['name']} differ from those the ensemble was trained on")
    tags = {k: summary[k] for k in ("sweep",) if k in summary}
    held_back = evaluate_test is False or (evaluate_test is None and "test_held_back" in summary)
    summary.update(status="running", **runs.host_info(), command=command or runs.command_line())
    for key in ("message", "finished", "error", "signal"):
        summary.pop(key, None)
    summary.setdefault("resumed", []).append({"at": datetime.now().isoformat(timespec="seconds"),
                                              "members_done": len(member_runs(run_dir))})
    runs.write_json(run_dir / "summary.json", summary)
    if on_start:
        on_start({"epochs": cfg.train["ensemble"]["members"], "unit": "members", "n_params": None, "run_dir": run_dir,
                  "start_epoch": len(member_runs(run_dir))})
    resume = (run_dir / MEMBERS / "sweep.yaml").is_file()
    summary = _train(cfg, dataset, run_dir, summary, resume=resume, jobs=jobs, threads=threads, serial=serial,
                     evaluate_test=not held_back, tags=tags, prune=prune, on_epoch=on_epoch, note=note)
    return run_dir, summary


def members_task(task: dict, dataset=None) -> dict:
    """A sweep's run whose config is a members ensemble (in a worker: its members one after another); the
    outcome as nnlab.sweep.task.train_task gives one, its value the ensemble's."""
    metric = task["metric"]
    prune = {**task["prune"], "reference": task.get("reference") or []} if task.get("prune") else None
    options = options_for(task)
    try:
        if task.get("resume"):
            run_dir, summary = resume_members(task["run_dir"], serial=True, threads=task.get("threads"), prune=prune,
                                              evaluate_test=task.get("evaluate_test", False),
                                              command=task.get("command"))
        else:
            cfg = validate(task["config"], source=task["run_dir"])
            data = dataset if dataset is not None else dataset_for(cfg)
            run_dir, summary = run_members(cfg, dataset=data, run_dir=task["run_dir"], serial=True,
                                           threads=task.get("threads"), evaluate_test=options.evaluate_test,
                                           tags=options.summary, prune=prune, command=task.get("command"))
    except KeyboardInterrupt:
        return failed("stopped with the sweep", "interrupted")
    except NnlabError as exc:
        return failed(str(exc).splitlines()[0])
    except Exception as exc:  # noqa: BLE001 - a failed trial is recorded and the sweep goes on
        return failed(f"{type(exc).__name__}: {exc}")
    rows = runs.read_metrics(Path(run_dir) / "metrics.csv") if (Path(run_dir) / "metrics.csv").is_file() else []
    ens = (summary.get("ensemble") or {}).get("ensemble") or {}
    value = ens.get(metric) if metric in ens else run_value(summary["status"], rows, None, metric, task["worst"])
    return {"status": summary["status"], "message": summary.get("message") or "", "epochs": len(rows),
            "seconds": summary.get("train_seconds"), "curve": [r.get(metric) for r in rows], "value": value,
            "final": summary.get("final"), "test": summary.get("test")}
