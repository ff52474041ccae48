"""The one sweep lifecycle: folder, lock, sampler, pool, records, resume, finish.

Every plan that trains many runs goes through ``run_sweep``: ``nnlab sweep``, ``nnlab claims run`` and
a members ensemble (nnlab.sweep.members).  In order:

1. ``prepare``: the data are loaded and every planned point is checked against them (one line per
   problem, before anything is written);
2. the pool is made (its forked workers start with the data, and without the folder's lock);
3. the folder is created (a new one) or opened (``resume``), and its lock taken before anything in it
   changes; a resumed folder must hold the same data, and its runs are read back: finished ones are
   kept, interrupted ones with a checkpoint continue from it, the others run again;
4. the runs train, ``trials.csv`` and the view follow every event;
5. ``finish``: the best configuration is evaluated on the test set (``test: best``), summary.json,
   best.yaml and the figures are written; on Ctrl-C or SIGTERM this happens with further signals held
   back, so the folder is consistent and ``--resume`` continues it;
6. the lock is released.

The sweep folder ``<runs-dir>/<YYYY-MM-DD_HH-MM-SS>_<name>/`` holds:

- ``sweep.yaml``: the resolved spec (params, search, the whole base config): what --resume reads;
- ``trials.csv``: one row per run (trial x seed), rewritten atomically after every event
  (nnlab.sweep.record: the one trial record, live and read back alike);
- ``runs/t<trial>-seed<seed>/``: each run's ordinary run folder;
- ``summary.json``: counts, the best params with their metric as mean ± std over the seeds,
  and the test result of the best configuration only (no other run looks at the test set);
- ``best.yaml``: the winning config, ready for ``nnlab train``;
- ``params.png``, ``progress.png``, ``best_curves.png``; ``optuna.journal`` for tpe.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import time
import warnings
from collections import deque
from datetime import datetime
from pathlib import Path

import yaml

from nnlab import files
from nnlab.config.loader import read_yaml_file
from nnlab.config.schema import validate
from nnlab.errors import ConfigError, RunError
from nnlab.experiment import check_against_data, load_data
from nnlab.files import atomic_write
from nnlab.interrupt import deferred, graceful_signals
from nnlab.look.figures import pyplot
from nnlab.runs import create_run_dir, git_commit, load_run, new_run_dir, read_metrics, read_summary_json, write_json
from nnlab.runs.compare import first_difference
from nnlab.sweep import record
from nnlab.sweep.plots import plot_sweep
from nnlab.sweep.record import FINISHED, RunRecord, Trial, run_name
from nnlab.sweep.space import make_sampler
from nnlab.sweep.spec import SweepSpec, build_spec, param_from, planned_points, points_from
from nnlab.sweep.task import data_key_of, evaluate_on_test, run_value
from nnlab.text import plural, setting



class SweepView:
    """What a sweep shows while it runs (the CLI's live panel); every method does nothing here."""

    def start(self, sweep) -> None:
        """The sweep begins (or resumes): its folder and its records are ready."""

    def note(self, text: str) -> None:
        """A line worth saying (a resumed folder's counts)."""

    def update(self, sweep) -> None:
        """Called every quarter of a second while runs train."""

    def finished(self, sweep, trial: int, seed: int) -> None:
        """A run ended (its record is in sweep.trials)."""

    def stop(self, sweep) -> None:
        """The runs are over (done, or stopped by a signal)."""


class Datasets:
    """The data of a sweep's configs, loaded once per data spec (a sweep may search data.* keys too)."""

    MAX = 20  # different data specs loaded up front: a grid over data.noise values, not a range of them

    def __init__(self):
        self.loaded: dict = {}  # data key -> Dataset

    @staticmethod
    def key(cfg) -> str:
        return data_key_of(cfg)

    def get(self, cfg):
        k = self.key(cfg)
        if k not in self.loaded:
            self.loaded[k] = load_data(cfg)
        return self.loaded[k]


class Sweep:
    """The state of one sweep folder and the loop that fills it."""

    def __init__(self, spec: SweepSpec, folder: Path, datasets: Datasets, fingerprint: str, sampler=None):
        self.spec, self.folder, self.sampler = spec, Path(folder), sampler
        self.datasets, self.fingerprint = datasets, fingerprint  # fingerprint: the base data's
        self.trials: dict[int, Trial] = {}
        self.queue: deque = deque()  # (trial, seed) to run
        self.resumes: set = set()  # (trial, seed) whose interrupted run continues from its checkpoint
        self.started = time.time()
        self.run_seconds: list[float] = []  # wall time of each finished run (for the ETA)
        self.status = "running"
        self.interrupted_by = None
        self._lock = None
        self.capacity, self.where = 1, "this machine"  # the pool's: runs at a time, and where

        self.git_commit = git_commit()  # of the checkout nnlab sweep runs in (a Dask worker has none)

    # -- files -----------------------------------------------------------------------
    @property
    def runs_dir(self) -> Path:
        return self.folder / "runs"

    def lock(self, held=None) -> None:
        """Hold the folder's lock for the life of this process: one sweep process per folder (``held``: a lock
        the caller took already, before it decided what to do with the folder)."""
        self._lock = held if held is not None else files.FolderLock(self.folder).acquire(
            f"{self.folder}: another nnlab sweep is running in this folder")

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def write_trials(self) -> None:
        record.write_trials(self.folder, self.trials.values(), [p.path for p in self.spec.params], self.spec.metric)

    # -- the plan --------------------------------------------------------------------
    def add_trial(self, number: int, params: dict, queue: bool = True) -> Trial:
        t = Trial(number, params, [RunRecord(number, s) for s in self.spec.seeds])
        self.trials[number] = t
        if queue:
            self.queue.extend((number, s) for s in self.spec.seeds)
        return t

    def _reference(self) -> list:
        """Per epoch, the median metric of the completed runs that reached it (None below ``startup`` runs)."""
        prune = self.spec.prune
        if prune and prune.get("reference") is not None:  # medians given (a members ensemble in a sweep's trial)
            return list(prune["reference"])
        curves = [r.curve for t in self.trials.values() for r in t.records if r.status == "completed" and r.curve]
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

    def task(self, trial: Trial, seed: int, pool) -> tuple[dict, str, object]:
        """What a worker needs to train one run, and the key and the data it trains on."""
        cfg = self.spec.config(trial.params, seed, self.spec.run_label(trial.number, seed))
        dataset = self.datasets.get(cfg)
        check_against_data(cfg, dataset)  # a TPE point (planned points were checked before the start)
        return {"config": cfg.as_dict(), "run_dir": str(self.runs_dir / run_name(trial.number, seed)),
                "trial": trial.number, "seed": seed, "sweep": self.spec.name, "metric": self.spec.metric,
                "maximize": self.spec.direction == "maximize", "worst": self.spec.worst,
                "prune": self.spec.prune, "reference": self._reference(), "threads": pool.threads_per_run,
                "evaluate_test": self.spec.test == "all", "checkpoints": not pool.remote,
                "resume": (trial.number, seed) in self.resumes, "summary": self.spec.tags(trial, seed),
                "params": dict(trial.params), "git_commit": self.git_commit,
                "command": f"nnlab sweep (trial {trial.number}, seed {seed} of {self.folder})"}, \
            self.datasets.key(cfg), dataset

    def _next(self):
        """The next (trial, seed) to run, asking the sampler for a new trial when the queue is empty (an adaptive
        sampler's only once every earlier trial is done); None when there is none to start now."""
        while True:
            while self.queue:
                n, seed = self.queue.popleft()
                t = self.trials[n]
                if any(r.status == "pruned" for r in t.records):  # the trial is out: skip its other seeds
                    r = t.run(seed)
                    r.status, r.message = "pruned", "not run: another seed of this trial was pruned"
                    self._maybe_tell(t)
                    self.write_trials()
                    continue
                return t, seed
            if self.sampler.adaptive and not all(t.done for t in self.trials.values()):
                return None  # its next point comes from every earlier result: wait for them (nnlab.sweep.space)
            nxt = self.sampler.next()
            if nxt is None:
                return None
            self.add_trial(*nxt)

    def _maybe_tell(self, t: Trial) -> None:
        if t.done:
            self.sampler.tell(t.number, t.value, t.status)

    # -- running ---------------------------------------------------------------------
    def execute(self, pool, view: SweepView) -> None:
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
                        task, data_key, dataset = self.task(t, seed, pool)
                    except Exception as exc:  # noqa: BLE001 - an invalid point (tpe) fails its trial only
                        self.record(t.number, seed, {"status": "failed", "message": str(exc).splitlines()[0]})
                        view.finished(self, t.number, seed)
                        continue
                    r = t.run(seed)
                    r.status, r.started = "running", time.time()
                    pool.submit((t.number, seed), task, data_key, dataset)
                    running += 1
                    self.write_trials()
                view.update(self)
                if running == 0:
                    break
                for key, out in pool.wait(0.25):
                    running -= 1
                    self.record(*key, out)
                    view.finished(self, *key)
            self.write_trials()
        except (KeyboardInterrupt, OSError) as exc:  # a signal, or a disk that filled up (trials.csv, a run folder)
            self.status = "interrupted"
            self.interrupted_by = getattr(exc, "name", "SIGINT") if isinstance(exc, KeyboardInterrupt) else "disk"
            with deferred():  # the folder is made consistent before a second signal is taken
                for key, out in pool.stop():
                    with contextlib.suppress(OSError):
                        self.record(*key, out)
                for t in self.trials.values():
                    for r in t.records:
                        if r.status == "running":
                            r.status, r.message = "interrupted", "stopped with the sweep"
                with contextlib.suppress(OSError):
                    self.write_trials()
            if isinstance(exc, OSError):
                where = f" ({exc.filename})" if exc.filename else ""
                raise RunError(f"{self.folder}: cannot write{where}: {exc.strerror or exc}; the sweep stopped with "
                               f"its finished runs kept: free some space and continue with nnlab sweep --resume "
                               f"{self.folder}") from None
            raise
        self.status = "completed"

    def record(self, trial: int, seed: int, out: dict) -> None:
        t = self.trials[trial]
        r = t.run(seed)
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
        self.resumes.discard((trial, seed))
        self._maybe_tell(t)
        self.write_trials()

    def _write_remote(self, name: str, tree: dict) -> None:
        d = self.runs_dir / name
        if os.path.lexists(d):
            files.remove_made(d, record.made_in_run_folder)
        d.mkdir(parents=True)
        for rel, data in tree.items():
            parts = Path(rel).parts
            if not parts or any(p in ("", ".", "..") or p.startswith(".") for p in parts) or Path(rel).is_absolute():
                continue
            target = d.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(target, data)

    # -- outcome ---------------------------------------------------------------------
    def ranked(self) -> list[Trial]:
        """Finished trials with a value (completed or diverged), best first; ties: lower trial number."""
        return record.rank_trials(self.trials.values(), self.spec.direction)

    def best(self) -> Trial | None:
        r = self.ranked()
        return r[0] if r else None

    def run_counts(self) -> dict:
        return record.counts(self.trials.values(), runs=True)

    @property
    def total_runs(self) -> int:
        return self.sampler.total * len(self.spec.seeds)

    def summary(self, test: dict | None = None) -> dict:
        out = {"kind": "sweep", "name": self.spec.name, "status": self.status, "method": self.spec.method,
               "metric": self.spec.metric, "direction": self.spec.direction, "trials": self.sampler.total,
               "seeds": list(self.spec.seeds), **record.outcome(self.trials.values(), self.spec.direction, test),
               "started": datetime.fromtimestamp(self.started).isoformat(timespec="seconds"),
               "seconds": time.time() - self.started, "data_fingerprint": self.fingerprint}
        if self.interrupted_by:
            out["signal"] = self.interrupted_by
        return out


def _import_figures() -> None:
    try:
        pyplot()
    except Exception:  # noqa: BLE001 - finish() imports it again and reports a problem there
        pass


# ------------------------------------------------------------------ start, resume, finish


def prepare(spec: SweepSpec) -> tuple[Datasets, str]:
    """Load the data (the base config's, and those of the planned points) and check the sweep against them,
    one line per problem; returns the datasets and the base data's fingerprint."""
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
    for i, values in enumerate(planned_points(spec)):
        if i >= 2000:
            break
        cfg = spec.config(values, spec.seeds[0], spec.name)
        if data_params and datasets.key(cfg) not in datasets.loaded and len(datasets.loaded) >= Datasets.MAX:
            raise ConfigError(f"{spec.source}: params: the points use more than {Datasets.MAX} different data "
                              f"specs ({', '.join(p.path for p in data_params)}); search fewer data values")
        try:
            check_against_data(cfg, datasets.get(cfg))
        except ConfigError as exc:
            raise ConfigError(lines=exc.lines[:5]) from None
    return datasets, dataset.fingerprint()


def create(spec: SweepSpec, runs_dir=None, folder=None) -> Path:
    """A new sweep folder: ``runs_dir/<date_time>_<name>``, or exactly ``folder`` (which must not exist)."""
    folder = create_run_dir(runs_dir, spec.name) if folder is None else new_run_dir(None, spec.name, None, folder)
    try:
        atomic_write(folder / "sweep.yaml", spec.dump())
        (folder / "runs").mkdir()
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)  # made a moment ago by this process (an exclusive mkdir)
        raise RunError(f"{folder}: cannot write the sweep folder ({exc.strerror or exc})") from None
    return folder


def load_spec(folder) -> SweepSpec:
    """The spec of an existing sweep folder (its sweep.yaml), re-validated."""
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
    if not raw.get("config") or (not raw.get("params") and not raw.get("points") and raw.get("role", "sweep") == "sweep"):
        missing = "config" if not raw.get("config") else "params"
        raise RunError(f"{path}: holds no sweep (no {missing}: empty or damaged); it is the file nnlab sweep wrote "
                       "when the sweep started, and --resume reads the sweep from it alone: restore it, or start the "
                       "sweep again in a new folder")
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
    settings = {k: raw[k] for k in ("name", "method", "metric", "trials", "seeds", "seed", "prune", "test", "role",
                                    "tags") if k in raw}
    if raw.get("method") in ("grid", "list"):
        settings.pop("trials", None)
    if raw.get("method") == "list":
        settings["points"], params = points_from(raw.get("points"), path, errors)
    if errors:
        raise ConfigError(lines=errors)
    return build_spec(settings, raw.get("config") or {}, params, str(path))


def restore(sweep: Sweep, more_trials: int | None = None, remote: bool = False, wait_seconds: float = 10.0) -> dict:
    """Rebuild a sweep's records from its run folders (resume): what is kept, what continues from its
    checkpoint, what runs again.  ``remote``: the runs train elsewhere (a Dask cluster), so an interrupted
    run is trained again from the start rather than continued.

    Nothing is lost and nothing is mixed in: a run folder whose config is not its trial's point, a trial the
    sweep never planned (a stray folder or row) and ``more_trials`` below the trials already run are each
    one RunError line; a finished run whose files are damaged is trained again (and said so)."""
    spec, folder = sweep.spec, sweep.folder
    old = record.read_sweep(folder)
    known = {t.number for t in old.trials}
    failed_before = {(t.number, r.seed): r for t in old.trials for r in t.records if r.status == "failed"}
    sampler = sweep.sampler
    for d in sweep.runs_dir.glob("t*-seed*"):
        m = re.fullmatch(r"t(\d+)-seed(\d+)", d.name)
        if m and int(m.group(2)) in spec.seeds:
            known.add(int(m.group(1)))
    pending: dict = {}
    if spec.method == "tpe":
        pending = dict(sampler.pending())
        asked = sampler.asked()
        stray = sorted(n for n in known if n >= asked)
        if stray:
            raise RunError(f"{folder}: trial {stray[0]} (in runs/ or trials.csv) is not one this TPE sweep asked "
                           f"for (its study holds {asked} trial{'s' if asked != 1 else ''}); move it out of the "
                           "sweep folder")
        known |= set(range(asked))
    done = max(known) + 1 if known else 0
    if more_trials is not None:  # --trials on resume: extend a random or tpe sweep (never shrink it)
        if more_trials < done:
            raise ConfigError(f"--trials {more_trials}: {folder} has run {done} trials already; a sweep is never "
                              f"cut, give at least {done}")
        spec.trials = more_trials
        if spec.method == "tpe":
            sampler.total_trials = more_trials
    elif spec.method != "tpe" and done > sampler.total:
        raise RunError(f"{folder}: trial {done - 1} (in runs/ or trials.csv) is beyond the sweep's "
                       f"{sampler.total} trials (its sweep.yaml); move it out of the sweep folder")
    stats = {"kept": 0, "resumed": 0, "rerun": 0, "damaged": 0}
    for n in sorted(known):
        t = sweep.add_trial(n, pending.get(n) or sampler.point(n), queue=False)
        for seed in spec.seeds:
            r = t.run(seed)
            d = sweep.runs_dir / r.name
            run = load_run(d) if d.is_dir() else None
            deadline = time.monotonic() + wait_seconds
            while run is not None and run.status == "running" and time.monotonic() < deadline:
                time.sleep(0.25)  # a worker of the stopped sweep finishing its run (it stops within a second)
                run = load_run(d)
            if run is not None and run.status == "running":
                raise RunError(f"{d}: still being trained by pid {run.summary.get('pid')}; stop that process "
                               "first, or wait")
            if run is not None and run.config is not None:
                want = yaml.safe_load(spec.config(t.params, seed, spec.run_label(n, seed)).dump())
                diff = first_difference(run.config, want)
                if diff:
                    raise RunError(f"{d}: its config.yaml is not trial {n}'s point with seed {seed} ({diff}); a sweep "
                                   "keeps only its own runs: move it out of the sweep folder")
            hist = read_metrics(d / "metrics.csv") if run is not None and (d / "metrics.csv").is_file() else []
            if run is not None and run.status in ("completed", "diverged", "pruned"):
                if hist and (run.status != "completed" or (d / "model.npz").is_file()
                             or (d / "members").is_dir()):
                    s = run.summary
                    r.status, r.epochs, r.seconds = run.status, len(hist), s.get("train_seconds")
                    r.message = s.get("message") or ""
                    r.curve = [h.get(spec.metric) for h in hist]
                    r.value = run_value(run.status, hist, s.get("restored_epoch"), spec.metric, spec.worst)
                    stats["kept"] += 1
                    continue
                stats["damaged"] += 1  # finished, but its metrics.csv or model.npz is gone: trained again
            if run is None and not d.exists() and (n, seed) in failed_before:
                r.status = "failed"
                r.message = failed_before[(n, seed)].message or "failed before its run folder was written"
                stats["kept"] += 1
                continue
            # a checkpoint, or a members ensemble's own sweep folder: it continues where it stopped
            resumable = run is not None and not remote and ((d / "checkpoint.npz").is_file()
                                                            or (d / "members" / "sweep.yaml").is_file())
            if run is not None and run.status == "failed" and not resumable \
                    and "interrupt" not in (run.summary.get("message") or ""):
                r.status, r.message = "failed", run.summary.get("message") or ""
                stats["kept"] += 1
                continue
            if resumable and run.status in ("interrupted", "crashed", "failed"):
                sweep.resumes.add((n, seed))
                r.status, r.message = "interrupted", "continues from its checkpoint"
                stats["resumed"] += 1
            else:
                if os.path.lexists(d):  # stopped without a checkpoint, damaged or never finished: from scratch
                    files.remove_made(d, record.made_in_run_folder)
                stats["rerun"] += 1
            sweep.queue.append((n, seed))
        if t.done:
            sampler.tell(n, t.value, t.status)
    if spec.method != "tpe" and known:
        sampler.next_number = max(max(known) + 1, 0)
    return stats


def timestamp(text, default: float) -> float:
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return default


def finish(sweep: Sweep, figures: bool = True) -> dict:
    """Evaluate the best configuration on the test set, write summary.json, best.yaml and the figures."""
    b = sweep.best()
    test = None
    if b is not None and sweep.status == "completed" and sweep.spec.role == "sweep" and sweep.spec.test != "none":
        # (an ensemble scores its own; test: none keeps the test set unseen)
        results = []
        for seed in sweep.spec.seeds:
            d = sweep.runs_dir / b.run(seed).name
            if sweep.spec.test == "all":  # every run has its test result already
                res = _summary_test(d)
            else:
                res = evaluate_on_test(d, sweep.datasets.get(sweep.spec.config(b.params, seed, sweep.spec.name)))
                if res is not None:
                    _note_test(d, res)
            if res is not None:
                results.append(res)
        if results:
            test = _mean_std(results)
    summary = sweep.summary(test)
    if b is not None and figures:
        write_best(sweep, b)
    if figures:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                summary["figures"] = [p.name for p in plot_sweep(sweep.folder)]
        except ImportError:
            pass
        except Exception as exc:  # noqa: BLE001 - a figure must not lose the sweep's results
            summary["plot_error"] = f"{type(exc).__name__}: {exc}"
    summary["finished"] = datetime.now().isoformat(timespec="seconds")
    write_json(sweep.folder / "summary.json", summary)
    return summary


def _summary_test(run_dir: Path) -> dict | None:
    try:
        s = json.loads(files.read_text_bounded(run_dir / "summary.json", files.CONFIG_MAX_BYTES,
                                               "a run's summary.json"))
    except (OSError, ValueError):
        return None
    t = s.get("test") if isinstance(s, dict) else None
    return t if isinstance(t, dict) and t.get("loss") is not None else None


def _note_test(run_dir: Path, res: dict) -> None:
    """The chosen configuration's runs get their test result in summary.json (the only ones that do)."""
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
    cfg = spec.config(b.params, spec.seeds[0], f"{spec.name}-best")
    pm = f" ± {b.std:.4g}" if b.std is not None and len(spec.seeds) > 1 else ""
    head = (f"# The best configuration of sweep '{spec.name}' ({sweep.folder.name}): trial {b.number},\n"
            f"# {spec.metric} {b.value:.4g}{pm} over seeds {spec.seeds}; params: "
            + ", ".join(f"{k}={setting(v)}" for k, v in b.params.items()) + "\n"
            f"# nnlab train this file to replay the seed-{spec.seeds[0]} run (runs/{b.run(spec.seeds[0]).name}).\n")
    atomic_write(sweep.folder / "best.yaml", head + cfg.dump())


# ------------------------------------------------------------------ the lifecycle


def open_sweep(spec: SweepSpec, folder, datasets: Datasets, fingerprint: str, pool, *, resume: bool,
               runs_dir=None, more_trials: int | None = None, view: SweepView | None = None, lock=None) -> Sweep:
    """The sweep folder, new or stopped and restored, locked, with its sampler (step 3 of run_sweep).

    ``lock``: the folder's lock, taken already by the caller (who decided, holding it, what to do with an
    existing folder): then ``resume=False`` starts the sweep in that (empty) folder."""
    if not resume:
        if lock is not None:  # an emptied folder of the caller's: the sweep starts in place
            atomic_write(Path(folder) / "sweep.yaml", spec.dump())
            (Path(folder) / "runs").mkdir(exist_ok=True)
        else:
            folder = create(spec, runs_dir, folder)
        sweep = Sweep(spec, Path(folder), datasets, fingerprint)
        sweep.lock(held=lock)
        sweep.sampler = make_sampler(spec, sweep.folder)
        return sweep
    sweep = Sweep(spec, Path(folder), datasets, fingerprint)
    sweep.lock(held=lock)
    try:
        old = read_summary_json(sweep.folder)
        if old.get("data_fingerprint") not in (None, fingerprint):
            raise ConfigError(f"{sweep.folder}: the data differ from those the sweep started with (a changed data "
                              "file?); a resumed sweep must see the same data")
        sweep.sampler = make_sampler(spec, sweep.folder)
        for note in getattr(sweep.sampler, "notes", []):
            if view is not None:
                view.note(f"note: {note}")
        stats = restore(sweep, more_trials, remote=pool.remote)
        if more_trials is not None:  # the extension is part of the sweep from now on: a later resume keeps it
            atomic_write(sweep.folder / "sweep.yaml", spec.dump())
    except BaseException:
        sweep.unlock()
        raise
    if old.get("started"):
        sweep.started = timestamp(old["started"], sweep.started)
    if view is not None:
        rest = max(0, sweep.total_runs - stats["kept"] - stats["resumed"] - stats["rerun"])
        went_on = f", {stats['resumed']} to continue from their checkpoints" if stats["resumed"] else ""
        damaged = f" ({stats['damaged']} of them finished but damaged)" if stats["damaged"] else ""
        view.note(f"resuming {sweep.folder}: {plural(stats['kept'], 'run')} kept{went_on}, {stats['rerun']} to run "
                  f"again{damaged}, {rest} not started yet")
    return sweep


def run_sweep(spec: SweepSpec, make_pool, *, runs_dir=None, folder=None, resume: bool = False,
              more_trials: int | None = None, view: SweepView | None = None, figures: bool = True,
              prepared: tuple | None = None, lock=None) -> tuple[Sweep, dict]:
    """Run a sweep from start to end (or continue a stopped one: ``resume`` with its ``folder``).

    ``make_pool(datasets)`` makes the pool the runs train in (nnlab.sweep.pool), after the data are loaded
    and before the folder's lock is taken; ``runs_dir`` receives a new timestamped folder, or ``folder``
    names it exactly; ``figures=False`` writes no best.yaml and no figures (a members ensemble's sweep);
    ``lock``: the folder's lock, already held by the caller (it stays the caller's to release).
    Returns the sweep and its summary.json; a signal stops the runs, and once the folder is consistent
    (records, summary.json: all with further signals held back) it is raised again.
    """
    view = view or SweepView()
    datasets, fingerprint = prepared or prepare(spec)
    pool = make_pool(datasets)
    try:
        sweep = open_sweep(spec, folder, datasets, fingerprint, pool, resume=resume, runs_dir=runs_dir,
                           more_trials=more_trials, view=view, lock=lock)
    except BaseException:
        pool.close()
        raise
    sweep.capacity, sweep.where = pool.capacity, pool.where
    try:
        with graceful_signals():
            try:
                write_json(sweep.folder / "summary.json", sweep.summary())
                view.start(sweep)
                try:
                    sweep.execute(pool, view)
                finally:
                    view.stop(sweep)
                    pool.close()
            except (KeyboardInterrupt, RunError):
                with deferred(), contextlib.suppress(OSError):  # a full disk may refuse summary.json too
                    finish(sweep, figures)
                raise
            with deferred():
                summary = finish(sweep, figures)
    finally:
        sweep.unlock()
    return sweep, summary
