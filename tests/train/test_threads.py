"""One BLAS thread for runs whose matrix products are small; NNLAB_THREADS overrides; larger runs time 1 and 2
threads on their own steps (ThreadChooser, tested with a fake clock) and record the choice in summary.json."""

from __future__ import annotations

import pytest
from helpers import merged_config
from threadpoolctl import threadpool_info

from nnlab.experiment import run_experiment
from nnlab.train.threads import (THRESHOLD, ThreadChooser, blas_threads, continued, cores, largest_product_flops,
                                 run_threads, same_numbers)

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


# -- the choice timed on the run's own steps: a fake clock and fake step times, nothing timed for real ------------

class FakeSteps:
    """A clock and a BLAS whose every step takes ``ms(threads, step)`` milliseconds; logs the count of each step."""

    def __init__(self, ms):
        self.ms, self.now, self.threads, self.log = ms, 0.0, None, []

    def set_threads(self, n):
        self.threads = n

    def clock(self):
        return self.now

    def chooser(self, top=2):
        return ThreadChooser(top, self.set_threads, self.clock)

    def run(self, chooser, steps, per_epoch=40):
        for _ in range(steps):
            i = len(self.log)
            chooser.start()
            self.log.append(self.threads)
            self.now += self.ms(self.threads, i) / 1e3
            chooser.stop(i // per_epoch + 1)


def test_one_thread_when_two_are_not_clearly_faster():
    fake = FakeSteps(lambda n, i: 1.0 if n == 1 else 0.95)  # 5% faster: not worth two threads
    ch = fake.chooser()
    fake.run(ch, 23)
    assert ch.threads is None  # the trial is 24 steps
    fake.run(ch, 1 + 20)
    assert ch.threads == 1 and fake.log[24:] == [1] * 20
    assert fake.log[:24] == [1] * 4 + [2] * 8 + [1] * 8 + [2] * 4  # blocks of 4, the counts alternating
    assert ch.record() == {"threads": 1, "reason": "trial: 1 thread 1 ms/step, 2 threads 0.95 ms/step",
                           "trials": 1,
                           "changes": [{"epoch": 1, "threads": 1,
                                        "reason": "trial: 1 thread 1 ms/step, 2 threads 0.95 ms/step"}]}


def test_two_threads_when_clearly_faster_and_only_the_steps_after_a_switch_are_not_counted():
    # the first step of every block pays for the switch: 9 ms, never counted
    fake = FakeSteps(lambda n, i: 9.0 if i % 4 == 0 and i < 24 else (1.0 if n == 1 else 0.6))
    ch = fake.chooser()
    fake.run(ch, 30)
    assert ch.threads == 2 and fake.log[24:] == [2] * 6
    assert ch.reason == "trial: 1 thread 1 ms/step, 2 threads 0.6 ms/step"


def test_a_collapsing_count_ends_the_trial_after_one_or_two_of_its_steps():
    # a busy machine: a two-thread step takes 60 ms against 1 ms with one: more than FAR (10) times
    fake = FakeSteps(lambda n, i: 1.0 if n == 1 else 60.0)
    ch = fake.chooser()
    fake.run(ch, 10)
    assert fake.log == [1] * 4 + [2] + [1] * 5  # not the 12 two-thread steps of a whole trial
    assert ch.threads == 1 and ch.reason == "trial: 1 thread 1 ms/step, 2 threads 60 ms/step"
    # 3 times as long (more than EARLY, less than FAR): two steps in a row
    fake = FakeSteps(lambda n, i: 1.0 if n == 1 else 3.0)
    ch = fake.chooser()
    fake.run(ch, 10)
    assert fake.log == [1] * 4 + [2] * 2 + [1] * 4 and ch.threads == 1
    # one slow step alone (a preemption, 5x) does not end it
    fake = FakeSteps(lambda n, i: 5.0 if i == 5 else (1.0 if n == 1 else 0.5))
    ch = fake.chooser()
    fake.run(ch, 30)
    assert ch.threads == 2 and fake.log[:24].count(2) == 12


def test_load_arriving_mid_run_switches_to_one_thread_and_leaving_switches_back():
    busy = range(200, 400)  # steps under another process's load: two threads collapse, one slows a little
    fake = FakeSteps(lambda n, i: (1.3 if n == 1 else 8.0) if i in busy else (1.0 if n == 1 else 0.6))
    ch = fake.chooser()
    fake.run(ch, 200)
    assert ch.threads == 2
    fake.run(ch, 40)  # within a window of 16 steps the median moved 0.6 -> 8 ms: a re-trial, which ends early
    assert ch.threads == 1 and ch.changes[-1]["epoch"] == 6
    assert ch.changes[-1]["reason"] == "re-trial (step time 0.6 ms -> 8 ms): 1 thread 1.3 ms/step, 2 threads 8 ms/step"
    assert sum(1 for n in fake.log[200:240] if n == 2) == 16 + 2  # the window, then two steps of the re-trial
    # the load leaves: one thread gets 1.3x faster, not the 1.5x that starts a re-trial; the periodic one does
    fake.run(ch, 10_000)
    assert ch.threads == 2
    assert [c["threads"] for c in ch.changes] == [2, 1, 2]
    assert ch.changes[2]["reason"].startswith("re-trial after 10 s of steps: ")


def test_re_trials_that_keep_the_count_come_less_and_less_often():
    fake = FakeSteps(lambda n, i: 1.0 if n == 1 else 0.6)
    ch = fake.chooser()
    fake.run(ch, 400_000)  # about 240 s of steps: re-trials after 10, 20, 40, 80, 80 s
    assert ch.trials == 6 and ch.threads == 2 and len(ch.changes) == 1
    assert ch.reason.startswith("re-trial after 80 s of steps: ")
    # the trials' one-thread steps: 12 each, a small share of the run
    assert fake.log.count(1) == 6 * 12


def test_a_run_that_ends_inside_its_first_trial_is_decided_on_what_it_measured():
    fake = FakeSteps(lambda n, i: 1.0 if n == 1 else 0.5)
    ch = fake.chooser()
    fake.run(ch, 7)  # 3 counted steps at 1 thread, 2 at 2
    rec = ch.record()
    assert rec["threads"] == 2 and rec["reason"].startswith("trial (cut short by the end of the run): ")
    fake = FakeSteps(lambda n, i: 1.0)
    ch = fake.chooser()
    fake.run(ch, 4)  # four steps at one thread; the fifth would have been the first at two
    assert ch.record() == {"threads": 1, "reason": "the run ended before its trial could compare the counts",
                           "trials": 0,
                           "changes": [{"epoch": 1, "threads": 1,
                                        "reason": "the run ended before its trial could compare the counts"}]}


def test_a_resumed_run_adds_its_changes_to_the_earlier_ones():
    earlier = {"threads": 2, "trials": 3,
               "changes": [{"epoch": 1, "threads": 2, "reason": "a"}]}
    now = {"threads": 1, "reason": "b", "trials": 1,
           "changes": [{"epoch": 7, "threads": 1, "reason": "b"}]}
    out = continued(earlier, now)
    assert out["trials"] == 4 and [c["epoch"] for c in out["changes"]] == [1, 7] and out["threads"] == 1
    assert continued({}, dict(now)) == now


# -- which runs time their steps --------------------------------------------------------------------------

BIG = {**BASE, "data": {"name": "spiral", "n_samples": 400, "val_fraction": 0.2}, "model": {"hidden": [300, 300]},
       "train": {"epochs": 6, "batch_size": 64}}  # 5 steps per epoch, 30 in all: room for a whole trial


def _choice(cfg, monkeypatch, env=None, given=None):
    from nnlab.data import load_dataset

    if env is None:
        monkeypatch.delenv("NNLAB_THREADS", raising=False)
    else:
        monkeypatch.setenv("NNLAB_THREADS", env)
    with run_threads(cfg, load_dataset(cfg.data, cfg.dtype), given) as choice:
        return choice


def test_nnlab_threads_wins_and_sweep_workers_keep_their_one_thread(monkeypatch):
    big = merged_config(BIG)
    assert largest_product_flops(big, 2, 3, 320) >= THRESHOLD
    if min(cores(), _blas_threads_now()) > 1:  # a machine with one core or a one-thread BLAS never times
        assert _choice(big, monkeypatch).adaptive
    fixed = _choice(big, monkeypatch, env="2")
    assert not fixed.adaptive and fixed.record()["reason"] == "NNLAB_THREADS=2" and fixed.threads == 2
    # a sweep's worker: LocalPool sets NNLAB_THREADS=1 in the worker and passes threads=1 to its runs
    assert _choice(big, monkeypatch, env="1").record()["reason"] == "NNLAB_THREADS=1"
    worker = _choice(big, monkeypatch, given=1)
    assert worker.threads == 1 and worker.record()["reason"] == "1 thread per run, set by the sweep or ensemble that runs it"
    small = _choice(merged_config(BASE), monkeypatch)
    assert small.record() == {"threads": 1, "reason": "small products (0.019 Mflop < 3 Mflop): 1 thread",
                              "trials": 0,
                              "changes": [{"epoch": 1, "threads": 1,
                                           "reason": "small products (0.019 Mflop < 3 Mflop): 1 thread"}]}


def test_a_sweep_workers_run_keeps_one_thread_and_says_why(tmp_path, monkeypatch):
    """A parallel sweep's runs come with threads=1 (LocalPool, sweep/task.py's RunOptions): no trial."""
    from nnlab.experiment import RunOptions

    monkeypatch.delenv("NNLAB_THREADS", raising=False)
    seen = []
    _, _, summary = run_experiment(merged_config(BIG), tmp_path, options=RunOptions(threads=1),
                                   on_epoch=lambda row: seen.append(_blas_threads_now()))
    assert seen == [1] * 6 and summary["blas_threads"] == 1
    assert summary["threads"]["reason"] == "1 thread per run, set by the sweep or ensemble that runs it"
    assert summary["threads"]["trials"] == 0


def test_a_tiny_nnlab_train_records_its_thread_choice_in_summary_json(tmp_path, monkeypatch):
    import json
    import os

    from click.testing import CliRunner

    from nnlab.cli import main

    monkeypatch.delenv("NNLAB_THREADS", raising=False)
    config = "configs/tiny/" + sorted(os.listdir("configs/tiny"))[0]
    r = CliRunner().invoke(main, ["train", config, "--runs-dir", str(tmp_path), "--quiet"])
    assert r.exit_code == 0, r.output
    (run,) = tmp_path.iterdir()
    summary = json.loads((run / "summary.json").read_text())
    rec = summary["threads"]
    assert rec["threads"] == summary["blas_threads"] == 1 and rec["reason"].startswith("small products (")
    assert rec["changes"] == [{"epoch": 1, "threads": 1, "reason": rec["reason"]}] and rec["trials"] == 0


def test_a_timed_run_records_its_trial_in_summary_json(tmp_path, monkeypatch):
    """Real step times: only the shape of the record is checked, never which count won."""
    monkeypatch.delenv("NNLAB_THREADS", raising=False)
    seen = []
    _, _, summary = run_experiment(merged_config(BIG), tmp_path, on_epoch=lambda row: seen.append(_blas_threads_now()))
    rec = summary["threads"]
    if min(cores(), before := _blas_threads_now()) == 1:
        pytest.skip("one core or a one-thread BLAS: nothing to time")
    assert rec["threads"] in (1, before) and summary["blas_threads"] == rec["threads"]
    assert rec["trials"] >= 1 and rec["changes"][0]["threads"] in (1, before)
    assert rec["reason"].startswith("trial") and " ms/step, " in rec["reason"]
    assert all(isinstance(c["epoch"], int) and 1 <= c["epoch"] <= 6 for c in rec["changes"])
    assert set(seen) <= {1, before}  # the count at each epoch's end
    assert _blas_threads_now() == before  # the library's own count is back after the run


def test_a_network_whose_numbers_depend_on_the_count_is_not_timed(tmp_path, monkeypatch):
    """Timing would make such a run's numbers depend on the machine's load: it keeps the library's count."""
    import nnlab.train.threads as threads

    monkeypatch.delenv("NNLAB_THREADS", raising=False)
    monkeypatch.setattr(threads, "same_numbers", lambda *args: False)
    before = _blas_threads_now()
    if min(cores(), before) == 1:
        pytest.skip("one core or a one-thread BLAS: nothing to time")
    _, _, summary = run_experiment(merged_config(BIG), tmp_path)
    rec = summary["threads"]
    assert rec["threads"] == summary["blas_threads"] == before and rec["trials"] == 0
    assert rec["reason"].startswith(f"{before} threads, not timed: this network's float32 products differ")
    assert rec["changes"] == [{"epoch": 1, "threads": before, "reason": rec["reason"]}]


# -- are the numbers the same at 1 and 2 threads? ---------------------------------------------------------

@pytest.mark.parametrize("features, expect_same", [(40, True), (600, False)])
def test_the_probe_says_whether_the_thread_count_changes_a_runs_numbers(tmp_path, features, expect_same):
    """Measured with OpenBLAS 0.3.31: products whose inner dimension is above 384 (500, 513, 600, 700, 784, 1000;
    not 512 or 768) are blocked differently with 1 and 2 threads, so their float32 sums round differently; 384 and
    below agreed bit for bit.  The probe (same_numbers) must predict what whole training runs do, whatever the BLAS;
    with one count, a run is the same run to run."""
    import numpy as np
    from threadpoolctl import ThreadpoolController, threadpool_limits

    from nnlab.data import load_dataset
    from nnlab.train.trainer import train

    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, features)).astype(np.float32)
    y = rng.integers(0, 3, 256)
    np.savez(tmp_path / "d.npz", x=x, y=y, x_test=x[:10], y_test=y[:10])
    cfg = merged_config({"name": "r", "data": {"name": "npz", "path": str(tmp_path / "d.npz"), "val_fraction": 0.0},
                         "model": {"hidden": [256]}, "train": {"epochs": 2, "batch_size": 64}})
    ds = load_dataset(cfg.data, cfg.dtype)
    params = {}
    for n in (1, 2, 1, 2):
        with threadpool_limits(n, user_api="blas"):
            p = train(cfg, ds, evaluate_test=False).model.params.copy()
        assert n not in params or np.array_equal(params[n], p)  # the same count: the same numbers, run to run
        params[n] = p
    libs = ThreadpoolController().select(user_api="blas").lib_controllers
    with threadpool_limits(2, user_api="blas"):  # restores the count the probe leaves
        probe = same_numbers(cfg, ds, (1, 2), lambda k: [lib.set_num_threads(k) for lib in libs])
    assert probe == np.array_equal(params[1], params[2])
    if all(lib.internal_api == "openblas" for lib in libs):
        assert probe == expect_same


def test_a_one_thread_run_that_slows_down_does_not_try_two_threads_again_at_once():
    # more load: one thread slows 2x; two threads would be worse still, so only the periodic re-trial comes
    fake = FakeSteps(lambda n, i: (1.0 if i < 100 else 2.0) if n == 1 else 60.0)
    ch = fake.chooser()
    fake.run(ch, 3000)
    assert ch.trials == 1 and fake.log[10:].count(2) == 0


def test_trials_stay_a_small_share_of_a_busy_run_whose_step_time_flickers():
    # one thread flickers between 1 and 2 ms every 40 steps (a flaky neighbour), two threads collapse: the windows
    # that look 1.5x faster would start a re-trial every few dozen steps; each costs two 60 ms steps
    fake = FakeSteps(lambda n, i: (1.0 if (i // 40) % 2 else 2.0) if n == 1 else 60.0)
    ch = fake.chooser()
    fake.run(ch, 20_000)
    at_two = 60.0 * fake.log.count(2)
    assert ch.threads == 1 and 3 <= ch.trials and at_two < 0.12 * fake.now * 1e3
