"""Run folders: unique names, atomic whole-file writes, flushed metrics, tolerant reading, JSON, git."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from nnlab import files as files_mod
from nnlab.runs import (MetricsWriter, Run, atomic_savez, atomic_write, create_run_dir, find_runs, git_commit, load_run,
                        read_diagnostics, read_metrics, write_json)
from nnlab.train.diagnostics import COLUMNS as DIAG_COLUMNS
from nnlab.train.trainer import METRIC_COLUMNS

NOW = datetime(2024, 3, 5, 14, 7, 9)


def strict_json(text):
    """json.loads that refuses NaN/Infinity, as a strict JSON reader (jq, JavaScript) would."""
    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=refuse)


# ------------------------------------------------------------------ create_run_dir


def test_create_run_dir_names_many_runs_in_the_same_second_uniquely(tmp_path):
    made = [create_run_dir(tmp_path / "runs", "exp", NOW) for _ in range(25)]
    names = [p.name for p in made]
    assert names[0] == "2024-03-05_14-07-09_exp"
    assert names[1:] == [f"2024-03-05_14-07-09_exp-{i}" for i in range(2, 26)]
    assert all(p.is_dir() and not any(p.iterdir()) for p in made)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(names)


def test_create_run_dir_is_unique_under_concurrent_calls(tmp_path):
    barrier = threading.Barrier(8)

    def make(_):
        barrier.wait(timeout=10) if _ < 8 else None
        return create_run_dir(tmp_path, "race", NOW)

    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(make, range(64)))
    assert len({p.name for p in made}) == 64
    assert len(list(tmp_path.iterdir())) == 64
    assert {p.name for p in made} == {"2024-03-05_14-07-09_race"} | {f"2024-03-05_14-07-09_race-{i}"
                                                                      for i in range(2, 65)}


def test_create_run_dir_distinct_names_do_not_collide(tmp_path):
    a = create_run_dir(tmp_path, "a", NOW)
    b = create_run_dir(tmp_path, "b", NOW)
    assert (a.name, b.name) == ("2024-03-05_14-07-09_a", "2024-03-05_14-07-09_b")


# ------------------------------------------------------------------ atomic writes


def test_atomic_write_replaces_content_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "summary.json"
    atomic_write(target, "first ünïcode\n")
    assert target.read_bytes() == "first ünïcode\n".encode("utf-8")
    atomic_write(target, b"\x00second\xff")
    assert target.read_bytes() == b"\x00second\xff"
    atomic_write(target, "third")
    assert target.read_text(encoding="utf-8") == "third"
    assert os.listdir(tmp_path) == ["summary.json"]


@pytest.mark.parametrize("bad", [12345, ["a", "list"], {"a": 1}, None])
def test_atomic_write_of_a_non_text_object_keeps_the_old_file(tmp_path, bad):
    target = tmp_path / "config.yaml"
    target.write_text("old: content\n")
    with pytest.raises(TypeError):
        atomic_write(target, bad)
    assert target.read_text() == "old: content\n"
    assert os.listdir(tmp_path) == ["config.yaml"]


def test_atomic_write_failing_after_writing_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    target.write_text("old")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files_mod.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        atomic_write(target, "new content that never lands")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_atomic_write_interrupted_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"
    target.write_text("old")

    def ctrl_c(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(files_mod.os, "replace", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, "new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["summary.json"]


def test_atomic_savez_round_trips_and_leaves_no_temp_file(tmp_path):
    arrays = {"dense1.W": np.arange(6, dtype=np.float32).reshape(2, 3), "dense1.b": np.array([0.5, -1.0])}
    atomic_savez(tmp_path / "model.npz", arrays)
    assert os.listdir(tmp_path) == ["model.npz"]
    with np.load(tmp_path / "model.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["dense1.W", "dense1.b"]
        np.testing.assert_array_equal(z["dense1.W"], arrays["dense1.W"])
        np.testing.assert_array_equal(z["dense1.b"], arrays["dense1.b"])


# ------------------------------------------------------------------ metrics.csv

ROWS = [
    {"epoch": 1, "lr": 0.1, "train_loss": 1.0986122886681098, "train_acc": 0.3333333333333333,
     "val_loss": 1.05, "val_acc": 0.4, "seconds": 0.001, "raw_val_loss": 1.25, "raw_val_acc": 0.35},
    {"epoch": 2, "lr": 0.1, "train_loss": 0.1 + 0.2, "train_acc": 0.5, "val_loss": None, "val_acc": None,
     "seconds": 0.002, "raw_val_loss": None, "raw_val_acc": None},
    {"epoch": 3, "lr": 0.05, "train_loss": 0.7123456789012345, "train_acc": 0.75, "val_loss": 0.8765432109876543,
     "val_acc": 0.7, "seconds": 0.003, "raw_val_loss": 0.9876543210987654, "raw_val_acc": 0.65},
]


def write_rows(path, rows=ROWS, columns=METRIC_COLUMNS):
    w = MetricsWriter(path, columns)
    for r in rows:
        w.write(r)
    w.close()


def test_metrics_rows_are_readable_while_the_writer_is_still_open(tmp_path):
    path = tmp_path / "metrics.csv"
    w = MetricsWriter(path, METRIC_COLUMNS)
    try:
        assert read_metrics(path) == []
        w.write(ROWS[0])
        assert read_metrics(path) == [ROWS[0]]
        w.write(ROWS[1])
        # floats come back exactly (repr), None as None, the epoch as an int
        got = read_metrics(path)
        assert got == ROWS[:2]
        assert got[1]["train_loss"] == 0.30000000000000004 and type(got[1]["epoch"]) is int
    finally:
        w.close()
    assert read_metrics(path) == ROWS[:2]


def test_metrics_file_ends_with_a_newline_and_a_header(tmp_path):
    path = tmp_path / "metrics.csv"
    write_rows(path)
    text = path.read_bytes().decode()
    assert text.startswith(",".join(METRIC_COLUMNS))
    assert text.endswith("\r\n") and text.count("\r\n") == 4


def test_read_metrics_drops_a_last_line_cut_anywhere(tmp_path):
    path = tmp_path / "metrics.csv"
    write_rows(path)
    full = path.read_bytes()
    last_line_start = full.rstrip(b"\r\n").rfind(b"\n") + 1
    assert read_metrics(path) == ROWS
    # every cut inside the last row (including those that leave a parseable number, e.g. '0.87'
    # of '0.8765...', or whole cells missing) must drop the row, never read it with wrong numbers
    for cut in range(last_line_start + 1, len(full) - 1):
        path.write_bytes(full[:cut])
        assert read_metrics(path) == ROWS[:2], (cut, full[last_line_start:cut])
    # cut right after the row's '\r' (only the '\n' missing): the row is complete
    path.write_bytes(full[:-1])
    assert read_metrics(path) == ROWS


def test_read_metrics_of_a_cut_header_or_an_empty_file_is_empty(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("")
    assert read_metrics(path) == []
    path.write_text("epoch,lr,train_lo")
    assert read_metrics(path) == []


def test_read_metrics_skips_rows_with_too_many_cells_or_garbage(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,train_loss\n1,0.5\n2,0.4,999\n3,abc\n4,0.25\n")
    assert read_metrics(path) == [{"epoch": 1, "train_loss": 0.5}, {"epoch": 4, "train_loss": 0.25}]


def test_read_diagnostics_drops_a_cut_last_line(tmp_path):
    rows = [{"epoch": 1, "layer": "dense1", "grad_norm": 0.125, "update_ratio": None, "dead_fraction": 0.25,
             "saturated_fraction": None},
            {"epoch": 1, "layer": "dense2", "grad_norm": 1.5, "update_ratio": 0.001, "dead_fraction": None,
             "saturated_fraction": None}]
    path = tmp_path / "diagnostics.csv"
    write_rows(path, rows, DIAG_COLUMNS)
    assert read_diagnostics(path) == rows
    full = path.read_bytes()
    start = full.rstrip(b"\r\n").rfind(b"\n") + 1
    for cut in range(start + 1, len(full) - 1):
        path.write_bytes(full[:cut])
        assert read_diagnostics(path) == rows[:1], full[start:cut]


# ------------------------------------------------------------------ summary.json


def test_write_json_makes_strict_json_of_nan_inf_and_numpy_numbers(tmp_path):
    path = tmp_path / "summary.json"
    write_json(path, {"loss": float("nan"), "up": float("inf"), "down": -math.inf, "n": np.int64(7),
                      "x": np.float32(0.5), "nested": {"l": [1.5, float("nan"), (2, np.float64("inf"))]}})
    assert os.listdir(tmp_path) == ["summary.json"]
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert strict_json(text) == {"loss": None, "up": "inf", "down": "-inf", "n": 7, "x": 0.5,
                                 "nested": {"l": [1.5, None, [2, "inf"]]}}
    assert text.endswith("}\n")


# ------------------------------------------------------------------ git


def _git(*args, cwd):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, env=env)


@pytest.fixture
def no_outer_git(tmp_path, monkeypatch):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(var, raising=False)
    # never discover a repository above tmp_path
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    return tmp_path


def test_git_commit_is_none_outside_a_repository(no_outer_git):
    assert git_commit(no_outer_git) is None


def test_git_commit_is_none_in_a_repository_without_commits(no_outer_git):
    _git("init", "-q", cwd=no_outer_git)
    assert git_commit(no_outer_git) is None


def test_git_commit_is_the_head_commit_inside_a_repository(no_outer_git):
    repo = no_outer_git
    _git("init", "-q", cwd=repo)
    (repo / "f.txt").write_text("x")
    _git("add", "f.txt", cwd=repo)
    _git("commit", "-q", "-m", "one", cwd=repo)
    first = git_commit(repo)
    assert re.fullmatch(r"[0-9a-f]{40}", first)
    assert first == _git("log", "-1", "--format=%H", cwd=repo).stdout.strip()
    _git("commit", "-q", "--allow-empty", "-m", "two", cwd=repo)
    second = git_commit(repo / ".")
    assert re.fullmatch(r"[0-9a-f]{40}", second) and second != first
    (repo / "sub").mkdir()
    assert git_commit(repo / "sub") == second


def test_git_commit_without_git_is_none(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no git executable to be found
    assert git_commit(tmp_path) is None


# ------------------------------------------------------------------ reading runs back


def make_run(folder: Path, summary: dict | None = None, rows=ROWS, config: str | None = "name: r\nseed: 3\n"):
    folder.mkdir(parents=True)
    if config is not None:
        (folder / "config.yaml").write_text(config)
    if rows is not None:
        write_rows(folder / "metrics.csv", rows)
    if summary is not None:
        write_json(folder / "summary.json", summary)
    return folder


def test_run_properties_come_from_summary_then_from_the_folder(tmp_path):
    r = load_run(make_run(tmp_path / "2024-01-02_03-04-05_r", {"status": "completed", "started": "2025-06-07T08:09:10",
                                                                "wall_seconds": 12.5,
                                                                "data": {"task": "regression"}}))
    assert (r.name, r.status, r.config) == ("r", "completed", {"name": "r", "seed": 3})
    assert r.started == datetime(2025, 6, 7, 8, 9, 10)
    assert r.seconds == 12.5 and r.task == "regression"
    bare = load_run(make_run(tmp_path / "2024-01-02_03-04-05_bare", None, config=None))
    assert bare.name == "2024-01-02_03-04-05_bare" and bare.status == "incomplete"
    assert bare.started == datetime(2024, 1, 2, 3, 4, 5)
    assert bare.seconds == pytest.approx(0.006)  # the epochs' seconds
    assert bare.task == "classification"  # train_acc was recorded
    odd = Run(path=tmp_path / "not-a-date", name="x", status="completed")
    assert odd.started is None and odd.seconds is None and odd.task == "regression"


def test_find_runs_reads_a_run_named_twice_once(tmp_path):
    parent = tmp_path / "runs"
    a = make_run(parent / "2024-01-01_00-00-00_a", {"status": "completed"})
    b = make_run(parent / "2024-01-01_00-00-01_b", {"status": "completed"})
    found, warnings = find_runs([a, parent, str(b), parent / "." / a.name])
    assert [r.path.name for r in found] == [a.name, b.name]
    assert warnings == []


def test_find_runs_warns_about_missing_and_non_run_paths(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    found, warnings = find_runs([tmp_path / "nothere", tmp_path / "empty", tmp_path / "file.txt"])
    assert found == []
    assert warnings == [f"{tmp_path / 'nothere'}: no such folder, skipped",
                        f"{tmp_path / 'empty'}: not a run folder, skipped",
                        f"{tmp_path / 'file.txt'}: not a run folder, skipped"]


def test_atomic_files_get_the_usual_permissions(tmp_path):
    import os
    import stat

    from nnlab.files import atomic_savez, atomic_write

    umask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "a.txt", "x")
        atomic_savez(tmp_path / "m.npz", {"w": __import__("numpy").zeros(2)})
    finally:
        os.umask(umask)
    for name in ("a.txt", "m.npz"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "m.npz"]


def test_a_reused_pid_reads_as_crashed():
    import os
    import socket

    from nnlab.runs import process_alive, process_start

    me, host = os.getpid(), socket.gethostname()
    start = process_start(me)
    if start is None:
        import pytest

        pytest.skip("no /proc on this system")
    assert process_alive(me, host, start) is True
    assert process_alive(me, host, start + 12345) is False  # same pid, another process
    assert process_alive(me, host) is True
    assert process_alive(me, "another-host", start) is None
