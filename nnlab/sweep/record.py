"""The one trial record: what a sweep knows of its trials, live and read back from its folder alike.

A sweep folder holds sweep.yaml (the resolved spec), trials.csv (one row per run: trial x seed),
summary.json (the outcome and the best trial) and runs/<run>/, one ordinary run folder per row.
The running sweep (nnlab.sweep.lifecycle) keeps a ``Trial`` per trial number, writes trials.csv
with ``write_trials`` and summary.json's counts and best with ``outcome``; ``read_sweep`` reads a
folder back into the same ``Trial`` objects, so a folder reads the same whichever path reads it.

The rules, in one place:

- a run's status is one of RUN_STATUSES; it is finished (never run again) when in FINISHED;
- a trial's status: completed when every run completed, diverged when every run completed or
  diverged, else the first of failed, pruned, running, interrupted, queued that one of its runs has;
- a trial's value: the mean of its completed and diverged runs' values (a diverged run scores the
  worst value: 0 for an accuracy, +inf for a loss); a pruned trial's: the mean of its pruned runs'
  values at the epoch they were stopped (shown, never ranked);
- its std: the sample standard deviation over two or more finite values, else None;
- a trial is a candidate for best when every one of its runs completed (a configuration that diverged
  with some seed is never recommended); the best is the candidate with the best value, the lower trial
  number among equals.  A sweep whose every trial diverged has no best.

trials.csv keeps every value exactly (the shortest repr that reads back equal), so a value read back
equals the live one.  A missing or damaged file is a warning for the reader, never a crash.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from nnlab import files
from nnlab.text import setting

RUN_STATUSES = ("queued", "running", "completed", "diverged", "pruned", "failed", "interrupted")
FINISHED = ("completed", "diverged", "pruned", "failed")  # a run with one of these is never run again
VALUED = ("completed", "diverged")  # the runs a trial's value is the mean of
TRIAL_STATUSES = ("completed", "diverged", "pruned", "failed", "interrupted", "running", "queued")
TRIALS_MAX_BYTES = files.TABLE_MAX_BYTES  # trials.csv: a row per run, a few hundred bytes each
SPEC_MAX_BYTES = 4 << 20  # sweep.yaml and summary.json: the spec and the base config
FIXED_COLUMNS = ("trial", "seed", "status", "epochs", "seconds", "run", "message")  # besides params and metric


def run_name(trial: int, seed: int) -> str:
    """A sweep run's folder name under runs/: t007-seed1."""
    return f"t{trial:03d}-seed{seed}"


@dataclass
class RunRecord:
    """One run of a trial (one seed): what trials.csv says of it."""

    trial: int
    seed: int
    status: str = "queued"
    value: float | None = None  # the metric at the epoch whose weights the run kept
    epochs: int | None = None
    seconds: float | None = None
    message: str = ""  # why it failed or was pruned, as the run said it
    curve: list = field(default_factory=list)  # the metric per epoch (for the pruner's medians)
    started: float | None = None  # time.time() when it was sent off (live only)
    name: str = ""

    def __post_init__(self):
        self.name = self.name or run_name(self.trial, self.seed)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def trial_status(statuses: list[str]) -> str:
    if statuses and all(s == "completed" for s in statuses):
        return "completed"
    if statuses and all(s in VALUED for s in statuses):
        return "diverged"
    for s in ("failed", "pruned", "running", "interrupted", "queued"):
        if s in statuses:
            return s
    return statuses[0] if statuses else "queued"


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """The mean and the sample standard deviation (None below two values or with a non-finite one)."""
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2 or not all(math.isfinite(v) for v in values):
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


@dataclass
class Trial:
    """One point of a sweep (its param values) and its runs, one per seed, in the spec's seed order."""

    number: int
    params: dict
    records: list = field(default_factory=list)  # RunRecord per seed

    def run(self, seed: int) -> RunRecord:
        return next(r for r in self.records if r.seed == seed)

    @property
    def seeds(self) -> list:
        return [r.seed for r in self.records]

    @property
    def statuses(self) -> list[str]:
        return [r.status for r in self.records]

    @property
    def runs(self) -> list[str]:
        """The run folder names under runs/, in seed order."""
        return [r.name for r in self.records]

    @property
    def status(self) -> str:
        return trial_status(self.statuses)

    @property
    def done(self) -> bool:
        return all(r.finished for r in self.records)

    @property
    def values(self) -> list[float]:
        """The runs' values the trial's value is the mean of (see the module doc)."""
        out = [r.value for r in self.records if r.status in VALUED and _number(r.value)]
        if not out and self.status == "pruned":
            out = [r.value for r in self.records if r.status == "pruned" and _number(r.value)]
        return out

    @property
    def value(self) -> float | None:
        return mean_std(self.values)[0]

    @property
    def std(self) -> float | None:
        return mean_std(self.values)[1]

    @property
    def seconds(self) -> float | None:
        secs = [r.seconds for r in self.records if _number(r.seconds) and math.isfinite(r.seconds)]
        return sum(secs) if secs else None

    @property
    def candidate(self) -> bool:
        """Whether the trial can be the best: all its runs completed, and a value."""
        return self.status == "completed" and self.value is not None and not math.isnan(self.value)


def make_trial(number: int, params: dict, rows: list[dict]) -> Trial:
    """A Trial from its runs as plain rows: dicts with seed, status, value, and optionally epochs, seconds,
    message, run (the run folder's name)."""
    return Trial(number, dict(params), [
        RunRecord(number, r.get("seed", i), status=r.get("status") or "queued", value=r.get("value"),
                  epochs=r.get("epochs"), seconds=r.get("seconds"), message=r.get("message") or "",
                  name=r.get("run") or "") for i, r in enumerate(rows)])


def rank_trials(trials, direction: str = "maximize") -> list[Trial]:
    """The candidate trials, best first (ties by trial number)."""
    sign = -1.0 if direction == "maximize" else 1.0
    return sorted((t for t in trials if t.candidate), key=lambda t: (sign * t.value, t.number))


def best_trial(trials, direction: str = "maximize") -> Trial | None:
    ranked = rank_trials(trials, direction)
    return ranked[0] if ranked else None


def counts(trials, runs: bool = False) -> dict:
    """Trials (or, with ``runs``, runs) per status, every status present with 0 where there is none."""
    out = {s: 0 for s in TRIAL_STATUSES}
    for t in trials:
        for s in (t.statuses if runs else [t.status]):
            out[s] = out.get(s, 0) + 1
    return out


def best_entry(trial: Trial | None, test: dict | None = None) -> dict | None:
    """summary.json's ``best``: the trial, its params, its value and spread, each seed's value and run."""
    if trial is None:
        return None
    return {"trial": trial.number, "params": trial.params, "value": trial.value, "std": trial.std,
            "values": [r.value for r in trial.records], "seeds": trial.seeds, "runs": trial.runs, "test": test}


def outcome(trials, direction: str, test: dict | None = None) -> dict:
    """What summary.json says of the trials: counts of trials and of runs, and the best (nnlab sweep writes it,
    ``read_sweep``'s trials give the same)."""
    trials = list(trials)
    return {"counts": counts(trials), "run_counts": counts(trials, runs=True),
            "best": best_entry(best_trial(trials, direction), test)}


# ------------------------------------------------------------------ trials.csv


def cell(v) -> str:
    """A trials.csv cell: a number exactly (repr; inf and -inf spelled out), nothing for None."""
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    return str(v)


def trials_csv(trials, params: list[str], metric: str) -> str:
    """trials.csv's text: a header, then one row per run (trial x seed), trials in number order."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["trial", *params, "seed", "status", metric, "epochs", "seconds", "run", "message"])
    for t in sorted(trials, key=lambda t: t.number):
        for r in t.records:
            w.writerow([t.number, *(setting(t.params[p]) if p in t.params else "" for p in params), r.seed, r.status,
                        cell(r.value),
                        "" if r.epochs is None else r.epochs, "" if r.seconds is None else f"{r.seconds:.4g}", r.name,
                        " ".join(str(r.message or "").split())])
    return buf.getvalue()


def write_trials(folder, trials, params: list[str], metric: str) -> None:
    files.atomic_write(Path(folder) / "trials.csv", trials_csv(trials, params, metric))


def _number_cell(text):
    if text is None or text.strip() == "":
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _int_cell(text):
    v = _number_cell(text)
    return int(v) if v is not None and math.isfinite(v) and v.is_integer() else None


def param_value(text: str, spec: dict | None = None):
    """A trials.csv parameter cell (nnlab.text.setting's YAML flow text: [100, 100], relu, 0.001, '300')
    back to its value.  A range's cell that YAML reads as text ('1e-06': YAML 1.1 wants a dot) is a float."""
    import yaml

    try:
        value = files.yaml_load_bounded(text)
    except (yaml.YAMLError, ValueError, RecursionError):  # ValueError: aliases that expand without end
        value = text
    if isinstance(value, str) and (spec or {}).get("choices") is None and not text.startswith("'"):
        try:
            value = float(value)
        except ValueError:
            pass
    return value


def read_trials(text: str, params: dict, metric: str | None = None) -> tuple[list[Trial], str, int]:
    """Trials from trials.csv's text: (trials by number, the metric column, rows read).  Rows of the wrong
    length (a line cut mid-write) are left out; the metric is ``metric``, else the column after status."""
    if text and not text.endswith(("\n", "\r")):
        text = text[: text.rfind("\n") + 1]  # a last line cut mid-write
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    if header and metric not in header and "status" in header and header.index("status") + 1 < len(header):
        metric = header[header.index("status") + 1]
    if not params and "trial" in header and "seed" in header:
        params = {k: {} for k in header[header.index("trial") + 1: header.index("seed")]}
    by_trial: dict = {}
    rows = 0
    for cells in reader:
        if len(cells) != len(header):
            continue
        row = dict(zip(header, cells))
        number, seed = _int_cell(row.get("trial")), _int_cell(row.get("seed"))
        if number is None:
            continue
        rows += 1
        status = row.get("status") if row.get("status") in RUN_STATUSES else "queued"
        if number not in by_trial:
            by_trial[number] = Trial(number, {k: param_value(row[k], s) for k, s in params.items()
                                              if row.get(k) not in (None, "")})  # blank: a list point leaves k out
        by_trial[number].records.append(RunRecord(
            number, seed if seed is not None else -1, status=status, value=_number_cell(row.get(metric)),
            epochs=_int_cell(row.get("epochs")), seconds=_number_cell(row.get("seconds")),
            message=row.get("message") or "", name=row.get("run") or ""))
    return [by_trial[n] for n in sorted(by_trial)], metric or "val_acc", rows


# ------------------------------------------------------------------ what nnlab writes in a sweep folder

SWEEP_FILES = {"sweep.yaml", "trials.csv", "summary.json", "best.yaml", "params.png", "progress.png", "best_curves.png",
               "optuna.journal", "claim.json", ".lock"}
RUN_FILES = {"config.yaml", "summary.json", "metrics.csv", "diagnostics.csv", "checkpoint.npz", "model.npz",
             "curves.png", "diagnostics.png", ".lock"}
# the temporary file of an atomic write a kill interrupted: .<stem>.<random><suffix> (nnlab.files.atomic_path)
TEMPORARY = re.compile(r"\.[A-Za-z_]+\.[A-Za-z0-9_]+\.(yaml|json|csv|npz|png|tmp|journal)")


def made_in_run_folder(rel: Path, is_dir: bool) -> bool:
    """Whether nnlab writes the entry ``rel`` of a run folder: its files, or a members ensemble's members/ (a
    sweep folder)."""
    parts = rel.parts
    if parts[0] == "members":
        return len(parts) == 1 and is_dir or made_in_sweep_folder(Path(*parts[1:]), is_dir)
    return len(parts) == 1 and not is_dir and (parts[0] in RUN_FILES or bool(TEMPORARY.fullmatch(parts[0])))


def made_in_sweep_folder(rel: Path, is_dir: bool) -> bool:
    """Whether nnlab writes the entry ``rel`` of a sweep folder: its files, runs/, and run folders named as a
    sweep names them (t007-seed1) holding a run's files."""
    parts = rel.parts
    if parts[0] != "runs":
        return len(parts) == 1 and not is_dir and (parts[0] in SWEEP_FILES or bool(TEMPORARY.fullmatch(parts[0])))
    if len(parts) == 1:
        return is_dir
    if not re.fullmatch(r"t\d{3,}-seed\d+", parts[1]):
        return False
    return is_dir if len(parts) == 2 else made_in_run_folder(Path(*parts[2:]), is_dir)


# ------------------------------------------------------------------ reading a whole sweep folder


def is_sweep_folder(path) -> bool:
    """Whether ``path`` is a sweep folder: a folder holding sweep.yaml and trials.csv."""
    p = Path(path)
    try:
        return p.is_dir() and (p / "sweep.yaml").is_file() and (p / "trials.csv").is_file()
    except OSError:
        return False


def default_direction(metric: str) -> str:
    return "minimize" if str(metric).endswith("loss") else "maximize"


@dataclass
class SweepFolder:
    """What a sweep folder holds, read back (see the module doc)."""

    path: Path
    name: str
    metric: str = "val_acc"
    direction: str = "maximize"
    method: str | None = None
    seeds: list = field(default_factory=list)
    params: dict = field(default_factory=dict)  # dotted path -> its spec in sweep.yaml, in the spec's order
    spec: dict = field(default_factory=dict)
    trials: list = field(default_factory=list)  # Trial, by trial number
    rows: int = 0  # rows of trials.csv read
    summary: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)

    @property
    def n_seeds(self) -> int:
        if self.seeds:
            return len(self.seeds)
        return max((len(t.records) for t in self.trials), default=1) or 1

    @property
    def best(self) -> Trial | None:
        """The best candidate of trials.csv (summary.json may be older than trials.csv)."""
        return best_trial(self.trials, self.direction)

    def counts(self) -> dict:
        """Trials per status (the statuses there are), counted from trials.csv."""
        return {s: n for s, n in counts(self.trials).items() if n}


def _read_text(path: Path, limit: int) -> str:
    return files.read_bytes_bounded(path, limit, f"a sweep's {path.name}").decode("utf-8")


def read_sweep(folder) -> SweepFolder:
    """Read a sweep folder (defensively: damaged files become warnings)."""
    import yaml

    path = Path(folder)
    sweep = SweepFolder(path=path, name=path.name)
    spec: dict = {}
    try:
        loaded = files.yaml_load_bounded(_read_text(path / "sweep.yaml", SPEC_MAX_BYTES))
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
    if isinstance(spec.get("params"), dict):
        sweep.params = {str(k): (v if isinstance(v, dict) else {}) for k, v in spec["params"].items()}
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
    metric = spec.get("metric") if isinstance(spec.get("metric"), str) else None
    text = ""
    try:
        text = _read_text(path / "trials.csv", TRIALS_MAX_BYTES)
    except FileNotFoundError:
        sweep.warnings.append("no trials.csv")
    except (OSError, UnicodeDecodeError):
        sweep.warnings.append("trials.csv is unreadable")
    try:
        sweep.trials, sweep.metric, sweep.rows = read_trials(text, sweep.params, metric)
    except csv.Error:
        sweep.warnings.append("trials.csv is unreadable")
        sweep.metric = metric or "val_acc"
    if not sweep.params and sweep.trials:
        sweep.params = {k: {} for k in sweep.trials[0].params}
    direction = spec.get("direction")
    sweep.direction = direction if direction in ("maximize", "minimize") else default_direction(sweep.metric)
    return sweep
