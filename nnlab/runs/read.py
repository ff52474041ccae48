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

from nnlab.runs.write import TIMESTAMP, process_start

def complete_rows(path: str | os.PathLike) -> csv.DictReader:
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
    reader = complete_rows(path)
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

