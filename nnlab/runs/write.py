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
from datetime import datetime
from pathlib import Path

from nnlab.version import __version__
from nnlab.errors import RunError
from nnlab.files import atomic_savez, atomic_write, open_for_append  # noqa: F401 (atomic_savez: this module's API)
from nnlab.runs.read import TIMESTAMP, complete_rows, process_start


def create_run_dir(runs_dir: str | os.PathLike, name: str, now: datetime | None = None) -> Path:
    """Make a new, empty run folder; two runs started in the same second get distinct folders."""
    runs_dir = Path(runs_dir)
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file, a device (/dev/null) or a link to one: not "File exists"
        raise RunError(f"{runs_dir}: is not a folder; name a folder for the runs (it is created if missing)") \
            from None
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


def new_run_dir(runs_dir, name: str, started: datetime, run_dir=None) -> Path:
    """``runs_dir/<date_time>_<name>`` (create_run_dir), or exactly ``run_dir`` when given (a sweep names its
    runs); either way a new folder, or one RunError line."""
    if run_dir is None:
        return create_run_dir(runs_dir, name, started)
    run_dir = Path(run_dir)
    try:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(run_dir)
    except OSError as exc:
        raise RunError(f"{run_dir}: cannot create the run folder ({exc.strerror or exc})") from None
    return run_dir


class MetricsWriter:
    """Appends one CSV row per epoch and flushes it, so a killed run keeps its curve."""

    def __init__(self, path: str | os.PathLike, columns: list[str], keep_epochs: int | None = None):
        """A new file with the header; or, with ``keep_epochs`` (resuming a run), the existing file cut
        back to its rows of epochs 1..keep_epochs (atomically) and appended to from there."""
        self.path, self.columns = Path(path), list(columns)
        if keep_epochs is not None:
            self._cut(keep_epochs)
            self._f = open_for_append(self.path, new=False)
            self._w = csv.writer(self._f)
            return
        self._f = open_for_append(self.path, new=True)
        self._w = csv.writer(self._f)
        self._w.writerow(self.columns)
        self._f.flush()

    def _cut(self, keep_epochs: int) -> None:
        kept = []
        if self.path.is_file():
            for row in complete_rows(self.path):
                try:
                    if int(float(row.get("epoch") or "nan")) <= keep_epochs:
                        kept.append([row.get(c) or "" for c in self.columns])
                except (ValueError, OverflowError):
                    continue
        buf = io.StringIO(newline="")
        w = csv.writer(buf)
        w.writerow(self.columns)
        w.writerows(kept)
        atomic_write(self.path, buf.getvalue())

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


def git_commit(cwd: str | os.PathLike | None = None) -> str | None:
    """The commit of the working directory's git checkout, or None."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def versions() -> dict:
    import numpy as np

    return {"python": platform.python_version(), "numpy": np.__version__, "nnlab": __version__}


def host_info() -> dict:
    """Who is running: pid, host and (on Linux) the process's start tick, to tell a reused pid."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "pid_start": process_start(os.getpid())}


def write_json(path: str | os.PathLike, obj: dict) -> None:
    atomic_write(path, json.dumps(jsonable(obj), indent=2) + "\n")


def jsonable(v):
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if hasattr(v, "item"):  # numpy scalar
        return jsonable(v.item())
    return v


_UNSET = object()


def new_summary(cfg, dataset, started: datetime, *, command: str | None = None, **extra) -> dict:
    """The summary.json a run folder starts with: status running, who runs it (pid and host: a vanished
    process reads as crashed), the config's source and seed, the versions, the commit, the data; then
    ``extra`` (a sweep's tags; ``git_commit`` replaces the one this process would read)."""
    out = {"name": cfg.name, "status": "running", "config_source": cfg.source,
           "started": started.isoformat(timespec="seconds"), **host_info(), "seed": cfg.seed,
           "command": command or command_line(), "versions": versions(), "git_commit": None,
           "data": dataset.summary(), **extra}
    if "git_commit" not in extra:
        out["git_commit"] = git_commit()
    return out


def command_line() -> str:
    return " ".join([Path(sys.argv[0]).name if sys.argv else "nnlab", *sys.argv[1:]])


