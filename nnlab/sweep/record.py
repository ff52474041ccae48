"""Reading a sweep folder (what ``nnlab sweep`` writes) back, defensively, for figures and reports.

A sweep folder holds sweep.yaml (the resolved spec), trials.csv (one row per run:
trial x seed), summary.json (the outcome and the best trial) and runs/<run>/, one
ordinary run folder per row.  ``read_sweep`` turns it into a ``Sweep``: the spec's
parameters, and one ``Trial`` per trial number with its value (the mean over the
seeds' completed or diverged runs).  A missing or damaged file is a warning, never
a crash.  Nothing here imports matplotlib or the sweep runner.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

TRIALS_MAX_BYTES = 64 << 20  # trials.csv: a row per run, a few hundred bytes each
SPEC_MAX_BYTES = 4 << 20  # sweep.yaml and summary.json: the spec and the base config

VALUED = ("completed", "diverged")  # the runs a trial's value is the mean of
TRIAL_STATUSES = ("completed", "diverged", "pruned", "failed", "interrupted", "running", "queued")
_FIXED = ("trial", "seed", "status", "epochs", "seconds", "run")  # trials.csv columns besides params and metric


def is_sweep_folder(path) -> bool:
    """Whether ``path`` is a sweep folder: a folder holding sweep.yaml and trials.csv."""
    p = Path(path)
    try:
        return p.is_dir() and (p / "sweep.yaml").is_file() and (p / "trials.csv").is_file()
    except OSError:
        return False


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def default_direction(metric: str) -> str:
    return "minimize" if str(metric).endswith("loss") else "maximize"


@dataclass
class Trial:
    """One trial: its parameter values and the outcome over its seeds.

    ``value`` is the mean of the completed/diverged runs' metric (of the pruned runs' when
    it was pruned); ``std`` the sample standard deviation over two or more finite values.
    ``status`` sums up the runs: completed when all completed, diverged when the others
    completed, otherwise the first of failed, pruned, running, interrupted, queued found (as nnlab sweep).
    """

    number: int
    params: dict = field(default_factory=dict)
    value: float | None = None
    std: float | None = None
    status: str = "completed"
    values: list = field(default_factory=list)  # the metric of each run the value is the mean of
    seeds: list = field(default_factory=list)  # every run's seed, in trials.csv order
    statuses: list = field(default_factory=list)  # every run's status, in the same order
    runs: list = field(default_factory=list)  # every run's folder name under runs/
    seconds: float | None = None  # summed over the runs

    @property
    def candidate(self) -> bool:
        """Whether the trial can be the best: all its runs completed or diverged, and a value."""
        return self.status in VALUED and self.value is not None and not math.isnan(self.value)


def trial_status(statuses: list[str]) -> str:
    if statuses and all(s == "completed" for s in statuses):
        return "completed"
    if statuses and all(s in VALUED for s in statuses):
        return "diverged"
    for s in ("failed", "pruned", "running", "interrupted", "queued"):
        if s in statuses:
            return s
    return statuses[0] if statuses else "queued"


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    mean = sum(values) / len(values)
    finite = [v for v in values if _finite(v)]
    if len(values) < 2 or len(finite) != len(values):
        return mean, None
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var)


def make_trial(number: int, params: dict, rows: list[dict]) -> Trial:
    """A Trial from its runs' rows: dicts with seed, status, value (the metric, or None), seconds, run."""
    statuses = [r.get("status") or "queued" for r in rows]
    status = trial_status(statuses)
    values = [r["value"] for r in rows if r.get("status") in VALUED and _is_number(r.get("value"))]
    if not values and status == "pruned":
        values = [r["value"] for r in rows if r.get("status") == "pruned" and _is_number(r.get("value"))]
    mean, std = _mean_std(values)
    secs = [r["seconds"] for r in rows if _finite(r.get("seconds"))]
    return Trial(number=number, params=dict(params), value=mean, std=std, status=status, values=values,
                 seeds=[r.get("seed") for r in rows], statuses=statuses, runs=[r.get("run") or "" for r in rows],
                 seconds=sum(secs) if secs else None)


def best_trial(trials: list[Trial], direction: str = "maximize") -> Trial | None:
    """The best candidate trial (the first of equals by trial number), or None."""
    ranked = rank_trials(trials, direction)
    return ranked[0] if ranked else None


def rank_trials(trials: list[Trial], direction: str = "maximize") -> list[Trial]:
    """The candidate trials, best first (ties by trial number)."""
    sign = -1.0 if direction == "maximize" else 1.0
    return sorted((t for t in trials if t.candidate), key=lambda t: (sign * t.value, t.number))


@dataclass
class Sweep:
    """What a sweep folder holds (see the module doc)."""

    path: Path
    name: str
    metric: str = "val_acc"
    direction: str = "maximize"
    method: str | None = None
    seeds: list = field(default_factory=list)
    params: dict = field(default_factory=dict)  # dotted path -> normalized spec, in the spec's order
    spec: dict = field(default_factory=dict)
    trials: list = field(default_factory=list)  # Trial, by trial number
    rows: int = 0  # rows of trials.csv read
    summary: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)

    @property
    def n_seeds(self) -> int:
        if self.seeds:
            return len(self.seeds)
        return max((len(t.seeds) for t in self.trials), default=1) or 1

    @property
    def best(self) -> Trial | None:
        """The best candidate of trials.csv (nnlab sweep's rule; summary.json may be older than trials.csv)."""
        return best_trial(self.trials, self.direction)

    def counts(self) -> dict:
        """Trials per status, counted from trials.csv."""
        out: dict = {s: 0 for s in TRIAL_STATUSES}
        for t in self.trials:
            out[t.status] = out.get(t.status, 0) + 1
        return {s: n for s, n in out.items() if n}


def _read_text(path: Path, limit: int) -> str:
    from nnlab.files import read_bytes_bounded

    return read_bytes_bounded(path, limit, f"a sweep's {path.name}").decode("utf-8")


def _number_cell(text: str):
    if text is None or text.strip() == "":
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _int_cell(text: str):
    v = _number_cell(text)
    return int(v) if v is not None and v.is_integer() else None


def param_value(text: str, spec: dict | None = None):
    """A trials.csv parameter cell: YAML flow text ('[100, 100]', 'relu', '0.001').

    A numeric range's cell that YAML reads as text ('1e-06': YAML 1.1 wants a dot) is a float.
    """
    import yaml

    from nnlab.files import yaml_load_bounded

    try:
        value = yaml_load_bounded(text)
    except (yaml.YAMLError, ValueError, RecursionError):  # ValueError: aliases that expand without end
        value = text
    if isinstance(value, str) and (spec or {}).get("choices") is None:
        try:
            value = float(value)
        except ValueError:
            pass
    return value


def read_sweep(folder) -> Sweep:
    """Read a sweep folder (defensively: damaged files become warnings)."""
    import yaml

    from nnlab.files import yaml_load_bounded

    path = Path(folder)
    sweep = Sweep(path=path, name=path.name)
    spec: dict = {}
    try:
        loaded = yaml_load_bounded(_read_text(path / "sweep.yaml", SPEC_MAX_BYTES))
        if isinstance(loaded, dict):
            spec = loaded
        else:
            sweep.warnings.append("sweep.yaml is not a mapping, ignored")
    except FileNotFoundError:
        sweep.warnings.append("no sweep.yaml")
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError, ValueError):
        sweep.warnings.append("sweep.yaml is unreadable")
    sweep.spec = spec
    if isinstance(spec.get("name"), str) and spec["name"]:
        sweep.name = spec["name"]
    if isinstance(spec.get("method"), str):
        sweep.method = spec["method"]
    if isinstance(spec.get("seeds"), list):
        sweep.seeds = list(spec["seeds"])
    params = spec.get("params")
    if isinstance(params, dict):
        sweep.params = {str(k): (v if isinstance(v, dict) else {}) for k, v in params.items()}

    try:
        summary = json.loads(_read_text(path / "summary.json", SPEC_MAX_BYTES))
        if isinstance(summary, dict):
            sweep.summary = summary
        else:
            sweep.warnings.append("summary.json is not a mapping, ignored")
    except FileNotFoundError:
        pass  # a sweep still running may not have written it yet
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        sweep.warnings.append("summary.json is damaged")

    header, rows = [], []
    try:
        text = _read_text(path / "trials.csv", TRIALS_MAX_BYTES)
        if text and not text.endswith(("\n", "\r")):
            text = text[: text.rfind("\n") + 1]  # a last line cut mid-write
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, [])
        rows = [r for r in reader if len(r) == len(header)]
    except FileNotFoundError:
        sweep.warnings.append("no trials.csv")
    except (OSError, UnicodeDecodeError, csv.Error):
        sweep.warnings.append("trials.csv is unreadable")

    # the metric: the spec's, else the column after status
    metric = spec.get("metric") if isinstance(spec.get("metric"), str) else None
    if header and metric not in header and "status" in header and header.index("status") + 1 < len(header):
        metric = header[header.index("status") + 1]
    sweep.metric = metric = metric or "val_acc"
    direction = spec.get("direction")
    sweep.direction = direction if direction in ("maximize", "minimize") else default_direction(metric)
    if not sweep.params and "trial" in header and "seed" in header:
        sweep.params = {k: {} for k in header[header.index("trial") + 1: header.index("seed")]}

    by_trial: dict = {}
    for cells in rows:
        row = dict(zip(header, cells))
        number = _int_cell(row.get("trial"))
        if number is None:
            continue
        sweep.rows += 1
        status = row.get("status") or "queued"
        entry = by_trial.setdefault(number, ({}, []))
        if not entry[0]:
            entry[0].update({k: param_value(row[k], s) for k, s in sweep.params.items() if k in row})
        entry[1].append({"seed": _int_cell(row.get("seed")), "status": status,
                         "value": _number_cell(row.get(metric)), "seconds": _number_cell(row.get("seconds")),
                         "run": row.get("run") or ""})
    sweep.trials = [make_trial(n, p, rs) for n, (p, rs) in sorted(by_trial.items())]
    return sweep
