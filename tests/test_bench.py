"""bench/run.py keeps working (a smoke run; performance itself is never asserted in tests)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def bench_module():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_quick_benchmark_runs_and_reports(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--only", "c",
                          "--impls", "nnlab,floor,nnlab_monitored,nnlab_90", "--thread-table",
                          "--json", str(tmp_path / "b.json")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "threads:" in out.stdout and "versions:" in out.stdout
    for label in ("nnlab ", "GEMM floor", "nnlab monitored", "nnlab 90%"):
        assert f"c        {label}" in out.stdout
    assert "validation + diagnostics add" in out.stdout
    assert "1 thread" in out.stdout and "2 threads" in out.stdout  # the thread table
    data = json.loads((tmp_path / "b.json").read_text())
    assert set(data["results"]["c"]["median_seconds"]) == {"nnlab", "floor", "nnlab_monitored", "nnlab_90"}
    assert set(data["results"]["threads"]["c"]["nnlab"]) == {"1", "2"}
    assert "targets (issue 13" in out.stdout
    # nnlab picks one thread for (c) (its products are small): the floor at that count
    assert data["results"]["targets"]["c"]["floor"]["nnlab_threads"] == 1


def test_target_ratios_use_nnlabs_own_choice_and_the_others_best_thread_count():
    bench = bench_module()
    per = {("nnlab", 1): [1.0, 1.2, 1.1], ("nnlab", 2): [1.5, 1.5, 1.5],
           ("torch_fused", 1): [4.0, 4.0, 4.0], ("torch_fused", 2): [4.4, 4.4, 4.4],
           ("torch_best", 1): [5.0, 5.0, 5.0], ("torch_best", 2): [3.9, 3.8, 4.0],
           ("sklearn", 1): [3.0, 3.0, 3.0], ("sklearn", 2): [2.0, 2.0, 2.0],
           ("floor", 1): [0.5, 0.5, 0.5], ("floor", 2): [0.3, 0.3, 0.3]}
    lines, out = bench.target_lines("b", per, "1")
    # nnlab at 1 thread (its choice): 1.1 s; PyTorch's best is contig+fused at 2 threads, 3.9 s
    assert out["torch"]["other"] == "torch_best" and out["torch"]["other_threads"] == 2
    assert out["torch"]["ratio"] == pytest.approx(1.1 / 3.9)
    assert out["sklearn"]["ratio"] == pytest.approx(1.1 / 2.0)  # scikit-learn at its faster count
    assert out["floor"]["ratio"] == pytest.approx(1.1 / 0.5)  # the floor at nnlab's own count
    assert "target <= 0.3: met" in lines[0] and "target <= 0.5: NOT met" in lines[1]
    _, out2 = bench.target_lines("a", per, "default")  # 'default' = all (here 2) threads
    assert out2["torch"]["nnlab_seconds"] == 1.5 and out2["floor"]["ratio"] == pytest.approx(5.0)


def test_every_pytorch_variant_is_timed_by_default_and_compile_not_in_a_quick_run():
    bench = bench_module()
    full, quick = bench.default_impls(quick=False), bench.default_impls(quick=True)
    assert set(bench.TORCH_VARIANTS) <= set(full)
    assert "torch_compile" in full and "torch_compile" not in quick
    assert {"nnlab", "sklearn", "floor", *bench.QUICK_TORCH} <= set(quick)
    for spec in bench.TORCH_VARIANTS.values():
        assert spec["batches"] in ("index_select", "advanced", "contiguous")
        assert set(spec["adam"]) <= {"foreach", "fused"}


def test_missing_libraries_are_skipped_with_a_note(monkeypatch):
    bench = bench_module()
    monkeypatch.setattr(bench, "available", lambda module: module not in ("torch", "sklearn"))
    impls, notes = bench.select_impls(bench.default_impls(quick=True))
    assert impls == ["nnlab", "floor", "nnlab_monitored", "nnlab_90"]
    assert any("torch is not installed" in n for n in notes)
    assert any("scikit-learn is not installed" in n for n in notes)


def test_the_floor_counts_every_product_of_every_step():
    bench = bench_module()
    assert bench.batch_sizes(10, 4) == [4, 4, 2]
    assert bench.batch_sizes(8, 4) == [4, 4]


@pytest.mark.slow
def test_quick_benchmark_with_pytorch_variants(tmp_path):
    pytest.importorskip("torch")
    # three variants cover every code path of the loop: X[idx] + .item(), index_select + zero-filled
    # gradients, contiguous batches + fused Adam (torch.compile is left to the real benchmark)
    impls = "nnlab,torch_bench,torch_zero,torch_best"
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--only", "c",
                          "--impls", impls, "--json", str(tmp_path / "b.json")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "b.json").read_text())["results"]["c"]
    assert set(data["median_seconds"]) == set(impls.split(","))
    assert data["fastest_torch"] in impls.split(",")[1:]
    assert " *" in out.stdout and "PyTorch variants" in out.stdout


@pytest.mark.slow
def test_checkpoint_benchmark_runs_and_reports():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "checkpoint.py"),
                          str(ROOT / "configs" / "tiny" / "spiral_relu_sgd.yaml")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "spiral_relu_sgd:" in out.stdout and "median checkpoint write" in out.stdout


# -- bench/load.py: nnlab's own thread choice beside a background load (issue 24) ---------------------------

def load_module():
    spec = importlib.util.spec_from_file_location("bench_load", ROOT / "bench" / "load.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_load_benchmark_reuses_bench_runs_784_wide_workload():
    load = load_module()
    assert {k: load.WORKLOADS[k]["hidden"] for k in load.WORKLOADS} == {
        "100": [100, 100], "256": [256, 256], "512": [512, 512], "a": [256, 256]}
    assert load.WORKLOADS["a"]["d"] == 784 and load.WORKLOADS["a"]["epochs"] == bench_module().WORKLOADS["a"]["epochs"]


def test_the_load_benchmarks_ratios_and_what_nnlab_chose():
    load = load_module()
    r = load.ratios({"default": 1.2, "1": 1.0, "2": 4.0, "torch": 2.4})
    assert r == {"fixed": pytest.approx(1.2), "torch": pytest.approx(0.5)}
    assert load.ratios({"default": 1.0, "1": 1.0}) == {"fixed": 1.0, "torch": None}
    rec = {"threads": 2, "reason": "trial: 1 thread 1 ms/step, 2 threads 0.6 ms/step", "changes": [{}]}
    assert load.choice_text([{"thread_record": rec}] * 3) == "2 (trial)"
    moved = {**rec, "threads": 1, "changes": [{}, {}]}
    assert load.choice_text([{"thread_record": rec}, {"thread_record": moved}]) == "1, 2 (trial, 1 switch)"


def test_the_background_load_stops_with_the_block_and_by_itself():
    load = load_module()
    with load.Load(1, limit=60) as busy:
        (p,) = busy.procs
        assert p.poll() is None
    assert p.poll() is not None  # killed at the end of the block
    with load.Load(1, limit=0.2) as busy:
        busy.procs[0].wait(timeout=30)  # its time limit: it ends by itself


@pytest.mark.slow
def test_quick_load_benchmark_runs_and_reports(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "load.py"), "--quick", "--modes", "quiet",
                          "--only", "100", "--json", str(tmp_path / "l.json")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "l.json").read_text())
    res = data["results"]["quiet"]["100"]
    assert {"default", "1", "2"} <= set(res["median"])
    assert res["choice"] == "1 (small products)"  # [100, 100]: products under 3 Mflop
    assert "nnlab default" in out.stdout and "NNLAB_THREADS=1" in out.stdout
