"""One BLAS thread for runs whose matrix products are small; NNLAB_THREADS overrides."""

from __future__ import annotations

import pytest
from helpers import merged_config
from threadpoolctl import threadpool_info

from nnlab.experiment import run_experiment
from nnlab.train.threads import THRESHOLD, blas_threads, largest_product_flops

BASE = {"name": "th", "data": {"name": "spiral", "n_samples": 100, "val_fraction": 0.2},
        "model": {"hidden": [30, 20]}, "train": {"epochs": 2, "batch_size": 16}}


def test_largest_product_by_hand():
    cfg = merged_config(BASE)
    # layers 2->30, 30->20, 20->3 with batches of 16: the largest is 2 * 16 * 30 * 20
    assert largest_product_flops(cfg, 2, 3, 80) == 2 * 16 * 30 * 20
    maxout = merged_config(BASE, model={"activation": {"name": "maxout", "pieces": 3}})
    # 2 -> 90 (30 units x 3 pieces), 30 -> 60, 20 -> 3
    assert largest_product_flops(maxout, 2, 3, 80) == 2 * 16 * 30 * 60
    full = merged_config(BASE, train={"batch_size": "full"})
    assert largest_product_flops(full, 2, 3, 80) == 2 * 80 * 30 * 20


def test_small_runs_get_one_thread_large_ones_the_default(monkeypatch):
    monkeypatch.delenv("NNLAB_THREADS", raising=False)
    assert blas_threads(merged_config(BASE), 2, 3, 80) == 1
    big = merged_config(BASE, model={"hidden": [1000]}, train={"batch_size": 128})
    assert largest_product_flops(big, 784, 10, 1000) >= THRESHOLD
    assert blas_threads(big, 784, 10, 1000) is None
    monkeypatch.setenv("NNLAB_THREADS", "3")
    assert blas_threads(merged_config(BASE), 2, 3, 80) == 3


def _blas_threads_now() -> int:
    return min(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


@pytest.mark.slow
@pytest.mark.parametrize("env, expect", [(None, 1), ("2", 2)])
def test_the_run_trains_with_the_chosen_count_and_records_it(tmp_path, monkeypatch, env, expect):
    if env is None:
        monkeypatch.delenv("NNLAB_THREADS", raising=False)
    else:
        monkeypatch.setenv("NNLAB_THREADS", env)
    before = _blas_threads_now()
    seen = []
    _, _, summary = run_experiment(merged_config(BASE), tmp_path, on_epoch=lambda row: seen.append(_blas_threads_now()))
    assert seen == [expect, expect]
    assert summary["blas_threads"] == expect
    assert _blas_threads_now() == before  # restored after the run


@pytest.mark.parametrize("value", ["abc", "0", "-1", "1e9", "257", "99999999999999999999"])
def test_a_bad_nnlab_threads_is_one_line_before_any_command_runs(tmp_path, monkeypatch, value):
    """Before, 'abc' and '-1' were ignored or read as 1 without a word, and a 20-digit count reached
    ctypes mid-run ('run failed: ArgumentError')."""
    from click.testing import CliRunner

    from nnlab.cli import main

    monkeypatch.setenv("NNLAB_THREADS", value)
    r = CliRunner().invoke(main, ["train", "configs/tiny/" + sorted(__import__("os").listdir("configs/tiny"))[0],
                                  "--runs-dir", str(tmp_path), "--quiet"])
    assert r.exit_code == 2 and r.output.strip() == (
        f"error: NNLAB_THREADS: must be a whole number from 1 to 256 (BLAS threads per run), got {value!r}; "
        "unset it to let nnlab choose from the matrix sizes")
    assert list(tmp_path.iterdir()) == []  # no run folder


def test_nnlab_threads_in_range_is_the_count(monkeypatch):
    from nnlab.train.threads import env_threads

    for text, n in ((" 1 ", 1), ("2", 2), ("256", 256), ("", None)):
        monkeypatch.setenv("NNLAB_THREADS", text)
        assert env_threads() == n
    monkeypatch.delenv("NNLAB_THREADS")
    assert env_threads() is None
