"""What ``nnlab export`` exports: the runs and sweeps among the folders it is given, read back as plain data.

A sweep folder (sweep.yaml and trials.csv) is exported as a sweep: its runs, each with the trial it belongs
to and the values of the searched params.  Any other folder is a run folder, or a folder of runs and sweeps
(nnlab.runs.find_runs reads them).  Each item has a key that stays the same however often it is exported
(its folder's name, its start time and its config's name), and a fingerprint of what it holds (its files'
contents), so an exporter can tell a run it already exported, unchanged, from one that changed since.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from nnlab import files
from nnlab.errors import RunError
from nnlab.runs import Run, find_runs, load_run
from nnlab.runs.compare import flatten
from nnlab.sweep.record import is_sweep_folder, read_sweep
from nnlab.text import setting

RUN_ARTIFACTS = ("config.yaml", "summary.json", "metrics.csv", "curves.png", "diagnostics.png", "model.npz")
SWEEP_ARTIFACTS = ("sweep.yaml", "trials.csv", "summary.json", "best.yaml", "params.png", "progress.png",
                   "best_curves.png")
# metrics.csv column -> the name a dashboard shows (TensorBoard groups by the part before '/')
SCALARS = {"train_loss": "loss/train", "val_loss": "loss/validation", "train_acc": "accuracy/train",
           "val_acc": "accuracy/validation", "lr": "learning_rate"}


@dataclass
class RunItem:
    """One run folder, as an exporter needs it."""

    run: Run
    key: str  # the same on every export of this run
    fingerprint: str  # changes when the folder's files do
    params: dict  # name -> a value a dashboard takes (bool, int, float or str): the flattened config
    trial: int | None = None  # a sweep's run: its trial and seed
    seed: int | None = None
    searched: dict = field(default_factory=dict)  # a sweep's run: the searched params' values

    @property
    def name(self) -> str:
        return self.run.path.name

    @property
    def started(self) -> float:
        return timestamp(self.run.summary.get("started"), self.run.path)

    @property
    def finished(self) -> float | None:
        text = self.run.summary.get("finished")
        return timestamp(text, self.run.path) if text else None

    def rows(self) -> list[dict]:
        """metrics.csv's rows, each with the wall time its epoch ended (the start plus the epochs' seconds)."""
        t = self.started
        out = []
        for r in self.run.metrics:
            t += r.get("seconds") or 0.0
            out.append({**r, "wall_time": t})
        return out

    def scalars(self) -> list[tuple[int, float, dict]]:
        """(epoch, wall time, {dashboard name: value}) per epoch: losses, accuracies and the learning rate; empty
        and non-finite values left out."""
        out = []
        for r in self.rows():
            values = {name: float(r[col]) for col, name in SCALARS.items()
                      if r.get(col) is not None and math.isfinite(r[col])}
            out.append((r["epoch"], r["wall_time"], values))
        return out

    def summary_metrics(self) -> dict:
        """The summary's numbers: the test result, the best epoch's metric, the training time."""
        s = self.run.summary
        out = {}
        test = s.get("test") or {}
        for k in ("acc", "loss"):
            if isinstance(test.get(k), (int, float)) and math.isfinite(test[k]):
                out[f"test_{k}"] = float(test[k])
        best = s.get("best") or {}
        metric = best.get("metric")
        if metric and isinstance(best.get(metric), (int, float)) and math.isfinite(best[metric]):
            out[f"best_{metric}"] = float(best[metric])
            out["best_epoch"] = float(best.get("epoch") or 0)
        if isinstance(s.get("train_seconds"), (int, float)):
            out["train_seconds"] = float(s["train_seconds"])
        return out


@dataclass
class SweepItem:
    """One sweep folder: its spec, summary, trials and runs."""

    path: Path
    name: str
    key: str
    fingerprint: str
    summary: dict
    settings: dict  # method, metric, seeds, trials, and each searched param's spec, as dashboard values
    searched: list  # the searched params' names
    runs: list  # RunItem, one per run of the sweep (in trial and seed order)
    metric: str
    best: dict | None

    @property
    def started(self) -> float:
        return timestamp(self.summary.get("started"), self.path)


def timestamp(text, path: Path) -> float:
    """Seconds since the epoch of an ISO time from a summary.json (the folder's time when missing)."""
    if isinstance(text, str):
        try:
            return datetime.fromisoformat(text).timestamp()
        except ValueError:
            pass
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def hparam(value):
    """A value as a dashboard's parameter: bool, int, float or str (lists, mappings and None as nnlab writes them)."""
    if isinstance(value, bool) or (isinstance(value, (int, float)) and math.isfinite(value)):
        return value
    if isinstance(value, str):
        return value
    return setting(value)


def _fingerprint(folder: Path, names) -> str:
    h = hashlib.sha256()
    for name in names:
        p = folder / name
        if p.is_file() and not p.is_symlink():
            h.update(name.encode() + b"\0")
            with files.open_regular_file(p, files.data_max_bytes(), f"a {name}", RunError) as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()[:32]


def run_item(run: Run, trial: int | None = None, seed: int | None = None, searched: dict | None = None) -> RunItem:
    key_text = f"{run.path.name}\0{run.summary.get('started')}\0{(run.config or {}).get('name', run.name)}"
    params = {k: hparam(v) for k, v in flatten(run.config or {}).items() if k != "name"}
    return RunItem(run=run, key=hashlib.sha256(key_text.encode()).hexdigest()[:32],
                   fingerprint=_fingerprint(run.path, RUN_ARTIFACTS), params=params, trial=trial, seed=seed,
                   searched={k: hparam(v) for k, v in (searched or {}).items()})


def sweep_item(folder: Path) -> SweepItem:
    sw = read_sweep(folder)
    runs = []
    for t in sw.trials:
        for r in t.records:
            run = load_run(folder / "runs" / r.name) if (folder / "runs" / r.name).is_dir() else None
            if run is not None and run.metrics:
                runs.append(run_item(run, t.number, r.seed, t.params))
    settings = {"method": sw.method or "", "metric": sw.metric, "seeds": setting(sw.seeds),
                "trials": len(sw.trials)}
    for name, spec in sw.params.items():
        settings[f"params.{name}"] = setting(spec.get("choices", spec) if isinstance(spec, dict) else spec)
    b = sw.best
    best = {"trial": b.number, "params": dict(b.params), "value": b.value} if b is not None else None
    key_text = f"{folder.name}\0{sw.summary.get('started')}\0{sw.name}"
    return SweepItem(path=folder, name=sw.name, key=hashlib.sha256(key_text.encode()).hexdigest()[:32],
                     fingerprint=_fingerprint(folder, SWEEP_ARTIFACTS), summary=sw.summary, settings=settings,
                     searched=list(sw.params), runs=runs, metric=sw.metric, best=best)


def collect(paths) -> tuple[list, list[str]]:
    """The runs and sweeps among ``paths`` (run folders, sweep folders, folders of them): (items, warnings)."""
    items, warnings, plain = [], [], []
    for p in map(Path, paths):
        if is_sweep_folder(p):
            items.append(sweep_item(p))
            continue
        if p.is_dir() and load_run(p) is None:
            children = sorted(c for c in p.iterdir() if c.is_dir())
            sweeps = [c for c in children if is_sweep_folder(c)]
            items.extend(sweep_item(c) for c in sweeps)
            rest = [c for c in children if c not in sweeps]
            if sweeps and not rest:
                continue
            if sweeps:
                plain.extend(rest)
                continue
        plain.append(p)
    if plain:
        found, warns = find_runs(plain)
        warnings.extend(warns)
        items.extend(run_item(r) for r in found if r.metrics)
        warnings.extend(f"{r.path}: no epochs recorded yet, skipped" for r in found if not r.metrics)
    return items, warnings
