"""Run folders: create them, write their files safely, read them back.

A run folder ``runs/<YYYY-MM-DD_HH-MM-SS>_<name>/`` holds:
  config.yaml   the fully resolved config, written first (replays the run)
  metrics.csv   one row per epoch, appended and flushed as training goes
  summary.json  written last, atomically: status, best, final, test, timing, versions
  curves.png    loss, accuracy and learning rate against epoch
  model.npz     the trained weights (no pickle)

Every whole-file write goes to a temporary file in the same folder and is then
renamed over the target (os.replace), so a crash never leaves a half-written file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from nnlab.errors import RunError
from nnlab.files import atomic_savez, atomic_write  # noqa: F401 (part of this module's API)

TIMESTAMP = "%Y-%m-%d_%H-%M-%S"


def create_run_dir(runs_dir: str | os.PathLike, name: str, now: datetime | None = None) -> Path:
    """Make a new, empty run folder; two runs started in the same second get distinct folders."""
    runs_dir = Path(runs_dir)
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"{runs_dir}: cannot create the runs folder ({exc.strerror})") from None
    stamp = (now or datetime.now()).strftime(TIMESTAMP)
    base = f"{stamp}_{name}"
    for i in range(1, 10_000):
        path = runs_dir / (base if i == 1 else f"{base}-{i}")
        try:
            os.mkdir(path)  # atomic: fails if another run took the name first
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise RunError(f"{path}: cannot create the run folder ({exc.strerror})") from None
    raise RunError(f"{runs_dir}: too many runs named {base}")


class MetricsWriter:
    """Appends one CSV row per epoch and flushes it, so a killed run keeps its curve."""

    def __init__(self, path: str | os.PathLike, columns: list[str]):
        self.path, self.columns = Path(path), list(columns)
        self._f = open(self.path, "w", newline="", encoding="utf-8")
        self._w = csv.writer(self._f)
        self._w.writerow(self.columns)
        self._f.flush()

    def write(self, row: dict) -> None:
        self._w.writerow([_cell(row.get(c)) for c in self.columns])
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)  # shortest exact repr: replays compare equal
    return str(v)


def _complete_rows(path: str | os.PathLike) -> csv.DictReader:
    """A DictReader over the file's complete lines: a last line without its newline is a truncated write.

    The writer ends every row with a line terminator, so a file that does not end with one
    was cut mid-row (a killed process, a full disk); that line may even parse, with wrong numbers.
    """
    with open(path, newline="", encoding="utf-8") as f:
        text = f.read()
    if text and not text.endswith(("\n", "\r")):
        text = text[: text.rfind("\n") + 1]
    return csv.DictReader(io.StringIO(text, newline=""))


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """Rows of a metrics.csv as dicts of floats (None for empty cells); a truncated last line is dropped."""
    rows = []
    reader = _complete_rows(path)
    for raw in reader:
        if None in raw or None in raw.values():
            continue  # too few or too many cells: not a row the writer wrote
        try:
            row = {k: (None if v == "" else float(v)) for k, v in raw.items()}
            if row.get("epoch") is not None:
                row["epoch"] = int(row["epoch"])
        except (ValueError, OverflowError):
            continue
        rows.append(row)
    return rows


def git_commit(cwd: str | os.PathLike | None = None) -> str | None:
    """The commit of the working directory's git checkout, or None."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def versions() -> dict:
    import numpy as np

    from nnlab import __version__

    return {"python": platform.python_version(), "numpy": np.__version__, "nnlab": __version__}


def host_info() -> dict:
    """Who is running: pid, host and (on Linux) the process's start tick, to tell a reused pid."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "pid_start": process_start(os.getpid())}


def process_start(pid) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), or None."""
    try:
        with open(f"/proc/{int(pid)}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
        # the command name (field 2) may hold spaces and parentheses: split after its last ')'
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def write_json(path: str | os.PathLike, obj: dict) -> None:
    atomic_write(path, json.dumps(_jsonable(obj), indent=2) + "\n")


def _jsonable(v):
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if hasattr(v, "item"):  # numpy scalar
        return _jsonable(v.item())
    return v


def command_line() -> str:
    return " ".join([Path(sys.argv[0]).name if sys.argv else "nnlab", *sys.argv[1:]])


# ------------------------------------------------------------------ reading runs back


STATUSES = ("completed", "diverged", "interrupted", "failed", "running", "crashed", "incomplete")


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


def load_run(path: str | os.PathLike) -> Run | None:
    """Read one run folder; None if the folder does not look like a run at all."""
    path = Path(path)
    if not path.is_dir():
        return None
    files = {p.name for p in path.iterdir()}
    if not files & {"config.yaml", "summary.json", "metrics.csv"}:
        return None
    run = Run(path=path, name=path.name, status="incomplete")
    if "config.yaml" in files:
        import yaml

        try:
            run.config = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8"))
            if not isinstance(run.config, dict):
                run.config, _ = None, run.warnings.append("config.yaml is not a mapping")
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            run.warnings.append("config.yaml is unreadable")
    if run.config and isinstance(run.config.get("name"), str):
        run.name = run.config["name"]
    if "summary.json" in files:
        try:
            run.summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
            if not isinstance(run.summary, dict):
                run.summary = {}
                raise ValueError
        except (OSError, ValueError, UnicodeDecodeError):
            run.warnings.append("summary.json is damaged")
    if "metrics.csv" in files:
        try:
            run.metrics = read_metrics(path / "metrics.csv")
        except (OSError, UnicodeDecodeError, csv.Error):
            run.warnings.append("metrics.csv is unreadable")
    if "diagnostics.csv" in files:
        try:
            run.diagnostics = read_diagnostics(path / "diagnostics.csv")
        except (OSError, UnicodeDecodeError, csv.Error):
            run.warnings.append("diagnostics.csv is unreadable")
    status = run.summary.get("status")
    if status == "running":
        alive = process_alive(run.summary.get("pid"), run.summary.get("host"), run.summary.get("pid_start"))
        status = "crashed" if alive is False else "running"
    if status not in STATUSES:
        status = "incomplete"
    run.status = status
    return run


def read_diagnostics(path) -> list[dict]:
    rows = []
    for raw in _complete_rows(path):
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
    """Load every run among ``paths`` (run folders, or folders of runs); return (runs, warnings)."""
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
        found = [r for r in (_try_load(c, warnings) for c in children) if r is not None]
        if found:
            for r in found:
                add(r)
        else:
            warnings.append(f"{p}: not a run folder, skipped")
    return runs, warnings


def _try_load(path: Path, warnings: list) -> Run | None:
    """load_run, with a folder that cannot be listed (permissions) reported instead of raised."""
    try:
        return load_run(path)
    except OSError as exc:
        warnings.append(f"{path}: cannot be read ({exc.strerror or exc}), skipped")
        return None
