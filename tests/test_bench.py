"""bench/run.py keeps working (a smoke run; performance itself is never asserted in tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_runs_and_reports(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--only", "c",
                          "--impls", "nnlab,nnlab_monitored,nnlab_90", "--json", str(tmp_path / "b.json")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "threads:" in out.stdout and "versions:" in out.stdout
    for label in ("nnlab ", "nnlab monitored", "nnlab 90%"):
        assert f"c        {label}" in out.stdout
    assert "validation + diagnostics add" in out.stdout
    import json

    data = json.loads((tmp_path / "b.json").read_text())
    assert set(data["results"]["c"]["median_seconds"]) == {"nnlab", "nnlab_monitored", "nnlab_90"}


def test_checkpoint_benchmark_runs_and_reports():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "checkpoint.py"),
                          str(ROOT / "configs" / "tiny" / "spiral_relu_sgd.yaml")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "spiral_relu_sgd:" in out.stdout and "median checkpoint write" in out.stdout
