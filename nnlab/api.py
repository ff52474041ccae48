"""The Python API: nnlab in a notebook or a script, on the same engine as the command line.

    import nnlab
    run = nnlab.train("configs/adam_relu.yaml", overrides={"train.optimizer.lr": 0.01})
    run.status, run.summary["test"]          # what summary.json says
    run.metrics["val_acc"]                    # one numpy array per column of metrics.csv
    run.plot()                                # loss, accuracy and learning rate: a matplotlib figure
    run.predict(x), run.predict_proba(x)      # the trained network on new inputs, preprocessed as in training
    nnlab.compare(nnlab.runs("runs"))         # the rows nnlab compare prints, as dicts
    s = nnlab.sweep("sweeps/lr_optimizer.yaml", jobs=2)
    s.best, s.best_config
    nnlab.claims.run(["ensemble_beats_single"], quick=True), nnlab.claims.report("claims-out", "claims.md")

Every function goes through what ``nnlab train``, ``nnlab sweep``, ``nnlab compare`` and ``nnlab claims`` use
(nnlab.sweep.dispatch, nnlab.sweep.lifecycle, nnlab.runs.compare, nnlab.claims): the same checks, the same run
folders, the same resume.  Bad input is one ``nnlab.ConfigError`` (or DataError, RunError), as the command
line's one line per problem; nothing is printed unless ``quiet=False`` (a progress bar: rich's, which works in
Jupyter with ipywidgets, on a terminal, and as plain lines elsewhere).  Ctrl-C (the notebook's interrupt)
leaves the run interrupted and resumable, as in the command line, and raises ``nnlab.RunInterrupted`` (a
KeyboardInterrupt) whose ``.run`` is the run: ``nnlab.resume(run)`` continues it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import yaml

from nnlab import files, progress
from nnlab.config import load_config, validate
from nnlab.config.loader import absolutize_data_path
from nnlab.config.schema import apply_overrides, plain, run_name_problem
from nnlab.data import datasets
from nnlab.ensemble import member_runs
from nnlab.errors import ConfigError, DataError, RunError
from nnlab.experiment import load_data
from nnlab.interrupt import graceful_signals
from nnlab.look.figures import curves_figure
from nnlab.metrics import METRIC_COLUMNS
from nnlab.runs import find_runs, load_model, load_run
from nnlab.runs.compare import compare as compare_runs
from nnlab.runs.compare import to_rows
from nnlab.sweep.dispatch import job_config, prepare_new, prepare_resume_job, train_job
from nnlab.sweep.lifecycle import SweepView, load_spec, run_sweep
from nnlab.sweep.record import is_sweep_folder, read_sweep
from nnlab.sweep.spec import base_config, build_spec, is_sweep_file, load_sweep, params_from
from nnlab.sweep.work import pool_maker
from nnlab.text import number, percent
from nnlab.train.combine import softmax
from nnlab.train.threads import cores

__all__ = ["Run", "RunInterrupted", "Sweep", "compare", "dataset", "resume", "runs", "sweep", "train"]


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (or the notebook's interrupt) stopped a run or a sweep: it is interrupted and resumable, as with
    ``nnlab train``; ``.run`` is it (a Run or a Sweep), ``nnlab.resume(run)`` continues it."""

    def __init__(self, run):
        self.run = run
        if isinstance(run, Sweep):
            text = (f"interrupted: the sweep is in {run.path}; nnlab.sweep(resume={str(run.path)!r}) continues it "
                    f"(nnlab sweep --resume {run.path})")
        else:
            text = (f"interrupted after {run.summary.get('epochs', 0)} epochs: the run is in {run.path}; "
                    f"nnlab.resume({str(run.path)!r}) continues it (nnlab train --resume {run.path})")
        super().__init__(text)


# ------------------------------------------------------------------ configs


def _config(config, overrides, name):
    """A validated Config from a config file's path or a mapping, with the overrides (dotted keys) applied."""
    if overrides is not None and not isinstance(overrides, (dict, list, tuple)):
        raise ConfigError(f"overrides: must be a mapping of dotted keys to values, e.g. "
                          f"{{'train.optimizer.lr': 0.01}}, got {type(overrides).__name__}")
    overrides = overrides or {}
    if isinstance(config, (str, os.PathLike)):
        cfg = load_config(config, overrides)
    elif isinstance(config, dict):
        raw = plain(config)
        if "extends" in raw:  # a file's key: relative to that file, which a mapping has none of
            raise ConfigError("config: extends: names the file a config builds on; give that file's path as config "
                              "and the changes as overrides")
        absolutize_data_path(raw, Path.cwd())
        apply_overrides(raw, overrides)
        raw.setdefault("name", "run")
        cfg = validate(raw, source="config")
    else:
        raise ConfigError(f"config: must be the path of a YAML config file or a mapping (dict) of config keys, "
                          f"got {type(config).__name__}")
    if name is not None:
        if run_name_problem(name):
            raise ConfigError(f"name: {run_name_problem(name)}")
        cfg.name = name
    return cfg


def _runs_dir(runs_dir, option: str = "runs_dir") -> Path:
    text = str(runs_dir) if isinstance(runs_dir, (str, os.PathLike)) else None
    if not text or not text.strip():
        raise ConfigError(f"{option}: must name a folder, got {runs_dir!r}")
    if os.path.exists(text) and not os.path.isdir(text):
        raise ConfigError(f"{option}={text!r}: is a file, not a folder; name a folder (it is created if missing)")
    return Path(text)


# ------------------------------------------------------------------ training


def train(config, *, overrides=None, runs_dir="runs", name: str | None = None, quiet: bool = True,
          on_epoch=None) -> "Run":
    """Train the network a config describes into a new run folder under ``runs_dir``; the run (``nnlab train``).

    ``config``: the path of a YAML config, or a mapping of config keys; ``overrides``: dotted keys and values,
    e.g. ``{"train.optimizer.lr": 0.01, "model.hidden": [64, 64]}``; ``name``: the run's name; ``quiet=False``:
    a progress bar (and the download's, for a data set fetched on first use); ``on_epoch(row)``: called after
    every epoch with its metrics.  A members ensemble trains its members (``train.ensemble.members``).
    Raises ConfigError or DataError (nothing written) for bad input; RunInterrupted on Ctrl-C (the run stays
    resumable); a run that diverges or fails is returned with that status.
    """
    cfg = _config(config, overrides, name)
    runs_dir = _runs_dir(runs_dir)
    with progress.reporting(None if quiet else _DownloadBar):
        job = prepare_new(cfg)
    return _train(job, runs_dir, quiet, on_epoch)


def resume(run, *, quiet: bool = True, on_epoch=None) -> "Run":
    """Continue an interrupted or crashed run in place (``nnlab train --resume``): ``run`` is a Run or its folder.
    The finished run has the same numbers as one never stopped."""
    folder = run.path if isinstance(run, Run) else Path(run)
    with progress.reporting(None if quiet else _DownloadBar):
        job = prepare_resume_job(folder)
    return _train(job, folder.parent, quiet, on_epoch)


def _train(job, runs_dir, quiet: bool, on_epoch) -> "Run":
    bar = _EpochBar(job_config(job).name, quiet)

    def epoch(row):
        bar.epoch(row)
        if on_epoch is not None:
            on_epoch(dict(row))

    try:
        with graceful_signals():  # SIGTERM and SIGHUP as Ctrl-C; signals held back while the last files are written
            run_dir, summary = train_job(job, runs_dir, on_start=bar.start, on_epoch=epoch)
    except KeyboardInterrupt:
        bar.stop()
        if bar.run_dir is not None and load_run(bar.run_dir) is not None:
            raise RunInterrupted(Run(bar.run_dir)) from None
        raise
    except BaseException:
        bar.stop()
        raise
    bar.stop()
    run = Run(run_dir)
    if summary.get("status") == "interrupted":
        raise RunInterrupted(run)
    return run


# ------------------------------------------------------------------ progress bars (quiet=False)


def _console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, emoji=False)


def _live_ok(console) -> bool:
    """Whether rich can draw a live bar here: a terminal, or Jupyter with ipywidgets (rich's Jupyter display)."""
    if console.is_jupyter:
        return importlib.util.find_spec("ipywidgets") is not None
    return console.is_terminal


class _EpochBar:
    """The epochs of a run as a rich progress bar (quiet=False); plain lines where rich cannot draw live."""

    def __init__(self, name: str, quiet: bool):
        self.name, self.quiet, self.run_dir, self.bar, self.lines = name, quiet, None, None, None

    def start(self, info):
        self.run_dir = info["run_dir"]
        if self.quiet:
            return
        self.total = info["epochs"]
        self.unit = "members" if info.get("unit") == "members" else "epochs"
        console = _console()
        if _live_ok(console):
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("{task.description}", markup=False), BarColumn(bar_width=24),
                                MofNCompleteColumn(), TextColumn("{task.fields[stats]}", markup=False),
                                TimeRemainingColumn(compact=True), console=console)
            self.bar.start()
            self.task = self.bar.add_task(self.name, total=self.total, stats="",
                                          completed=info.get("start_epoch", 0))
        else:
            self.lines, self.every = console, max(1, self.total // 10)

    def epoch(self, row):
        if self.quiet:
            return
        stats = _row_text(row)
        if self.bar is not None:
            self.bar.update(self.task, advance=1, stats=stats)
        elif self.lines is not None and (row["epoch"] % self.every == 0 or row["epoch"] == self.total):
            self.lines.print(f"{self.name} {row['epoch']}/{self.total} {stats}", markup=False, soft_wrap=True)

    def stop(self):
        if self.bar is not None:
            self.bar.refresh()  # rich does not draw its last state on stop in Jupyter
            self.bar.stop()
            self.bar = None


def _row_text(row) -> str:
    parts = [f"loss {number(row['train_loss'])}" if row.get("train_loss") is not None else ""]
    if row.get("val_loss") is not None:
        parts.append(f"val loss {number(row['val_loss'])}")
    if row.get("val_acc") is not None:
        parts.append(f"val acc {percent(row['val_acc'])}")
    return "  ".join(p for p in parts if p)


class _DownloadBar:
    """A download's progress (nnlab.progress reporter) as a rich bar, or a line at its start and end."""

    def __init__(self, description: str, total: int | None):
        console = _console()
        self.bar = None
        if _live_ok(console):
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

            self.bar = Progress(TextColumn("{task.description}", markup=False), BarColumn(bar_width=24),
                                DownloadColumn(), TransferSpeedColumn(), console=console)
            self.bar.start()
            self.task = self.bar.add_task(description, total=total)
        else:
            size = f" ({files.size_text(total)})" if total else ""
            console.print(f"{description}{size} ...", markup=False, soft_wrap=True)

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=n)

    def close(self, ok: bool = True) -> None:
        if self.bar is not None:
            self.bar.refresh()
            self.bar.stop()


# ------------------------------------------------------------------ a run folder


class Run:
    """A run folder, read back: its config, summary, status, metrics, curves, and its network on new inputs.

    ``Run(path)`` reads what the folder holds (as ``nnlab show`` does; a damaged file is a warning in
    ``.warnings``, never a crash); ``reload()`` reads it again.
    """

    def __init__(self, path):
        self.path = Path(path)
        self._read(load_run(self.path) if self.path.is_dir() else None)

    def _read(self, run) -> None:
        if run is None:
            what = "no such folder" if not self.path.exists() else "not a run folder (expected config.yaml, " \
                                                                   "summary.json and metrics.csv)"
            raise RunError(f"{self.path}: {what}")
        self._run = run
        self._network = None

    @classmethod
    def _of(cls, run) -> "Run":
        self = cls.__new__(cls)
        self.path = Path(run.path)
        self._read(run)
        return self

    def reload(self) -> "Run":
        """Read the folder again (a run still training, or resumed since)."""
        self._read(load_run(self.path))
        return self

    @property
    def name(self) -> str:
        return self._run.name

    @property
    def status(self) -> str:
        """completed, diverged, pruned, interrupted, failed, running, crashed or incomplete."""
        return self._run.status

    @property
    def config(self) -> dict:
        """The resolved config (config.yaml): train it again (nnlab.train(run.config)) to replay the run."""
        return self._run.config or {}

    @property
    def summary(self) -> dict:
        """summary.json: status, best epoch, final and test metrics, timings, versions, the diagnosis."""
        return self._run.summary

    @property
    def warnings(self) -> list:
        return list(self._run.warnings)

    @property
    def diagnosis(self) -> list[str]:
        """What the curves show, read as the notes teach (too high a learning rate, overfitting, ...)."""
        return [f["message"] for f in self.summary.get("diagnosis") or []]

    @property
    def metrics(self) -> dict[str, np.ndarray]:
        """metrics.csv by column, one value per epoch: epoch (ints), lr, train_loss, train_acc, val_loss, val_acc,
        seconds, ... (floats; NaN where an epoch has none, e.g. val_* without a validation split)."""
        rows = self._run.metrics
        out = {"epoch": np.array([r["epoch"] for r in rows], dtype=np.int64)}
        columns = [c for c in METRIC_COLUMNS if c != "epoch"]
        columns += sorted({k for r in rows for k in r} - set(columns) - {"epoch"})
        for c in columns:
            out[c] = np.array([np.nan if r.get(c) is None else r[c] for r in rows], dtype=np.float64)
        return out

    def metrics_frame(self):
        """metrics.csv as a pandas DataFrame, indexed by epoch (pandas must be installed)."""
        try:
            import pandas as pd
        except ImportError:
            raise RunError("metrics_frame needs pandas (pip install pandas); run.metrics gives numpy arrays") \
                from None
        return pd.DataFrame(self.metrics).set_index("epoch")

    def plot(self):
        """Loss, accuracy and learning rate against epoch (as curves.png): a matplotlib Figure, which a notebook
        shows as the cell's value."""
        if "ipykernel" in sys.modules:  # the notebook's backend registers how a figure is shown
            importlib.import_module("matplotlib.pyplot")
        return curves_figure(self._run.metrics, title=self.name)

    # -------------------------------------------------------------- the trained network

    def _load_network(self):
        if self._network is None:
            if not (self.path / "model.npz").is_file() and not member_runs(self.path):
                raise RunError(f"{self.path}: has no model.npz (the run is {self.status}); "
                               + ("resume it first: nnlab.resume(run)" if self.status in ("interrupted", "crashed")
                                  else "only a finished run has a trained network"))
            cfg = load_config(self.path / "config.yaml")
            dataset = load_data(cfg)  # the preprocessing was fitted on the training split: fitted again
            folders = member_runs(self.path) or [self.path]  # a members ensemble averages its members
            self._network = (cfg, dataset.task, dataset.preprocessor, dataset.n_features,
                             [load_model(d, dataset) for d in folders])
        return self._network

    def _outputs(self, x) -> list[np.ndarray]:
        cfg, _, prep, n_features, models = self._load_network()
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise DataError(f"x: must be numbers, got dtype {x.dtype}")
        if x.ndim < 2:
            raise DataError(f"x: must be rows of inputs, shape (n, {n_features}), got shape {x.shape} (one input: "
                            "x[None])")
        x = x.reshape(len(x), -1)
        if x.shape[1] != n_features:
            raise DataError(f"x: has {x.shape[1]} features per row; {self.name} was trained on {n_features}")
        xt = prep.transform(x).astype(cfg.dtype)
        return [m.predict(xt) for m in models]

    def predict_proba(self, x) -> np.ndarray:
        """Class probabilities (n, classes): the softmax of the network's outputs (a members ensemble: their
        mean), the inputs preprocessed as the training data were."""
        if self._load_network()[1] != "classification":
            raise RunError(f"{self.name}: a regression run has no class probabilities; use predict(x)")
        outs = self._outputs(x)
        return np.mean([softmax(o) for o in outs], axis=0)

    def predict(self, x) -> np.ndarray:
        """The class of each row (classification: the most probable) or the predicted values (regression: the
        mean over an ensemble's members; (n,) for one target, (n, k) for k)."""
        if self._load_network()[1] == "classification":
            return self.predict_proba(x).argmax(axis=1)
        out = np.mean([o.astype(np.float64) for o in self._outputs(x)], axis=0)
        return out[:, 0] if out.shape[1] == 1 else out

    def resume(self, *, quiet: bool = True, on_epoch=None) -> "Run":
        """Continue this run in place (nnlab.resume)."""
        return resume(self, quiet=quiet, on_epoch=on_epoch)

    def __repr__(self) -> str:
        s = self.summary
        test = (s.get("test") or {}).get("acc")
        parts = [self.status, f"{s.get('epochs', len(self._run.metrics))} epochs"]
        if test is not None:
            parts.append(f"test acc {percent(test)}")
        return f"Run({str(self.path)!r}: {', '.join(parts)})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Run) and os.path.realpath(self.path) == os.path.realpath(other.path)

    def __hash__(self) -> int:
        return hash(os.path.realpath(self.path))


def runs(folder="runs") -> list[Run]:
    """The runs in a folder (run folders, folders of runs, sweep folders' runs), newest first (``nnlab runs``)."""
    folder = Path(folder)
    if not folder.exists():
        raise RunError(f"{folder}: no such folder")
    found, _ = find_runs([folder])
    found.sort(key=lambda r: (r.started is not None, r.started or 0, str(r.path)), reverse=True)
    return [Run._of(r) for r in found]


def compare(runs_or_folder, *, metric: str | None = None, group: bool = True) -> list[dict]:
    """The rows ``nnlab compare`` prints, as dicts: for each run (or group of runs that differ only in the seed:
    mean and, under 'std', the spread) the settings that differ, the best ``metric`` (default val_acc, or
    val_loss for regression) and its epoch, the final losses, the test result, epochs and seconds."""
    if isinstance(runs_or_folder, (str, os.PathLike)):
        loaded = [r._run for r in runs(runs_or_folder)]
    else:
        loaded = [(r if isinstance(r, Run) else Run(r))._run for r in runs_or_folder]
    if not loaded:
        raise RunError("compare: no runs to compare")
    if metric is not None and metric not in ("val_acc", "val_loss", "train_acc", "train_loss"):
        raise ConfigError(f"metric: must be val_acc, val_loss, train_acc or train_loss, got {metric!r}")
    return to_rows(compare_runs(loaded, metric, group=group))


def dataset(name: str, **options) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A data set by name as arrays (x, y, x_test, y_test), as its loader gives them (before any split or
    preprocessing): ``nnlab.dataset("mnist")`` downloads MNIST once, ``nnlab.dataset("spiral", classes=4)``
    draws a spiral.  The options are the set's own (``nnlab list datasets``)."""
    errors: list[str] = []
    spec = datasets.resolve({"name": name, **plain(options)}, "dataset", errors)
    if errors:
        raise ConfigError(lines=errors)
    raw = datasets.build(spec)
    return raw.x, raw.y, raw.x_test, raw.y_test


# ------------------------------------------------------------------ sweeps


def _sweep_spec(file_or_config, params, method, trials, seeds, metric, name):
    if params is not None and not isinstance(params, (dict, list, tuple)):
        raise ConfigError(f"params: must be a mapping of config keys to values to search, e.g. "
                          f"{{'train.optimizer.lr': [1e-3, 1e-2]}}, got {type(params).__name__}")
    if seeds is not None and (isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__")):
        raise ConfigError(f"seeds: must be a list of whole numbers, e.g. [0, 1, 2], got {seeds!r}")
    if isinstance(file_or_config, (str, os.PathLike)):
        return load_sweep(file_or_config, params=plain(params) if params is not None else (), method=method,
                          trials=trials, seeds=",".join(str(s) for s in seeds) if seeds is not None else None,
                          metric=metric, name=name)
    if not isinstance(file_or_config, dict):
        raise ConfigError(f"sweep: must be the path of a sweep file or a config, or a mapping (dict), got "
                          f"{type(file_or_config).__name__}")
    data, errors, where = plain(file_or_config), [], Path("sweep")
    if is_sweep_file(data):
        raw, base_raw, file_params = data, base_config(data.get("config"), where, errors), data.get("params")
        raw = {k: v for k, v in raw.items() if k not in ("config", "params")}
    else:
        raw, base_raw, file_params = {}, data, {}
        base_raw.setdefault("name", "sweep")
    absolutize_data_path(base_raw, Path.cwd())
    plist = params_from(file_params, where, errors)
    for p in params_from(plain(params), where, errors) if isinstance(params, dict) else []:
        plist = [q for q in plist if q.path != p.path] + [p]
    if isinstance(params, (list, tuple)) and params:
        raise ConfigError("params: with a mapping as the sweep, give params as a mapping too, e.g. "
                          "{'train.optimizer.lr': [1e-3, 1e-2]}")
    for key, value in (("method", method), ("trials", trials), ("metric", metric), ("name", name)):
        if value is not None:
            raw[key] = value
    if seeds is not None:
        raw["seeds"] = list(seeds)
    return build_spec(raw, base_raw, plist, "sweep", errors)


class _SweepBar(SweepView):
    """A sweep's runs as a rich progress bar (quiet=False): one step per finished run."""

    def __init__(self, quiet: bool):
        self.quiet, self.bar, self.folder = quiet, None, None

    def start(self, sweep) -> None:
        self.folder = sweep.folder
        if self.quiet:
            return
        console = _console()
        total = sweep.total_runs
        done = sum(1 for t in sweep.trials.values() for r in t.records if r.finished)
        if _live_ok(console):
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description}", markup=False), BarColumn(bar_width=24),
                                MofNCompleteColumn(), TextColumn("runs"), TimeElapsedColumn(), console=console)
            self.bar.start()
            self.task = self.bar.add_task(sweep.spec.name, total=total, completed=done)
        else:
            console.print(f"sweep {sweep.spec.name}: {total} runs in {sweep.folder}", markup=False, soft_wrap=True)

    def finished(self, sweep, trial: int, seed: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=1)

    def stop(self, sweep) -> None:
        if self.bar is not None:
            self.bar.refresh()
            self.bar.stop()
            self.bar = None


def sweep(file_or_config=None, params=None, *, jobs: int | None = None, runs_dir="sweeps", method: str | None = None,
          trials: int | None = None, seeds=None, metric: str | None = None, name: str | None = None,
          resume=None, quiet: bool = True) -> "Sweep":
    """Run a sweep (``nnlab sweep``): grid, random or TPE search, each point once per seed, in parallel; the Sweep.

    ``file_or_config``: a sweep file, a config file (then ``params`` say what to search), or a mapping of either;
    ``params``: ``{"train.optimizer.lr": [1e-3, 1e-2], "model.activation": ["relu", "tanh"]}`` (choices) or
    ``{"train.optimizer.lr": {"low": 1e-4, "high": 1e-1, "log": True}}`` (a range); ``jobs``: runs at once
    (default: the cores); ``resume``: the folder of a stopped sweep to continue (nothing else given).
    The folder, ``<runs_dir>/<date_time>_<name>/``, is the command line's: trials.csv, runs/, best.yaml, ...
    """
    runs_dir = _runs_dir(runs_dir)
    if resume is not None:
        if file_or_config is not None or params is not None or any(
                v is not None for v in (method, seeds, metric, name)):
            raise ConfigError("resume: continues a sweep as its sweep.yaml says; give nothing else but jobs and "
                              "trials")
        spec = load_spec(resume)
        if spec.method == "grid" and trials:
            raise ConfigError("trials: a grid sweep runs every point once; it cannot have more trials")
    elif file_or_config is None:
        raise ConfigError("sweep: give a sweep file, a config with params, or a mapping, e.g. "
                          "nnlab.sweep('configs/base.yaml', params={'train.optimizer.lr': [1e-3, 1e-2]})")
    else:
        spec = _sweep_spec(file_or_config, params, method, trials, seeds, metric, name)
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ConfigError(f"jobs: must be a whole number >= 1, got {jobs!r}")
    n_runs = spec.n_trials * len(spec.seeds)
    jobs = max(1, min(jobs or cores(), cores(), n_runs))
    view = _SweepBar(quiet)
    try:
        with progress.reporting(None if quiet else _DownloadBar):
            sweep_, _ = run_sweep(spec, pool_maker(jobs, spec), runs_dir=runs_dir if resume is None else None,
                                  folder=resume, resume=resume is not None,
                                  more_trials=trials if resume is not None else None, view=view)
    except KeyboardInterrupt:
        if view.folder is not None and is_sweep_folder(view.folder):
            raise RunInterrupted(Sweep(view.folder)) from None
        raise
    return Sweep(sweep_.folder)


class Sweep:
    """A sweep folder, read back: its trials, the best one, the best configuration, its runs."""

    def __init__(self, path):
        self.path = Path(path)
        if not is_sweep_folder(self.path):
            raise RunError(f"{self.path}: not a sweep folder (expected sweep.yaml and trials.csv)")
        self._sweep = read_sweep(self.path)

    @property
    def name(self) -> str:
        return self._sweep.name

    @property
    def summary(self) -> dict:
        """summary.json: counts, the best params with their metric over the seeds, its test result."""
        return self._sweep.summary

    @property
    def status(self) -> str:
        return str(self.summary.get("status", "running"))

    @property
    def metric(self) -> str:
        return self._sweep.metric

    @property
    def trials(self) -> list[dict]:
        """One dict per trial (a point of the search): trial, params, status, value (the metric's mean over the
        seeds), std, values, seeds, and its run folders."""
        return [self._trial(t) for t in self._sweep.trials]

    def _trial(self, t) -> dict:
        return {"trial": t.number, "params": dict(t.params), "status": t.status, self.metric: t.value,
                "value": t.value, "std": t.std, "values": [r.value for r in t.records], "seeds": t.seeds,
                "runs": [self.path / "runs" / name for name in t.runs], "seconds": t.seconds}

    @property
    def best(self) -> dict | None:
        """The best trial (as in trials), with the test result of its configuration (the only one the sweep
        evaluated on the test set); None when no trial completed."""
        b = self._sweep.best
        if b is None:
            return None
        out = self._trial(b)
        out["test"] = (self.summary.get("best") or {}).get("test")
        return out

    @property
    def best_config(self) -> dict | None:
        """The winning configuration (best.yaml): nnlab.train(sweep.best_config) trains it again."""
        path = self.path / "best.yaml"
        if not path.is_file():
            return None
        return yaml.safe_load(files.read_text_bounded(path, files.CONFIG_MAX_BYTES, "a sweep's best.yaml"))

    def runs(self) -> list[Run]:
        """Every run of the sweep (its runs/ folder)."""
        return runs(self.path / "runs") if (self.path / "runs").is_dir() else []

    def __repr__(self) -> str:
        b = self._sweep.best
        best = f", best {self.metric} {number(b.value)} {b.params}" if b is not None else ""
        return f"Sweep({str(self.path)!r}: {self.status}, {len(self._sweep.trials)} trials{best})"
