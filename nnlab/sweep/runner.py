"""A sweep from start to end: the folder, the plan, the runs, the records, the choice.

The sweep folder ``<runs-dir>/<YYYY-MM-DD_HH-MM-SS>_<name>/`` holds:

- ``sweep.yaml``: the resolved spec (params, search, the whole base config): what --resume reads;
- ``trials.csv``: one row per run (trial x seed), rewritten atomically after every event;
- ``runs/t<trial>-seed<seed>/``: each run's ordinary run folder;
- ``summary.json``: counts, the best params with their metric as mean ± std over the seeds,
  and the test result of the best configuration only (no other run looks at the test set);
- ``best.yaml``: the winning config, ready for ``nnlab train``;
- ``params.png``, ``progress.png``, ``best_curves.png``; ``optuna.journal`` for tpe.

A run's outcome lives in its run folder; trials.csv is rebuilt from the folders on resume.
A trial's value is the mean over its seeds of each run's metric at the epoch whose weights
the run kept (its restored best epoch, else its last); a diverged run scores the worst value
(0 for an accuracy, +inf for a loss); a pruned or failed run makes its trial pruned or failed,
never the best.
"""

from __future__ import annotations

import csv
import re
import io
import json
import math
import os
import shutil
import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from nnlab import files
from nnlab.errors import RunError
from nnlab.files import atomic_write
from nnlab.sweep.spec import SweepSpec, value_text

FINISHED = ("completed", "diverged", "pruned", "failed")  # a run with one of these is never run again
LOCK = ".lock"


@dataclass
class RunRecord:
    trial: int
    seed: int
    status: str = "queued"  # queued | running | completed | diverged | pruned | failed | interrupted
    value: float | None = None
    epochs: int | None = None
    seconds: float | None = None
    message: str = ""
    curve: list = field(default_factory=list)
    started: float | None = None  # time.time() when it was sent off

    @property
    def name(self) -> str:
        return run_name(self.trial, self.seed)


def run_name(trial: int, seed: int) -> str:
    return f"t{trial:03d}-seed{seed}"


@dataclass
class Trial:
    number: int
    values: dict
    runs: dict  # seed -> RunRecord

    @property
    def status(self) -> str:
        st = [r.status for r in self.runs.values()]
        for s in ("failed", "pruned", "running", "interrupted", "queued"):
            if s in st:
                return s
        return "diverged" if "diverged" in st else "completed"

    @property
    def done(self) -> bool:
        return all(r.status in FINISHED for r in self.runs.values())

    def scores(self) -> list[float]:
        return [r.value for r in self.runs.values() if r.status in ("completed", "diverged") and r.value is not None]

    @property
    def value(self) -> float | None:
        v = self.scores()
        return sum(v) / len(v) if v else None

    @property
    def std(self) -> float | None:
        v = self.scores()
        if len(v) < 2:
            return 0.0 if v else None
        m = sum(v) / len(v)
        if any(math.isinf(x) for x in v):
            return math.nan
        return math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))


class Sweep:
    """The state of one sweep folder and the loop that fills it."""

    def __init__(self, spec: SweepSpec, folder: Path, sampler, datasets, data_key: str):
        self.spec, self.folder, self.sampler = spec, Path(folder), sampler
        self.datasets, self.data_key = datasets, data_key  # data_key: the base data's fingerprint
        self.trials: dict[int, Trial] = {}
        self.queue: deque = deque()  # (trial, seed) to run
        self.started = time.time()
        self.run_seconds: list[float] = []  # wall time of each finished run (for the ETA)
        self.status = "running"
        self.interrupted_by = None
        self._lock_fd = None
        from nnlab.runs import git_commit

        self.git_commit = git_commit()  # of the checkout nnlab sweep runs in (a Dask worker has none)

    # -- files -----------------------------------------------------------------------
    @property
    def runs_dir(self) -> Path:
        return self.folder / "runs"

    def lock(self) -> None:
        """Hold the folder's lock for the life of this process: one sweep process per folder."""
        import fcntl

        fd = os.open(self.folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            pid = ""
            try:
                pid = f" (pid {int(files.read_text_bounded(self.folder / LOCK, 64, 'a lock file'))})"
            except (OSError, ValueError):  # not a pid (a FIFO, say): the message goes without one
                pass
            raise RunError(f"{self.folder}: another nnlab sweep is running in this folder{pid}; wait for it "
                           "or stop it first") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def columns(self) -> list[str]:
        return ["trial", *(p.path for p in self.spec.params), "seed", "status", self.spec.metric, "epochs",
                "seconds", "run"]

    def write_trials(self) -> None:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.columns())
        for n in sorted(self.trials):
            t = self.trials[n]
            for seed in self.spec.seeds:
                r = t.runs[seed]
                w.writerow([n, *(value_text(t.values[p.path]) for p in self.spec.params), seed, r.status,
                            _cell(r.value), "" if r.epochs is None else r.epochs, _cell(r.seconds, 4),
                            r.name])
        atomic_write(self.folder / "trials.csv", buf.getvalue())

    # -- the plan --------------------------------------------------------------------
    def add_trial(self, number: int, values: dict, queue: bool = True) -> Trial:
        t = Trial(number, values, {s: RunRecord(number, s) for s in self.spec.seeds})
        self.trials[number] = t
        if queue:
            self.queue.extend((number, s) for s in self.spec.seeds)
        return t

    def _reference(self) -> list:
        """Per epoch, the median metric of the completed runs that reached it (None below ``startup`` runs)."""
        prune = self.spec.prune
        curves = [r.curve for t in self.trials.values() for r in t.runs.values()
                  if r.status == "completed" and r.curve]
        if not prune or len(curves) < prune["startup"]:
            return []
        out = []
        for e in range(max(len(c) for c in curves)):
            vals = sorted(c[e] for c in curves if len(c) > e and c[e] is not None and math.isfinite(c[e]))
            if len(vals) < prune["startup"]:
                out.append(None)
                continue
            mid = len(vals) // 2
            out.append(vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2)
        return out

    def _task(self, trial: Trial, seed: int, threads) -> tuple[dict, str, object]:
        """What a worker needs to train one run, and the key and the data it trains on."""
        from nnlab.experiment import check_against_data

        cfg = self.spec.config(trial.values, seed, f"{self.spec.name}-t{trial.number:03d}")
        dataset = self.datasets.get(cfg)
        check_against_data(cfg, dataset)  # a TPE point (planned points were checked before the start)
        return {"config": cfg.as_dict(), "run_dir": str(self.runs_dir / run_name(trial.number, seed)),
                "trial": trial.number, "seed": seed, "sweep": self.spec.name, "metric": self.spec.metric,
                "maximize": self.spec.direction == "maximize", "worst": self.spec.worst,
                "prune": self.spec.prune, "reference": self._reference(), "threads": threads,
                "evaluate_test": self.spec.test == "all",
                "params": {k: v for k, v in trial.values.items()}, "git_commit": self.git_commit,
                "command": f"nnlab sweep (trial {trial.number}, seed {seed} of {self.folder})"}, \
            self.datasets.key(cfg), dataset

    def _next(self):
        """The next (trial, seed) to run, asking the sampler for a new trial when the queue is empty."""
        while True:
            while self.queue:
                n, seed = self.queue.popleft()
                t = self.trials[n]
                if any(r.status == "pruned" for r in t.runs.values()):  # the trial is out: skip its other seeds
                    t.runs[seed].status = "pruned"
                    t.runs[seed].message = "not run: another seed of this trial was pruned"
                    self._maybe_tell(t)
                    self.write_trials()
                    continue
                return t, seed
            nxt = self.sampler.next()
            if nxt is None:
                return None
            self.add_trial(*nxt)

    def _maybe_tell(self, t: Trial) -> None:
        if t.done:
            self.sampler.tell(t.number, t.value, t.status)

    # -- running ---------------------------------------------------------------------
    def execute(self, pool, view=None, threads=1) -> None:
        """Run until every planned run is finished (or a signal stops it: then raise it after the records)."""
        import threading

        # matplotlib takes a third of a second to import: done now, while this process mostly waits
        threading.Thread(target=_import_figures, daemon=True, name="nnlab-import-figures").start()
        running = 0
        try:
            while True:
                while pool.free() > 0:
                    nxt = self._next()
                    if nxt is None:
                        break
                    t, seed = nxt
                    try:
                        task, data_key, dataset = self._task(t, seed, threads)
                    except Exception as exc:  # noqa: BLE001 - an invalid point (tpe) fails its trial only
                        self.record(t.number, seed, {"status": "failed", "message": str(exc).splitlines()[0]})
                        continue
                    t.runs[seed].status = "running"
                    t.runs[seed].started = time.time()
                    pool.submit((t.number, seed), task, data_key, dataset)
                    running += 1
                    self.write_trials()
                if view:
                    view.update(self)
                if running == 0:
                    break
                for key, out in pool.wait(0.25):
                    running -= 1
                    self.record(*key, out)
                    if view:
                        view.finished(self, *key)
            self.write_trials()
        except KeyboardInterrupt as exc:
            self.status = "interrupted"
            self.interrupted_by = getattr(exc, "name", "SIGINT")
            for key, out in pool.stop():
                self.record(*key, out)
            for t in self.trials.values():
                for r in t.runs.values():
                    if r.status == "running":
                        r.status, r.message = "interrupted", "stopped with the sweep"
            self.write_trials()
            raise
        self.status = "completed"

    def record(self, trial: int, seed: int, out: dict) -> None:
        t = self.trials[trial]
        r = t.runs[seed]
        started = r.started
        r.status = out.get("status", "failed")
        if r.status not in FINISHED:
            r.status = "interrupted"
        r.value, r.epochs, r.seconds = out.get("value"), out.get("epochs"), out.get("seconds")
        r.message, r.curve = out.get("message", ""), out.get("curve") or []
        if "files" in out:  # from a Dask worker: write its run folder here
            self._write_remote(r.name, out["files"])
        if started is not None and r.status in FINISHED:
            self.run_seconds.append(time.time() - started)
        self._maybe_tell(t)
        self.write_trials()

    def _write_remote(self, name: str, files: dict) -> None:
        d = self.runs_dir / name
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        for fname, data in files.items():
            if "/" in fname or fname.startswith("."):
                continue
            atomic_write(d / fname, data)

    # -- outcome ---------------------------------------------------------------------
    def counts(self) -> dict:
        out = {s: 0 for s in ("completed", "diverged", "pruned", "failed", "running", "interrupted", "queued")}
        for t in self.trials.values():
            out[t.status] = out.get(t.status, 0) + 1
        return out

    def run_counts(self) -> dict:
        out = {s: 0 for s in ("completed", "diverged", "pruned", "failed", "running", "interrupted", "queued")}
        for t in self.trials.values():
            for r in t.runs.values():
                out[r.status] = out.get(r.status, 0) + 1
        return out

    def ranked(self) -> list[Trial]:
        """Finished trials with a value (completed or diverged), best first; ties: lower trial number."""
        cands = [t for t in self.trials.values() if t.done and t.status in ("completed", "diverged")
                 and t.value is not None and not math.isnan(t.value)]
        sign = -1 if self.spec.direction == "maximize" else 1
        return sorted(cands, key=lambda t: (sign * t.value, t.number))

    def best(self) -> Trial | None:
        r = self.ranked()
        return r[0] if r else None

    @property
    def total_runs(self) -> int:
        return self.sampler.total * len(self.spec.seeds)

    def summary(self, test: dict | None = None) -> dict:
        b = self.best()
        best = None
        if b is not None:
            best = {"trial": b.number, "params": b.values, "value": b.value, "std": b.std,
                    "values": [b.runs[s].value for s in self.spec.seeds], "seeds": list(self.spec.seeds),
                    "runs": [b.runs[s].name for s in self.spec.seeds], "test": test}
        out = {"name": self.spec.name, "status": self.status, "method": self.spec.method,
               "metric": self.spec.metric, "direction": self.spec.direction, "trials": self.sampler.total,
               "seeds": list(self.spec.seeds), "counts": self.counts(), "run_counts": self.run_counts(),
               "best": best, "started": datetime.fromtimestamp(self.started).isoformat(timespec="seconds"),
               "seconds": time.time() - self.started, "data_fingerprint": self.data_key}
        if self.interrupted_by:
            out["signal"] = self.interrupted_by
        return out


def _import_figures() -> None:
    try:
        from nnlab.look.figures import pyplot

        pyplot()
        import nnlab.sweep.figures  # noqa: F401
    except Exception:  # noqa: BLE001 - finish() imports it again and reports a problem there
        pass


def _cell(v, digits: int = 6) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.{digits}g}"
    return str(v)


# ------------------------------------------------------------------ start, resume, finish


def data_key(dataset) -> str:
    from nnlab.experiment import data_fingerprint

    return data_fingerprint(dataset)


class Datasets:
    """The data of a sweep's configs, loaded once per data spec (a sweep may search data.* keys too)."""

    MAX = 20  # different data specs loaded up front: a grid over data.noise values, not a range of them

    def __init__(self):
        self.loaded: dict = {}  # data key -> Dataset

    @staticmethod
    def key(cfg) -> str:
        from nnlab.sweep.trial import data_key_of

        return data_key_of(cfg)

    def get(self, cfg):
        from nnlab.experiment import load_data

        k = self.key(cfg)
        if k not in self.loaded:
            self.loaded[k] = load_data(cfg)
        return self.loaded[k]


def prepare(spec: SweepSpec) -> tuple[Datasets, str]:
    """Load the data (the base config's, and those of the planned points) and check the sweep against them,
    one line per problem; returns the datasets and the base data's fingerprint."""
    from nnlab.config.schema import validate
    from nnlab.errors import ConfigError
    from nnlab.experiment import check_against_data

    base = validate(dict(spec.base), source=f"{spec.source}: config")
    datasets = Datasets()
    dataset = datasets.get(base)
    errors = []
    m = spec.metric
    if m.endswith("acc") and dataset.task != "classification":
        errors.append(f"{spec.source}: metric: {m} is not recorded for regression data ({dataset.name}); use "
                      + ("val_loss" if dataset.x_val is not None else "train_loss"))
    elif m.startswith("val_") and dataset.x_val is None:
        errors.append(f"{spec.source}: metric: {m} needs a validation split, but data.val_fraction is 0; set "
                      "data.val_fraction > 0 (choose on validation data, report the test set once)")
    data_params = [p for p in spec.params if (p.path.startswith("data.") and p.path.split(".")[1] != "augment")
                   or p.path == "dtype"]  # augmentation is not a dataset to load
    if spec.method == "tpe" and any(p.is_range for p in data_params):
        errors.append(f"{spec.source}: params: {', '.join(p.path for p in data_params if p.is_range)}: a data key "
                      "can be searched over a list of values, not a range (each value is a dataset to load)")
    if errors:
        raise ConfigError(lines=errors)
    from nnlab.sweep.space import planned_points

    for values in _first(planned_points(spec), 2000):
        cfg = spec.config(values, spec.seeds[0], spec.name)
        if data_params and datasets.key(cfg) not in datasets.loaded and len(datasets.loaded) >= Datasets.MAX:
            raise ConfigError(f"{spec.source}: params: the points use more than {Datasets.MAX} different data "
                              f"specs ({', '.join(p.path for p in data_params)}); search fewer data values")
        try:
            check_against_data(cfg, datasets.get(cfg))
        except ConfigError as exc:
            raise ConfigError(lines=exc.lines[:5]) from None
    return datasets, data_key(dataset)


def _first(it, n):
    for i, v in enumerate(it):
        if i >= n:
            return
        yield v


def create(spec: SweepSpec, runs_dir) -> Path:
    from nnlab.runs import create_run_dir

    folder = create_run_dir(runs_dir, spec.name)
    try:
        atomic_write(folder / "sweep.yaml", spec.dump())
        (folder / "runs").mkdir()
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise RunError(f"{folder}: cannot write the sweep folder ({exc.strerror or exc})") from None
    return folder


def load_spec(folder) -> SweepSpec:
    """The spec of an existing sweep folder (its sweep.yaml), re-validated."""
    from nnlab.config.loader import read_yaml_file
    from nnlab.errors import ConfigError
    from nnlab.sweep.spec import build_spec, param_from

    folder = Path(folder)
    if not folder.is_dir():
        raise RunError(f"{folder}: no such sweep folder" if not folder.exists() else f"{folder}: is a file, not a "
                       "sweep folder")
    path = folder / "sweep.yaml"
    if not path.is_file():
        if os.path.lexists(path):  # a FIFO, a device, a folder or a dangling link in its place
            raise RunError(f"{path}: not a regular file; a sweep folder's sweep.yaml is the file nnlab sweep wrote")
        raise RunError(f"{folder}: not a sweep folder (no sweep.yaml)")
    raw = read_yaml_file(path)
    errors: list[str] = []
    params = []
    for key, v in (raw.get("params") or {}).items():
        v = dict(v) if isinstance(v, dict) else v
        if isinstance(v, dict):
            v.pop("int", None) if v.get("int") is False else None
        p = param_from(str(key), v, f"{path}: params: {key}", errors)
        if p is not None:
            p.where = f"{path}: params"
            params.append(p)
    settings = {k: raw[k] for k in ("name", "method", "metric", "trials", "seeds", "seed", "prune", "test")
                if k in raw}
    if raw.get("method") == "grid":
        settings.pop("trials", None)
    if errors:
        raise ConfigError(lines=errors)
    return build_spec(settings, raw.get("config") or {}, params, str(path))


def restore(sweep: Sweep, more_trials: int | None = None, wait_seconds: float = 10.0) -> dict:
    """Rebuild a sweep's records from its run folders (resume): what is kept, what runs again."""
    from nnlab.runs import load_run, read_metrics
    from nnlab.sweep.trial import run_value

    spec, folder = sweep.spec, sweep.folder
    rows = _read_trials_csv(folder / "trials.csv")
    known = {int(r["trial"]) for r in rows if r.get("trial", "").isdigit()}
    sampler = sweep.sampler
    pending: dict = {}
    if spec.method == "tpe":
        pending = dict(sampler.pending())
        known |= set(range(sampler.asked()))
    if more_trials:  # --trials on resume: extend (or cut) a random or tpe sweep
        spec.trials = more_trials
        if spec.method == "tpe":
            sampler.total_trials = more_trials
    for d in sweep.runs_dir.glob("t*-seed*"):
        m = re.fullmatch(r"t(\d+)-seed(\d+)", d.name)
        if m and int(m.group(2)) in spec.seeds:
            known.add(int(m.group(1)))
    stats = {"kept": 0, "rerun": 0}
    failed_rows = {(int(r["trial"]), int(r["seed"])): r for r in rows
                   if r.get("status") == "failed" and r.get("trial", "").isdigit() and r.get("seed", "").isdigit()}
    for n in sorted(known):
        if spec.method != "tpe" and n >= sampler.total:
            continue
        values = pending.get(n) or sampler.point(n)
        t = sweep.add_trial(n, values, queue=False)
        for seed in spec.seeds:
            r = t.runs[seed]
            d = sweep.runs_dir / r.name
            run = load_run(d) if d.is_dir() else None
            deadline = time.monotonic() + wait_seconds
            while run is not None and run.status == "running" and time.monotonic() < deadline:
                time.sleep(0.25)  # a worker of the stopped sweep finishing its run (it stops within a second)
                run = load_run(d)
            if run is not None and run.status == "running":
                raise RunError(f"{d}: still being trained by pid {run.summary.get('pid')}; stop that process "
                               "first, or wait")
            if run is not None and run.status in ("completed", "diverged", "pruned"):
                hist = read_metrics(d / "metrics.csv") if (d / "metrics.csv").is_file() else []
                s = run.summary
                r.status, r.epochs, r.seconds = run.status, len(hist), s.get("train_seconds")
                r.message = s.get("message") or ""
                r.curve = [h.get(spec.metric) for h in hist]
                r.value = run_value(run.status, hist, s.get("restored_epoch"), spec.metric, spec.worst)
                stats["kept"] += 1
                continue
            if run is None and (n, seed) in failed_rows:
                r.status, r.message = "failed", "failed before its run folder was written"
                stats["kept"] += 1
                continue
            if run is not None and run.status == "failed" and not (d / "checkpoint.npz").is_file() \
                    and "interrupt" not in (run.summary.get("message") or ""):
                r.status, r.message = "failed", run.summary.get("message") or ""
                stats["kept"] += 1
                continue
            if d.exists():  # interrupted, crashed or never finished: train it again from scratch
                shutil.rmtree(d)
            sweep.queue.append((n, seed))
            stats["rerun"] += 1
        if t.done:
            sampler.tell(n, t.value, t.status)
    if spec.method != "tpe" and known:
        sampler.next_number = max(max(known) + 1, 0)
    return stats


def read_summary(folder) -> dict:
    try:
        s = json.loads(files.read_text_bounded(Path(folder) / "summary.json", files.CONFIG_MAX_BYTES,
                                               "a summary.json"))
        return s if isinstance(s, dict) else {}
    except (OSError, ValueError):
        return {}


def timestamp(text, default: float) -> float:
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return default


def _read_trials_csv(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    try:
        text = files.read_text_bounded(path, files.TABLE_MAX_BYTES, "a sweep's trials.csv")
        return list(csv.DictReader(io.StringIO(text, newline="")))
    except (OSError, ValueError, csv.Error):
        return []


def finish(sweep: Sweep) -> dict:
    """Evaluate the best configuration on the test set, write summary.json, best.yaml and the figures."""
    from nnlab.sweep.trial import evaluate_on_test

    b = sweep.best()
    test = None
    if b is not None and sweep.status == "completed":
        results = []
        for seed in sweep.spec.seeds:
            d = sweep.runs_dir / b.runs[seed].name
            res = evaluate_on_test(d, sweep.datasets.get(sweep.spec.config(b.values, seed, sweep.spec.name)))
            if res is not None:
                results.append(res)
                if sweep.spec.test != "all":  # with test: all, every run has its test result already
                    _note_test(d, res)
        if results:
            test = _mean_std(results)
    summary = sweep.summary(test)
    if b is not None:
        write_best(sweep, b)
    try:
        from nnlab.sweep.figures import plot_sweep

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            summary["figures"] = [p.name for p in plot_sweep(sweep.folder)]
    except ImportError:
        pass
    except Exception as exc:  # noqa: BLE001 - a figure must not lose the sweep's results
        summary["plot_error"] = f"{type(exc).__name__}: {exc}"
    summary["finished"] = datetime.now().isoformat(timespec="seconds")
    from nnlab.runs import write_json

    write_json(sweep.folder / "summary.json", summary)
    return summary


def _note_test(run_dir: Path, res: dict) -> None:
    """The chosen configuration's runs get their test result in summary.json (the only ones that do)."""
    from nnlab.runs import write_json

    try:
        s = json.loads(files.read_text_bounded(run_dir / "summary.json", files.CONFIG_MAX_BYTES,
                                               "a run's summary.json"))
        s["test"] = res
        s["test_held_back"] = "no: this run's configuration is the one the sweep chose; evaluated on the test set once"
        write_json(run_dir / "summary.json", s)
    except (OSError, ValueError):
        pass


def _mean_std(results: list[dict]) -> dict:
    out = {}
    for k in ("acc", "loss"):
        v = [r[k] for r in results if r.get(k) is not None]
        if not v:
            out[k] = None
            continue
        m = sum(v) / len(v)
        out[k] = m
        out[f"{k}_std"] = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    out["per_seed"] = results
    return out


def write_best(sweep: Sweep, b: Trial) -> None:
    spec = sweep.spec
    cfg = spec.config(b.values, spec.seeds[0], f"{spec.name}-best")
    pm = f" ± {b.std:.4g}" if b.std and len(spec.seeds) > 1 and math.isfinite(b.std) else ""
    head = (f"# The best configuration of sweep '{spec.name}' ({sweep.folder.name}): trial {b.number},\n"
            f"# {spec.metric} {b.value:.4g}{pm} over seeds {spec.seeds}; params: "
            + ", ".join(f"{k}={value_text(v)}" for k, v in b.values.items()) + "\n"
            f"# nnlab train this file to replay the seed-{spec.seeds[0]} run (runs/{b.runs[spec.seeds[0]].name}).\n")
    atomic_write(sweep.folder / "best.yaml", head + cfg.dump())
