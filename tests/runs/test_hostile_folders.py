"""Run folders and YAML that nnlab did not write: FIFOs where files should be, folders named like files,
YAML aliases that expand to billions of values, weights of another network.  Every reader refuses them
in one line (a warning for a folder among others, an error for the one folder asked for) and never
waits on a FIFO or walks an expansion without end.

The commands that could hang run in a subprocess with a timeout, so a regression fails instead of
stalling the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from nnlab import files
from nnlab.cli import main
from nnlab.config import load_config
from nnlab.errors import ConfigError
from nnlab.runs import load_run
from nnlab.sweep.record import param_value

ROOT = Path(__file__).resolve().parents[2]

# nine levels of nine: 9^9 = 387,420,489 values once expanded, in 11 lines
BOMB = "".join([f"l0: &l0 [{', '.join(['1'] * 9)}]\n"]
               + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9)])


def bomb_config(key: str = "model:\n  hidden: *l8\n") -> str:
    """A config whose valid key holds the expansion (the anchors' own keys are unknown keys, but the
    expansion is refused before any key is checked)."""
    return BOMB + "data: {name: spiral, n_samples: 60}\n" + key


def nnlab(*args, cwd=None, timeout=60):
    """The CLI in a subprocess: a hang is a TimeoutExpired (a failure), not a stalled suite."""
    return subprocess.run([sys.executable, "-m", "nnlab", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env={**os.environ, "COLUMNS": "200"})


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    """One real, finished run folder to copy from."""
    base = tmp_path_factory.mktemp("good")
    cfg = base / "c.yaml"
    cfg.write_text("name: good\ndata: {name: spiral, n_samples: 60, val_fraction: 0.2}\nmodel: {hidden: [4]}\n"
                   "train: {epochs: 2, batch_size: 16}\n")
    r = CliRunner().invoke(main, ["train", str(cfg), "--runs-dir", str(base / "runs"), "--quiet"])
    assert r.exit_code == 0, r.output
    (run,) = (base / "runs").iterdir()
    return run


def copy_run(src, dst, replace: dict):
    """A copy of a run folder where each name in ``replace`` is 'fifo', 'folder' or file text."""
    dst.mkdir()
    for f in src.iterdir():
        if f.is_file() and f.name not in replace:
            (dst / f.name).write_bytes(f.read_bytes())
    for name, what in replace.items():
        if what == "fifo":
            os.mkfifo(dst / name)
        elif what == "folder":
            (dst / name).mkdir()
        else:
            (dst / name).write_text(what)
    return dst


# ---------------------------------------------------------------- YAML aliases

def test_too_many_values_counts_every_place_a_shared_part_appears():
    shared = [1, 2, 3]
    assert not files.too_many_values([shared] * 3, limit=13)  # 1 outer + 3 x (1 + 3) = 13
    assert files.too_many_values([shared] * 3, limit=12)
    assert not files.too_many_values({"a": 1}, limit=3) and files.too_many_values({"a": 1}, limit=2)  # dict, key, value
    loop: list = []
    loop.append(loop)  # YAML can write a list that contains itself: '&a [*a]'
    assert files.too_many_values(loop, limit=1000)
    assert files.too_many_values(yaml.safe_load(BOMB))
    assert not files.too_many_values(yaml.safe_load((ROOT / "configs" / "adam_relu.yaml").read_text()))


@pytest.mark.slow
def test_a_config_whose_aliases_expand_without_end_is_refused_in_one_line(tmp_path):
    p = tmp_path / "bomb.yaml"
    p.write_text(bomb_config())
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert info.value.lines == [f"{p}: its YAML aliases ('*name') expand to more than 100,000 values; "
                                "a config holds a few dozen"]
    r = nnlab("validate", p)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [f"error: {info.value.lines[0]}"]
    # the same through --set; an anchor used a few times is fine
    r = nnlab("validate", "configs/adam_relu.yaml", "--set",
              "model.hidden=[" + ", ".join(["&a 8"] + ["*a"] * 2) + "]", cwd=ROOT)
    assert r.returncode == 0 and "hidden [8, 8, 8]" in r.stdout


def test_a_trials_cell_with_an_alias_bomb_stays_text():
    text = "[&a [1,1,1,1,1,1,1,1,1], " + ", ".join(["*a"] * 3) + "]"
    assert param_value(text) == [[1] * 9] * 4
    flow = "&l0 [1,1,1,1,1,1,1,1,1]"
    for i in range(1, 9):
        flow = f"&l{i} [{flow}, " + ", ".join([f"*l{i - 1}"] * 8) + "]"
    assert param_value(flow) == flow  # refused as a value: kept as the cell's text


# ---------------------------------------------------------------- run folders

@pytest.mark.slow
def test_run_folder_fifos_folders_and_bombs_are_warnings_not_waits(good_run, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    copy_run(good_run, runs / "a_fifo_summary", {"summary.json": "fifo"})
    copy_run(good_run, runs / "b_fifo_config", {"config.yaml": "fifo"})
    copy_run(good_run, runs / "c_bomb_config", {"config.yaml": bomb_config()})
    copy_run(good_run, runs / "d_fifo_metrics", {"metrics.csv": "fifo", "diagnostics.csv": "folder"})
    copy_run(good_run, runs / "e_good", {})
    expected = {
        "a_fifo_summary": "summary.json is unreadable (is a named pipe (FIFO), not a regular file)",
        "b_fifo_config": "config.yaml is unreadable (is a named pipe (FIFO), not a regular file)",
        "c_bomb_config": "config.yaml is unreadable (its aliases ('*name') expand to more than 100,000 values)",
        "d_fifo_metrics": "metrics.csv is unreadable (is a named pipe (FIFO), not a regular file)",
    }
    r = nnlab("runs", runs)
    assert r.returncode == 0, r.stderr
    for name, warning in expected.items():
        assert f"warning: {runs / name}: {warning}" in r.stderr.splitlines(), (name, r.stderr)
    assert f"warning: {runs / 'd_fifo_metrics'}: diagnostics.csv is unreadable (is a folder, not a regular file)" \
        in r.stderr.splitlines()
    assert len(r.stdout.strip().splitlines()) == 1 + 5  # the header and every run, damaged ones included
    r = nnlab("compare", *sorted(runs.iterdir()))
    assert r.returncode == 0 and "good" in r.stdout, r.stderr
    for name in expected:
        assert any(line.startswith(f"warning: {runs / name}: not compared") for line in r.stderr.splitlines()), name
    for name in expected:
        r = nnlab("show", runs / name)
        assert r.returncode == 0 and f"warning: {runs / name}: {expected[name]}" in r.stderr.splitlines(), name
    r = nnlab("report", *sorted(runs.iterdir()), "-o", tmp_path / "report.html")
    assert r.returncode == 0 and (tmp_path / "report.html").is_file(), r.stderr
    # in-process, the reader itself
    run = load_run(runs / "c_bomb_config")
    assert run.config is None and run.warnings == [expected["c_bomb_config"]]


def test_resume_refuses_an_oversized_or_bomb_checkpoint_in_one_line(good_run, tmp_path, monkeypatch):
    import json

    run = copy_run(good_run, tmp_path / "r", {})
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))
    # a checkpoint whose one array unpacks to 8 MB from a few kB
    np.savez_compressed(run / "checkpoint.npz", meta=np.zeros(2_000_000, np.float32))
    monkeypatch.setenv("NNLAB_MAX_DATA_BYTES", str(1 << 20))
    r = CliRunner().invoke(main, ["train", "--resume", str(run)])
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert r.output.strip() == (f"error: {run / 'checkpoint.npz'}: damaged checkpoint (its arrays unpack to "
                                "7.63 MiB, larger than 1 MiB, the most nnlab reads for a run's checkpoint); "
                                "the run cannot be resumed")
    (run / "checkpoint.npz").write_bytes(b"\0" * (2 << 20))
    r = CliRunner().invoke(main, ["train", "--resume", str(run)])
    assert r.exit_code == 1 and r.output.strip() == (
        f"error: {run / 'checkpoint.npz'}: damaged checkpoint (is 2 MiB, larger than 1 MiB, the most nnlab "
        "reads for a run's checkpoint); the run cannot be resumed")


def test_ensemble_of_a_run_with_another_networks_weights_is_one_line(good_run, tmp_path):
    a = copy_run(good_run, tmp_path / "a", {})
    b = copy_run(good_run, tmp_path / "b", {})
    state = dict(np.load(a / "model.npz"))
    np.savez(b / "model.npz", **{k: v for k, v in state.items() if k != "dense1.W"})
    r = CliRunner().invoke(main, ["ensemble", str(a), str(b)])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.output.strip().splitlines()[-1] == (
        f"error: {b / 'model.npz'}: does not hold the weights of its config.yaml's network (no array 'dense1.W'); "
        "the run folder looks damaged")
    np.savez(b / "model.npz", **{**state, "dense1.W": np.zeros((3, 5), state["dense1.W"].dtype)})
    r = CliRunner().invoke(main, ["ensemble", str(a), str(b)])
    assert r.exit_code == 1 and "could not broadcast" in r.output and "Traceback" not in r.output


def test_claims_report_skips_a_claim_folder_whose_values_csv_is_a_fifo(tmp_path):
    import json

    from nnlab.claims.gallery import read_results

    d = tmp_path / "out" / "001-quick"
    d.mkdir(parents=True)
    (d / "claim.json").write_text(json.dumps({"id": "001", "regimes": ["default"], "variants": ["a", "b"]}))
    (d / "summary.json").write_text(json.dumps({"kind": "claim", "status": "completed",
                                                "finished": "2026-12-07T00:00:00"}))
    os.mkfifo(d / "values.csv")
    with pytest.raises(ConfigError) as info:
        read_results(tmp_path / "out")
    assert info.value.lines == [f"--out {tmp_path / 'out'}: no readable claims ({d}: unreadable "
                                f"({d / 'values.csv'}: is a named pipe (FIFO), not a regular file; expected a "
                                "claim's values.csv); skipped)"]


@pytest.mark.slow
def test_yaml_nested_thousands_deep_is_one_line_not_a_recursion_traceback(tmp_path, good_run):
    deep = "[" * 3000 + "]" * 3000
    p = tmp_path / "deep.yaml"
    p.write_text(f"model:\n  hidden: {deep}\n")
    message = f"{p}: nested too deeply for YAML (thousands of levels of [ or {{); a config is a few levels deep"
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert info.value.lines == [message]
    r = CliRunner().invoke(main, ["validate", "configs/adam_relu.yaml", "--set", f"model.hidden={deep}"])
    assert r.exit_code == 2 and "Traceback" not in r.output and "nested too deeply for YAML" in r.output
    run = copy_run(good_run, tmp_path / "r", {"config.yaml": p.read_text()})
    assert load_run(run).warnings == ["config.yaml is unreadable (nested too deeply (thousands of levels))"]
    assert param_value(deep) == deep  # a trials.csv cell: kept as text


@pytest.mark.slow
def test_sweep_resume_refuses_a_fifo_journal_or_sweep_yaml_without_waiting(tmp_path):
    import shutil

    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: s\ndata: {name: blobs, n_samples: 80}\nmodel: {hidden: [4]}\n"
                   "train: {epochs: 1, batch_size: 40}\n")
    r = nnlab("sweep", cfg, "-p", "train.optimizer.lr=log:1e-3:1e-1", "--method", "tpe", "--trials", "2",
              "--runs-dir", tmp_path / "out", "--quiet")
    assert r.returncode == 0, r.stderr
    (folder,) = (tmp_path / "out").iterdir()
    assert (folder / "optuna.journal").is_file()
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(folder, a)
    shutil.copytree(folder, b)
    (a / "optuna.journal").unlink()
    os.mkfifo(a / "optuna.journal")
    before = (a / "summary.json").read_bytes()
    r = nnlab("sweep", "--resume", a, "--trials", "3", "--quiet")
    assert r.returncode == 1 and r.stderr.strip() == (f"error: {a / 'optuna.journal'}: is a named pipe (FIFO), "
                                                      "not a regular file; expected the sweep's Optuna journal")
    assert (a / "summary.json").read_bytes() == before  # nothing written
    (b / "sweep.yaml").unlink()
    os.mkfifo(b / "sweep.yaml")
    r = nnlab("sweep", "--resume", b, "--quiet")
    assert r.returncode == 1 and r.stderr.strip() == (f"error: {b / 'sweep.yaml'}: not a regular file; a sweep "
                                                      "folder's sweep.yaml is the file nnlab sweep wrote")
