"""The sweep's performance targets, measured with the real command line.

    python bench/sweep.py            # all three measurements (about 2 minutes on 2 cores)
    python bench/sweep.py --quick    # smaller versions (CI smoke)

1. Parallel speed-up: 16 trials of a small MNIST-1D config (configs/momentum_step.yaml, about
   0.7 s of training each; and adam_relu for 25 epochs, 0.2 s each) with --jobs 2 against
   --jobs 1: the whole command's wall-time ratio, target <= 0.6.
2. Side by side: three `nnlab train configs/momentum_step.yaml` started together against
   one alone: each one's training time (summary.json train_seconds) and wall time, target <= 2x.
3. Overhead: a --jobs 1 sweep of 8 one-second trials (adam_relu, 70 epochs): the sweep's
   loop time (summary.json seconds: from the first run sent to the last recorded, the live
   view and every file included) against the sum of the runs' own training time
   (train_seconds), target < 5%; and the whole command's wall time, start-up included.

Every timing is the median of --repeat runs (default 3), jobs-1 and jobs-2 interleaved.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from nnlab.cli import main; main()"]


def _sweep(args: list[str], out: Path) -> tuple[float, Path]:
    t0 = time.perf_counter()
    subprocess.run([*CLI, "sweep", *args, "--runs-dir", str(out), "-q"], check=True, capture_output=True)
    wall = time.perf_counter() - t0
    folder = max(out.iterdir(), key=lambda p: p.stat().st_mtime)
    return wall, folder


def _train_seconds(folder: Path) -> list[float]:
    return [json.loads((d / "summary.json").read_text())["train_seconds"] for d in sorted((folder / "runs").iterdir())]


def speedup(tmp: Path, trials: int, epochs: int, repeat: int, config: str = "configs/momentum_step.yaml") -> None:
    base = [str(ROOT / config), "-p", "train.optimizer.lr=log:1e-3:1e-1", "--method", "random",
            "--trials", str(trials), "--set", f"train.epochs={epochs}"]
    times = {1: [], 2: []}
    for i in range(repeat):
        for jobs in (1, 2):
            wall, _ = _sweep([*base, "--jobs", str(jobs)], tmp / f"speed{jobs}-{i}")
            times[jobs].append(wall)
    m1, m2 = statistics.median(times[1]), statistics.median(times[2])
    print(f"1. {Path(config).name}, {trials} trials of {epochs} epochs: --jobs 1 {m1:.2f} s, --jobs 2 {m2:.2f} s, "
          f"ratio {m2 / m1:.2f} (target <= 0.6); all: jobs1 {_fmt(times[1])}, jobs2 {_fmt(times[2])}")


def side_by_side(tmp: Path, repeat: int, config: str) -> None:
    def train(n: int, runs: Path) -> list[tuple[float, float]]:
        procs, t0 = [], time.perf_counter()
        for k in range(n):
            procs.append(subprocess.Popen([*CLI, "train", config, "--runs-dir", str(runs / str(k)), "-q"],
                                          stdout=subprocess.DEVNULL))
        walls = []
        for p in procs:
            p.wait()
            walls.append(time.perf_counter() - t0)
        out = []
        for k in range(n):
            (d,) = list((runs / str(k)).iterdir())
            out.append((json.loads((d / "summary.json").read_text())["train_seconds"], walls[k]))
        return out

    alone, three = [], []
    for i in range(repeat):
        alone += train(1, tmp / f"alone{i}")
        three += train(3, tmp / f"three{i}")
    a_train = statistics.median(t for t, _ in alone)
    a_wall = statistics.median(w for _, w in alone)
    worst_train = max(statistics.median(t for t, _ in three[k::3]) for k in range(3))
    worst_wall = max(statistics.median(w for _, w in three[k::3]) for k in range(3))
    print(f"2. {Path(config).name}: alone {a_train:.2f} s training ({a_wall:.2f} s wall); three together, the "
          f"slowest: {worst_train:.2f} s training ({worst_wall:.2f} s wall) = {worst_train / a_train:.2f}x "
          f"({worst_wall / a_wall:.2f}x wall; target <= 2x)")


def overhead(tmp: Path, trials: int, epochs: int, repeat: int) -> None:
    base = [str(ROOT / "configs/adam_relu.yaml"), "-p", "train.optimizer.lr=log:1e-3:1e-2", "--method", "random",
            "--trials", str(trials), "--set", f"train.epochs={epochs}", "--jobs", "1"]
    rows = []
    for i in range(repeat):
        wall, folder = _sweep(base, tmp / f"over{i}")
        loop = json.loads((folder / "summary.json").read_text())["seconds"]
        train = sum(_train_seconds(folder))
        run_wall = sum(json.loads((d / "summary.json").read_text())["wall_seconds"]
                       for d in (folder / "runs").iterdir())
        rows.append((wall, loop, train, run_wall))
    wall, loop, train, run_wall = (statistics.median(r[k] for r in rows) for k in range(4))
    print(f"3. {trials} trials of {train / trials:.2f} s in the batch loop ({run_wall / trials:.2f} s per run with its "
          f"validation passes, shuffles and records, as nnlab train does them):\n"
          f"   sweep loop {loop:.2f} s = {100 * (loop - run_wall) / run_wall:.1f}% over the runs' own time "
          f"(scheduling, trials.csv, the live view, folders; target < 5%), {100 * (loop - train) / train:.1f}% over "
          f"the batch loops alone;\n   the whole command {wall:.2f} s ({100 * (wall - train) / train:.1f}% over the "
          f"batch loops, start-up, the test evaluation and the figures included)")


def _fmt(v: list[float]) -> str:
    return "[" + ", ".join(f"{x:.2f}" for x in v) + "]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small versions of the three measurements")
    ap.add_argument("--repeat", type=int, default=None)
    a = ap.parse_args()
    repeat = a.repeat or (1 if a.quick else 3)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if a.quick:
            print("--quick: smoke sizes that only check the script runs; the targets apply to the full run")
            speedup(tmp, 4, 5, repeat)
            side_by_side(tmp, repeat, str(ROOT / "configs/tiny/mnist1d_small.yaml"))
            overhead(tmp, 2, 10, repeat)
        else:
            speedup(tmp, 16, 100, repeat)  # the momentum_step runs: about 0.7 s of training each
            speedup(tmp, 16, 25, repeat, "configs/adam_relu.yaml")  # 0.2 s each: start-up and figures weigh more
            side_by_side(tmp, repeat, str(ROOT / "configs/momentum_step.yaml"))
            overhead(tmp, 8, 70, repeat)


if __name__ == "__main__":
    main()
