"""Reading run folders back, defensively: a missing or damaged file is a warning, never a crash."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from nnlab.errors import RunError
from nnlab.files import (CONFIG_MAX_BYTES, TABLE_MAX_BYTES, YAMLRefused, load_npz_bounded, read_text_bounded,
                         yaml_load_bounded)
from nnlab.metrics import METRICS

TIMESTAMP = "%Y-%m-%d_%H-%M-%S"  # a run folder's name starts with its start time


def process_start(pid) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), or None."""
    try:
        with open(f"/proc/{int(pid)}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
        # the command name (field 2) may hold spaces and parentheses: split after its last ')'
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def complete_rows(path: str | os.PathLike) -> csv.DictReader:
    """A DictReader over the file's complete lines: a last line without its newline is a truncated write.

    The writer ends every row with a line terminator, so a file that does not end with one
    was cut mid-row (a killed process, a full disk); that line may even parse, with wrong numbers.
    """
    # a FIFO or device in a run folder is refused (OSError), never waited on or read without end
    text = read_text_bounded(path, TABLE_MAX_BYTES, f"a run's {Path(path).name}")
    if text and not text.endswith(("\n", "\r")):
        text = text[: text.rfind("\n") + 1]
    return csv.DictReader(io.StringIO(text, newline=""))


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """Rows of a metrics.csv as dicts of floats (None for empty cells); a truncated last line is dropped."""
    rows = []
    reader = complete_rows(path)
    for raw in reader:
        if None in raw or None in raw.values():
            continue  # too few or too many cells: not a row the writer wrote
        try:
            row = {k: (None if v == "" else float(v)) for k, v in raw.items()}
            row["epoch"] = int(row["epoch"])  # a row without its epoch is not one the writer wrote
        except (KeyError, TypeError, ValueError, OverflowError):
            continue
        rows.append(row)
    return rows




# ------------------------------------------------------------------ validating what a folder holds

_BAD = object()  # a value of the wrong type


def summary_number(v, bad=None):
    """A number as summary.json holds it (write_json spells infinities "inf"/"-inf"); ``bad`` otherwise."""
    if isinstance(v, bool):
        return bad
    if isinstance(v, (int, float)):
        return v
    if v in ("inf", "-inf", "nan"):
        return float(v)
    return bad


def _number(v):
    return summary_number(v, _BAD)


def _int(v):
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v if isinstance(v, int) and not isinstance(v, bool) else _BAD


def _text(v):
    return v if isinstance(v, str) else _BAD


def _flag(v):
    return v if isinstance(v, bool) else _BAD


def _mapping(v):
    return v if isinstance(v, dict) else _BAD


def _numbers(v, field, warnings, ints=()):
    """A mapping of numbers (final, test): wrong-typed entries dropped with a warning."""
    if not isinstance(v, dict):
        return _BAD
    out = {}
    for k, x in v.items():
        y = x if x is None else (_int if k in ints else _number)(x)
        if y is _BAD:
            warnings.append(f"summary.json: field '{field}.{k}' is not a number, ignored")
        else:
            out[k] = y
    return out


def _best(v, warnings):
    if not isinstance(v, dict):
        return _BAD
    if v.get("metric") not in METRICS:
        warnings.append(f"summary.json: field 'best' names no known metric ({', '.join(METRICS)}), ignored")
        return None
    out = _numbers({k: x for k, x in v.items() if k != "metric"}, "best", warnings, ints=("epoch",))
    if _number(out.get(v["metric"])) is _BAD:
        warnings.append(f"summary.json: field 'best' has no number for {v['metric']}, ignored")
        return None
    return {"metric": v["metric"], **out}


def _diagnosis(v, warnings):
    if not isinstance(v, list):
        return _BAD
    out = []
    for f in v:
        if isinstance(f, dict) and isinstance(f.get("message"), str):
            out.append({**f, "code": f["code"] if isinstance(f.get("code"), str) else ""})
        else:
            warnings.append("summary.json: a 'diagnosis' entry without a text message, ignored")
    return out


def _data(v, warnings):
    if not isinstance(v, dict):
        return _BAD
    out = {}
    for k, x in v.items():
        y = x if x is None else (_int(x) if k.startswith("n_") else _text(x) if k in ("name", "task") else x)
        if y is _BAD:
            warnings.append(f"summary.json: field 'data.{k}' has the wrong type, ignored")
        else:
            out[k] = y
    return out


def _alone(check):
    return lambda v, warnings: check(v)


# summary.json field -> (what it must be, check(value, warnings) -> the clean value or _BAD)
_SUMMARY_FIELDS = {
    **{k: ("text", _alone(_text)) for k in ("name", "status", "message", "config_source", "started", "finished", "host",
                                     "command", "git_commit", "plot_error")},
    **{k: ("a whole number", _alone(_int)) for k in ("pid", "pid_start", "seed", "n_params", "epochs", "restored_epoch")},
    **{k: ("a number", _alone(_number)) for k in ("train_seconds", "samples_per_second", "wall_seconds")},
    "stopped_early": ("true or false", _alone(_flag)),
    "versions": ("a mapping", _alone(_mapping)),
    "final": ("a mapping of numbers", lambda v, w: _numbers(v, "final", w)),
    "test": ("a mapping of numbers", lambda v, w: _numbers(v, "test", w)),
    "best": ("a mapping", _best),
    "diagnosis": ("a list", _diagnosis),
    "data": ("a mapping", _data),
}


def clean_summary(summary: dict, warnings: list) -> dict:
    """summary.json with every field nnlab reads checked for its type; a wrong-typed field is dropped
    (one warning each), so no reader meets a string where a number belongs.  Unknown fields stay."""
    out = {}
    for key, value in summary.items():
        if key not in _SUMMARY_FIELDS or value is None:
            out[key] = value
            continue
        what, check = _SUMMARY_FIELDS[key]
        clean = check(value, warnings)
        if clean is _BAD:
            warnings.append(f"summary.json: field '{key}' is not {what}, ignored")
        elif clean is not None:
            out[key] = clean
    if isinstance(out.get("pid"), int) and out["pid"] <= 0:
        del out["pid"]  # os.kill(-n, 0) would ask about a process group
    return out


def _keys_are_text(v) -> bool:
    if isinstance(v, dict):
        return all(isinstance(k, str) and _keys_are_text(x) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return all(_keys_are_text(x) for x in v)
    return True


def config_problem(config) -> str | None:
    """Why a loaded config.yaml cannot be used as a resolved config, or None when it can."""
    if not isinstance(config, dict):
        return "is not a mapping"
    for key in ("data", "model", "train"):
        if key in config and not isinstance(config[key], dict):
            return f"'{key}' is not a mapping"
    if "name" in config and not isinstance(config["name"], str):
        return "'name' is not text"
    if config.get("seed") is not None and _int(config["seed"]) is _BAD:
        return "'seed' is not a whole number"
    if not _keys_are_text(config):
        return "has a key that is not text"
    return None


STATUSES = ("completed", "diverged", "pruned", "interrupted", "failed", "running", "crashed", "incomplete")


@dataclass
class Run:
    """What a run folder holds, read defensively: missing or damaged files become warnings."""

    path: Path
    name: str
    status: str
    config: dict | None = None
    summary: dict = field(default_factory=dict)
    metrics: list = field(default_factory=list)
    diagnostics: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    @property
    def started(self) -> datetime | None:
        text = self.summary.get("started")
        if isinstance(text, str) and text:
            try:
                return datetime.fromisoformat(text)
            except ValueError:
                pass
        try:
            return datetime.strptime(self.path.name[:19], TIMESTAMP)
        except ValueError:
            return None

    @property
    def seconds(self) -> float | None:
        s = self.summary.get("wall_seconds")
        if not isinstance(s, (int, float)) or isinstance(s, bool):
            s = sum(r.get("seconds") or 0 for r in self.metrics) if self.metrics else None
        return s

    @property
    def task(self) -> str:
        data = self.summary.get("data")
        if isinstance(data, dict) and data.get("task") in ("classification", "regression"):
            return data["task"]
        return "classification" if any(r.get("train_acc") is not None for r in self.metrics) else "regression"


def process_alive(pid: int | None, host: str | None, pid_start: int | None = None) -> bool | None:
    """True/False for a process on this host; None when it cannot be told (another host).

    With ``pid_start`` (recorded at the run's start) a pid since reused by another
    process counts as gone.
    """
    if not pid or host != socket.gethostname():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        pass
    if pid_start is not None:
        now = process_start(pid)
        if now is not None and now != pid_start:
            return False
    return True


def read_summary_json(folder) -> dict:
    """A folder's summary.json as a mapping (a regular file under the size cap); {} when missing or damaged."""
    try:
        s = json.loads(read_text_bounded(Path(folder) / "summary.json", CONFIG_MAX_BYTES, "a summary.json"))
    except (OSError, ValueError, RecursionError):
        return {}
    return s if isinstance(s, dict) else {}


def folder_kind(path) -> str | None:
    """What a folder holds, for the readers of runs: 'run' (or None when it is no run at all), or the kind
    another command wrote into its summary.json ('sweep', 'lr-find', 'ensemble of runs'), or 'group' for a
    folder that keeps run folders under runs/ without a config of its own (a sweep folder of any age)."""
    p = Path(path)
    try:
        if not p.is_dir():
            return None
        names = {c.name for c in p.iterdir()}
    except OSError:
        return None
    if "summary.json" in names:
        kind = read_summary_json(p).get("kind")
        if isinstance(kind, str) and kind != "run":
            return kind
    if "runs" in names and "config.yaml" not in names and (p / "runs").is_dir():
        return "group"
    if "lr_find.csv" in names:  # written by nnlab lr-find before it wrote its kind
        return "lr-find"
    return "run" if names & {"config.yaml", "summary.json", "metrics.csv"} else None


def holds_runs(path) -> bool:
    """Whether ``path`` keeps its run folders under runs/ (a sweep folder): readers look there."""
    return folder_kind(path) in ("sweep", "group")


def load_run(path: str | os.PathLike) -> Run | None:
    """Read one run folder; None if the folder does not look like a run at all."""
    path = Path(path)
    if folder_kind(path) != "run":  # a sweep's or a range test's summary.json is not a run's
        return None
    files = {p.name for p in path.iterdir()}
    run = Run(path=path, name=path.name, status="incomplete")
    if "config.yaml" in files:
        import yaml

        try:
            run.config = yaml_load_bounded(read_text_bounded(path / "config.yaml", CONFIG_MAX_BYTES,
                                                             "a run's config.yaml"))
            problem = config_problem(run.config)
            if problem:
                run.config, _ = None, run.warnings.append(f"config.yaml {problem}, ignored")
        except (OSError, yaml.YAMLError, UnicodeDecodeError, RecursionError, ValueError) as exc:
            run.config = None
            run.warnings.append("config.yaml is unreadable" + _why(exc, path / "config.yaml"))
    if run.config and isinstance(run.config.get("name"), str):
        run.name = run.config["name"]
    if "summary.json" in files:
        try:
            summary = json.loads(read_text_bounded(path / "summary.json", CONFIG_MAX_BYTES, "a run's summary.json"))
            if not isinstance(summary, dict):
                raise ValueError
            run.summary = clean_summary(summary, run.warnings)
        except OSError as exc:
            run.warnings.append("summary.json is unreadable" + _why(exc, path / "summary.json"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            run.warnings.append("summary.json is damaged")
    for name, read, attr in (("metrics.csv", read_metrics, "metrics"), ("diagnostics.csv", read_diagnostics,
                                                                         "diagnostics")):
        if name in files:
            try:
                setattr(run, attr, read(path / name))
            except (OSError, UnicodeDecodeError, csv.Error) as exc:
                run.warnings.append(f"{name} is unreadable" + _why(exc, path / name))
    status = run.summary.get("status")
    if status == "running":
        alive = process_alive(run.summary.get("pid"), run.summary.get("host"), run.summary.get("pid_start"))
        status = "crashed" if alive is False else "running"
    if status not in STATUSES:
        status = "incomplete"
    run.status = status
    return run


def _why(exc: BaseException, path: Path) -> str:
    """' (is a named pipe (FIFO), not a regular file)': the reason of a bounded read's refusal, without
    the path the warning already names; nothing for other errors (their text is not for users)."""
    text, prefix = str(exc), f"{path}: "
    if isinstance(exc, YAMLRefused):
        return f" ({text})"
    if isinstance(exc, OSError) and text.startswith(prefix):  # a bounded read's refusal
        return f" ({text[len(prefix):].split('; expected')[0]})"
    return ""


def read_diagnostics(path) -> list[dict]:
    rows = []
    for raw in complete_rows(path):
        if None in raw.values() or None in raw:
            continue  # too few or too many cells
        row = {}
        try:
            for k, v in raw.items():
                row[k] = v if k == "layer" else (None if v == "" else float(v))
            row["epoch"] = int(row["epoch"])
        except (KeyError, TypeError, ValueError, OverflowError):
            continue
        rows.append(row)
    return rows


def find_runs(paths) -> tuple[list[Run], list[str]]:
    """Load every run among ``paths`` (run folders, or folders of runs); return (runs, warnings).

    A sweep folder (sweep.yaml and trials.csv inside) stands for the runs under its runs/.
    """
    runs, warnings = [], []
    seen: set = set()

    def add(run: Run) -> None:
        key = os.path.realpath(run.path)
        if key in seen:  # named twice (runs/* runs/*adam*): one run, not two seeds
            return
        seen.add(key)
        runs.append(run)
        warnings.extend(f"{run.path}: {w}" for w in run.warnings)

    for p in paths:
        p = Path(p)
        if not p.exists():
            warnings.append(f"{p}: no such folder, skipped")
            continue
        kind = folder_kind(p)
        if kind == "sweep" and not (p / "runs").is_dir():
            warnings.append(f"{p}: a sweep with no runs/ folder yet, skipped")
            continue
        if holds_runs(p):  # its summary.json is the sweep's; its runs are under runs/
            p = p / "runs"
        elif kind == "lr-find":
            warnings.append(f"{p}: a range test of nnlab lr-find, not a run; skipped (see its lr_find.png)")
            continue
        before = len(warnings)
        run = _try_load(p, warnings)
        if run is not None:
            add(run)
            continue
        if len(warnings) > before:  # unreadable: already reported
            continue
        try:
            children = sorted(c for c in p.iterdir() if c.is_dir()) if p.is_dir() else []
        except OSError as exc:
            warnings.append(f"{p}: cannot be read ({exc.strerror or exc}), skipped")
            continue
        children = [g for c in children for g in (_sweep_runs(c) if holds_runs(c) else [c])]
        found = [r for r in (_try_load(c, warnings) for c in children) if r is not None]
        if found:
            for r in found:
                add(r)
        else:
            warnings.append(f"{p}: not a run folder, skipped")
    return runs, warnings


def _sweep_runs(sweep: Path) -> list[Path]:
    """The run folders of a sweep folder found among a folder's children (none when unreadable)."""
    try:
        return sorted(c for c in (sweep / "runs").iterdir() if c.is_dir())
    except OSError:
        return []


def _try_load(path: Path, warnings: list) -> Run | None:
    """load_run, with a folder that cannot be listed (permissions) reported instead of raised."""
    try:
        return load_run(path)
    except OSError as exc:
        warnings.append(f"{path}: cannot be read ({exc.strerror or exc}), skipped")
        return None



def load_model(run_dir, dataset, cfg=None):
    """The trained network of a finished run folder: its config.yaml's network with model.npz's weights
    (read as a regular file under the size cap, never unpickled), or one RunError line."""
    # here, not at the top: reading run folders (runs, compare, show) must not load the trainer
    from nnlab.config import load_config
    from nnlab.train.trainer import build

    run_dir = Path(run_dir)
    cfg = cfg or load_config(run_dir / "config.yaml")
    model, _, _ = build(cfg, dataset)
    path = run_dir / "model.npz"
    try:
        model.load_state(load_npz_bounded(path, "a run's model.npz", RunError))
    except (KeyError, ValueError, IndexError) as exc:  # weights of another network, or of none
        what = f"no array {exc}" if isinstance(exc, KeyError) else str(exc)
        raise RunError(f"{path}: does not hold the weights of its config.yaml's network ({what}); "
                       "the run folder looks damaged") from None
    return model
