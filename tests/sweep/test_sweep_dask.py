"""nnlab sweep --scheduler: a real Dask cluster (LocalCluster, and the dask scheduler / dask worker commands)."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import only_folder as the_sweep
from helpers import write_sweep

from nnlab.cli import main

distributed = pytest.importorskip("dask.distributed")

BASE = {"name": "b", "data": {"name": "moons", "n_samples": 200},
        "model": {"hidden": [16], "activation": "relu"},
        "train": {"epochs": 8, "batch_size": 50, "optimizer": {"name": "adam", "lr": 0.01}}}
SWEEP = {"name": "dsk", "method": "random", "trials": 3, "seed": 5, "seeds": [0, 1],
         "params": {"train.optimizer.lr": {"low": 0.001, "high": 0.1, "log": True},
                    "model.activation": ["relu", "elu"]}}
TIMING = {"seconds", "wall_seconds", "train_seconds", "samples_per_second", "started", "finished", "pid", "pid_start",
          "host", "command", "git_commit", "config_source"}


def sweep_file(tmp_path) -> Path:
    return write_sweep(tmp_path, SWEEP, BASE)


def _csv_without(path: Path, drop: set) -> list[dict]:
    with open(path, newline="") as f:
        return [{k: v for k, v in r.items() if k not in drop} for r in csv.DictReader(f)]


def _summary_without_timings(path: Path) -> dict:
    s = json.loads(path.read_text())
    for row in ("best", "final"):  # epoch rows carry their own timing
        if isinstance(s.get(row), dict):
            s[row].pop("seconds", None)
    return {k: v for k, v in s.items() if k not in TIMING}


def assert_same_runs(a: Path, b: Path) -> None:
    """Two sweep folders hold the same runs: same files, same numbers; only timings and hosts differ."""
    assert _csv_without(a / "trials.csv", {"seconds"}) == _csv_without(b / "trials.csv", {"seconds"})
    runs_a = sorted(d.name for d in (a / "runs").iterdir())
    assert runs_a == sorted(d.name for d in (b / "runs").iterdir()) and len(runs_a) == 6
    for name in runs_a:
        ra, rb = a / "runs" / name, b / "runs" / name
        assert sorted(f.name for f in ra.iterdir()) == sorted(f.name for f in rb.iterdir())
        assert (ra / "config.yaml").read_bytes() == (rb / "config.yaml").read_bytes()
        assert _csv_without(ra / "metrics.csv", {"seconds"}) == _csv_without(rb / "metrics.csv", {"seconds"})
        assert _summary_without_timings(ra / "summary.json") == _summary_without_timings(rb / "summary.json")
        with np.load(ra / "model.npz") as za, np.load(rb / "model.npz") as zb:
            assert za.files == zb.files
            for k in za.files:
                np.testing.assert_array_equal(za[k], zb[k])
    sa, sb = _summary_without_timings(a / "summary.json"), _summary_without_timings(b / "summary.json")
    assert sa["best"] == sb["best"] and sa["counts"] == sb["counts"]


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("local")
    res = CliRunner().invoke(main, ["sweep", str(sweep_file(tmp)), "-j", "2", "--runs-dir", str(tmp / "out")])
    assert res.exit_code == 0, res.output
    return the_sweep(tmp / "out")


@pytest.mark.slow
def test_a_sweep_on_a_local_cluster_writes_the_same_run_folders_as_a_local_sweep(tmp_path, local_sweep):
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cluster:
        res = CliRunner().invoke(main, ["sweep", str(sweep_file(tmp_path)), "--scheduler", cluster.scheduler_address,
                                        "--runs-dir", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "on the Dask cluster at tcp://127.0.0.1" in res.output
    assert_same_runs(the_sweep(tmp_path / "out"), local_sweep)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_sweep_through_the_dask_scheduler_and_dask_worker_commands(tmp_path, local_sweep):
    dask = str(Path(sys.executable).parent / "dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-dashboard"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with distributed.Client(address, timeout=30) as client:  # wait until both workers are in
            client.wait_for_workers(2, timeout=60)
        env = {"DASK_SCHEDULER_ADDRESS": address}
        res = subprocess.run([sys.executable, "-c", "from nnlab.cli import main; main()", "sweep",
                              str(sweep_file(tmp_path)), "--runs-dir", str(tmp_path / "out")],
                             capture_output=True, text=True, timeout=180,
                             env={**__import__("os").environ, **env})
        assert res.returncode == 0, res.stderr
        assert f"on the Dask cluster at {address}" in res.stdout
        assert_same_runs(the_sweep(tmp_path / "out"), local_sweep)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.mark.slow
def test_no_scheduler_there_is_one_line(tmp_path):
    from nnlab.errors import ConfigError
    from nnlab.sweep.pool import DaskPool
    from nnlab.sweep.work import run_task

    t0 = time.monotonic()
    with pytest.raises(ConfigError, match=r"--scheduler tcp://127.0.0.1:\d+: cannot reach a Dask scheduler there"):
        DaskPool(f"tcp://127.0.0.1:{_free_port()}", run_task, timeout=1)
    assert time.monotonic() - t0 < 15


def _server(greeting: bytes | None):
    """A TCP server on 127.0.0.1 that accepts and then sends ``greeting`` (None: stays silent, as an HTTP
    server waiting for its request); returns (address, stop)."""
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    conns = []

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            conns.append(c)
            if greeting is not None:
                c.sendall(greeting)

    threading.Thread(target=serve, daemon=True).start()

    def stop():
        srv.close()
        for c in conns:
            c.close()
    return f"tcp://127.0.0.1:{srv.getsockname()[1]}", stop


@pytest.mark.parametrize("greeting, why", [(None, r"no handshake within 2 s"),
                                           (b"SSH-2.0-OpenSSH_9.2p1\r\n" * 4, "it sent bytes that are not Dask's")])
@pytest.mark.slow
def test_something_else_listening_there_is_one_line_not_a_hang(greeting, why):
    """A silent server (HTTP waits for a request) held the Client's handshake for ever; an SSH banner read
    as a frame length made it allocate exabytes.  Both are one line, and no 20 s wait at exit."""
    from nnlab.errors import ConfigError
    from nnlab.sweep.pool import DaskPool
    from nnlab.sweep.work import run_task

    address, stop = _server(greeting)
    try:
        t0 = time.monotonic()
        with pytest.raises(ConfigError, match=rf"^--scheduler {address}: something answers there, but not a "
                                              rf"Dask scheduler \({why}"):
            DaskPool(address, run_task, timeout=1, handshake=1)
        assert time.monotonic() - t0 < 10
    finally:
        stop()


@pytest.mark.parametrize("address", ["garbage://x", "tcp://", "http://127.0.0.1:8786"])
def test_an_address_that_is_not_a_dask_address_is_refused_at_once(address):
    from nnlab.errors import ConfigError
    from nnlab.sweep.pool import DaskPool
    from nnlab.sweep.work import run_task

    with pytest.raises(ConfigError, match=rf"^--scheduler {address}: not a Dask scheduler address; give one such as "
                                          r"tcp://10.0.0.5:8786 \(schemes: inproc, tcp, tls, ucx, ws, wss\)$"):
        DaskPool(address, run_task)


def test_without_dask_installed_the_message_says_what_to_install(monkeypatch):
    from nnlab.errors import ConfigError
    from nnlab.sweep.pool import DaskPool
    from nnlab.sweep.work import run_task

    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(ConfigError) as e:
        DaskPool("tcp://127.0.0.1:8786", run_task)
    assert str(e.value) == "--scheduler needs dask.distributed, which is not installed: pip install 'nnlab[cluster]'"
