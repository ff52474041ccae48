"""nnlab export: runs and sweeps read back with the real libraries: TensorBoard's own event reader (and, slow, a
TensorBoard server's HTTP API), and MLflow's search_runs on a real SQLite tracking store; exporting twice never
shows a run twice; a missing extra or a bad output is one line."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import nnlab
from helpers import fake_runs, invoke

SLOW_FIXTURES = ("exported",)  # two runs and a sweep trained, then exported to both: seconds

TINY = {"name": "tiny", "data": {"name": "spiral", "n_samples": 150, "classes": 3},
        "model": {"hidden": [16]}, "train": {"epochs": 5, "batch_size": 30, "optimizer": {"name": "adam", "lr": 0.01}}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two runs (one interrupted) and a 2x2 sweep (2 trials x 2 seeds), in runs/ and sweeps/."""
    root = tmp_path_factory.mktemp("export")
    done = nnlab.train(TINY, runs_dir=root / "runs", name="done")

    def stop(row):
        if row["epoch"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(nnlab.RunInterrupted) as exc:
        nnlab.train(TINY, runs_dir=root / "runs", name="stopped", on_epoch=stop)
    sweep = nnlab.sweep(TINY, params={"train.optimizer.lr": [0.001, 0.05]}, seeds=[0, 1], jobs=2,
                        runs_dir=root / "sweeps")
    return root, done, exc.value.run, sweep


def scalars(folder: Path) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    ea.Reload()
    return {tag: [(e.step, e.value, e.wall_time) for e in ea.Scalars(tag)] for tag in ea.Tags()["scalars"]}


def session(folder: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    ea = EventAccumulator(str(folder))
    ea.Reload()
    content = ea.PluginTagToContent(metadata.PLUGIN_NAME)
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    end = content.get(metadata.SESSION_END_INFO_TAG)
    return start, (metadata.parse_session_end_info_plugin_data(end) if end is not None else None)


@pytest.fixture(scope="module")
def exported(trained):
    pytest.importorskip("tensorboard")
    root = trained[0]
    r = invoke("export", "tensorboard", root / "runs", root / "sweeps", "-o", root / "tb")
    assert r.exit_code == 0, r.stderr
    return root / "tb", r.stdout


def test_tensorboard_reads_the_scalars_per_epoch(trained, exported):
    tb, out = exported
    _, done, stopped, sweep = trained
    got = scalars(tb / done.path.name)
    m = done.metrics
    assert [s for s, _, _ in got["loss/train"]] == [1, 2, 3, 4, 5]
    np.testing.assert_allclose([v for _, v, _ in got["loss/train"]], m["train_loss"], rtol=1e-6)
    np.testing.assert_allclose([v for _, v, _ in got["accuracy/validation"]], m["val_acc"], rtol=1e-6)
    np.testing.assert_allclose([v for _, v, _ in got["learning_rate"]], m["lr"], rtol=1e-6)
    walls = [w for _, _, w in got["loss/train"]]
    assert walls == sorted(walls)
    assert got["summary/test_acc"][0][1] == pytest.approx(done.summary["test"]["acc"])
    assert len(scalars(tb / stopped.path.name)["loss/train"]) == 3
    assert f"{done.path.name} -> {tb / done.path.name}" in out and "6 runs in" in out


def test_tensorboard_hparams_the_config_and_a_sweep_as_trials(trained, exported):
    from tensorboard.plugins.hparams import api_pb2

    tb, _ = exported
    _, done, stopped, sweep = trained
    start, end = session(tb / done.path.name)
    assert start.hparams["train.optimizer.lr"].number_value == 0.01
    assert start.hparams["model.hidden"].string_value == "[16]"
    assert start.hparams["model.activation.name"].string_value == "relu"
    assert end.status == api_pb2.STATUS_SUCCESS
    assert session(tb / stopped.path.name)[1].status == api_pb2.STATUS_UNKNOWN  # the plugin has no 'stopped'
    groups = {}
    for t in sweep.trials:
        for run in t["runs"]:
            start, end = session(tb / sweep.path.name / run.name)
            assert dict(start.hparams).keys() == {"train.optimizer.lr"}
            assert start.hparams["train.optimizer.lr"].number_value == t["params"]["train.optimizer.lr"]
            groups.setdefault(t["trial"], set()).add(start.group_name)
    assert all(len(g) == 1 for g in groups.values()) and len(set.union(*groups.values())) == 2  # a row per trial


def test_exporting_to_tensorboard_again_replaces_and_never_duplicates(trained, exported):
    tb, _ = exported
    _, done, _, _ = trained
    before = sorted(p.name for p in (tb / done.path.name).iterdir())
    r = invoke("export", "tensorboard", done.path, "-o", tb)
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in (tb / done.path.name).iterdir()) == before and len(before) == 1
    assert [s for s, _, _ in scalars(tb / done.path.name)["loss/train"]] == [1, 2, 3, 4, 5]


@pytest.mark.slow
def test_a_tensorboard_server_lists_the_runs_and_the_hparams_table(trained, exported, tmp_path):
    tb, _ = exported
    _, done, _, sweep = trained
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "tensorboard"
    proc = subprocess.Popen([str(exe), "--logdir", str(tb), "--host", "127.0.0.1", "--port", str(port),
                             "--reload_interval", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        tags = None
        for _ in range(120):  # at most 30 s for the server to start and load the logdir
            try:
                with urllib.request.urlopen(f"{base}/data/plugin/scalars/tags", timeout=2) as resp:
                    tags = json.loads(resp.read())
                if done.path.name in tags and len(tags) == 6:
                    break
            except OSError:
                pass
            time.sleep(0.25)
        assert tags is not None and done.path.name in tags and "accuracy/validation" in tags[done.path.name]
        assert f"{sweep.path.name}/t000-seed0" in tags
        req = urllib.request.Request(f"{base}/data/plugin/hparams/session_groups", method="POST",
                                     data=json.dumps({"experimentName": "", "allowedStatuses": [
                                         "STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
                                     "colParams": [], "startIndex": 0,
                                         "sliceSize": 100}).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            groups = json.loads(resp.read())
        names = {g["name"] for g in groups["sessionGroups"]}
        assert done.path.name in names and len([n for n in names if n.startswith(sweep.name)]) == 2
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def store(trained):
    pytest.importorskip("mlflow")
    root = trained[0]
    uri = f"sqlite:///{root / 'mlflow.db'}"
    r = invoke("export", "mlflow", root / "runs", root / "sweeps", "--tracking-uri", uri)
    assert r.exit_code == 0, r.stderr
    return uri, r.stdout


@pytest.mark.slow
def test_mlflow_search_runs_finds_each_run_with_params_metrics_and_artifacts(trained, store):
    import mlflow
    from mlflow.tracking import MlflowClient

    uri, out = store
    root, done, stopped, sweep = trained
    mlflow.set_tracking_uri(uri)
    df = mlflow.search_runs(experiment_names=["nnlab"])
    assert len(df) == 7  # two runs, the sweep, its four runs
    row = df[df["tags.nnlab.run_dir"] == str(done.path)].iloc[0]
    assert row["status"] == "FINISHED" and row["params.train.optimizer.lr"] == "0.01"
    assert row["params.model.hidden"] == "[16]" and row["tags.mlflow.runName"] == "done"
    assert row["metrics.test_acc"] == pytest.approx(done.summary["test"]["acc"])
    client = MlflowClient(uri)
    history = client.get_metric_history(row["run_id"], "val_acc")
    assert [m.step for m in history] == [1, 2, 3, 4, 5]
    np.testing.assert_allclose([m.value for m in history], done.metrics["val_acc"])
    assert sorted(a.path for a in client.list_artifacts(row["run_id"])) == [
        "config.yaml", "curves.png", "diagnostics.png", "metrics.csv", "model.npz", "summary.json"]
    assert df[df["tags.nnlab.run_dir"] == str(stopped.path)].iloc[0]["status"] == "KILLED"
    parent = df[df["tags.nnlab.kind"] == "sweep"].iloc[0]
    children = df[df["tags.mlflow.parentRunId"] == parent["run_id"]]
    assert len(children) == 4 and set(children["params.train.optimizer.lr"]) == {"0.001", "0.05"}
    assert parent[f"metrics.best_{sweep.metric}"] == pytest.approx(sweep.best["value"])
    assert "7 exported (7 logged, 0 updated, 0 unchanged)" in out


@pytest.mark.slow
def test_mlflow_export_again_is_unchanged_and_a_resumed_run_replaces_its_old_one(trained, store):
    import mlflow

    uri, _ = store
    root, done, stopped, _ = trained
    r = invoke("export", "mlflow", root / "runs", root / "sweeps", "--tracking-uri", uri)
    assert r.exit_code == 0, r.stderr
    assert "(0 logged, 0 updated, 3 unchanged)" in r.stdout
    mlflow.set_tracking_uri(uri)
    assert len(mlflow.search_runs(experiment_names=["nnlab"])) == 7
    nnlab.resume(stopped)
    r = invoke("export", "mlflow", stopped.path, "--tracking-uri", uri)
    assert "updated" in r.stdout
    df = mlflow.search_runs(experiment_names=["nnlab"])
    assert len(df) == 7  # the resumed run replaced its earlier MLflow run
    row = df[df["tags.nnlab.run_dir"] == str(stopped.path)].iloc[0]
    assert row["status"] == "FINISHED" and row["tags.nnlab.epochs"] == "5"


def test_missing_extras_and_bad_outputs_are_one_line(tmp_path, monkeypatch):
    root = tmp_path
    fake_runs(root / "runs", n_configs=1, seeds=2)  # two run folders that export reads (no training: quick)
    (tmp_path / "file").write_text("")
    r = invoke("export", "tensorboard", root / "runs", "-o", tmp_path / "file")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1
    for name in [m for m in sys.modules if m.split(".")[0] in ("tensorboard", "mlflow")] + ["tensorboard", "mlflow"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    r = invoke("export", "tensorboard", root / "runs", "-o", tmp_path / "tb")
    assert r.exit_code == 2
    assert r.stderr == "error: nnlab export tensorboard needs the tensorboard package: pip install " \
                       "'nnlab[tensorboard]' (or pip install tensorboard)\n"
    r = invoke("export", "mlflow", root / "runs")
    assert r.exit_code == 2 and "nnlab export mlflow needs mlflow: pip install 'nnlab[mlflow]'" in r.stderr
    r = invoke("export", "tensorboard", tmp_path / "nothing", "-o", tmp_path / "tb2")
    assert r.exit_code == 2


def test_a_folder_without_runs_is_one_line(tmp_path):
    pytest.importorskip("tensorboard")
    (tmp_path / "empty").mkdir()
    r = invoke("export", "tensorboard", tmp_path / "empty", "-o", tmp_path / "tb")
    assert r.exit_code == 2 and "no runs or sweeps to export" in r.stderr
