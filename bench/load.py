"""Training time beside other CPU-bound processes: nnlab's own thread choice against its fixed counts and PyTorch.

    python bench/load.py                      # busy and quiet, 3 repetitions of every measurement
    python bench/load.py --quick              # a smoke run: two small workloads, 2 epochs, one repetition
    python bench/load.py --modes busy --only 256,a --reps 5 --json load.json

Modes:
  busy   the benchmark starts one busy-looping process per core first (each ends by itself after
         --load-limit seconds, or as soon as this process is gone) and stops them at the end, also
         on Ctrl-C or SIGTERM
  quiet  nothing else started (whatever else runs on the machine is reported as the load average)

Workloads (ReLU MLP, Adam lr 1e-3, float32, standardized inputs, no validation split):
  100  MNIST-1D (4,000 x 40), [100, 100], batch 100, 30 epochs
  256  MNIST-1D, [256, 256], batch 100, 30 epochs
  512  MNIST-1D, [512, 512], batch 100, 30 epochs
  a    bench/run.py's workload a: 784 features, 20,000 samples, [256, 256], batch 128, 5 epochs

Implementations, each measurement in a fresh process (thread settings never leak from one to the next), the four
alternating within each repetition, medians of the repetitions:
  default     nnlab as `nnlab train` runs it: NNLAB_THREADS unset, its own choice (nnlab/train/threads.py)
  1 thread    NNLAB_THREADS=1
  2 threads   NNLAB_THREADS=2
  PyTorch     bench/run.py's plain PyTorch loop of the same net at torch's default thread count (skipped
              with a note when torch is not installed)
nnlab's seconds are its run's: the thread set-up (for a timed run, the check whether the counts give the same
numbers), the trials and the loop.  The targets (issue 24): busy, the default at most 1.3x the faster fixed count
and no slower than PyTorch; quiet, at most 1.1x the faster fixed count.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nnlab.train import threads  # numpy-free: the cores this process may use


def _bench_run():
    """bench/run.py as a module: its data, nnlab's worker and the PyTorch loop."""
    spec = importlib.util.spec_from_file_location("bench_run", Path(__file__).resolve().with_name("run.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


bench_run = _bench_run()

MNIST1D = {"dataset": "mnist1d", "batch": 100, "epochs": 30, "quick_epochs": 2, "data": "b"}
WORKLOADS = {
    "100": {**MNIST1D, "hidden": [100, 100], "desc": "MNIST-1D, [100, 100], batch 100, 30 epochs"},
    "256": {**MNIST1D, "hidden": [256, 256], "desc": "MNIST-1D, [256, 256], batch 100, 30 epochs"},
    "512": {**MNIST1D, "hidden": [512, 512], "desc": "MNIST-1D, [512, 512], batch 100, 30 epochs"},
    "a": {**bench_run.WORKLOADS["a"], "data": "a"},
}
QUICK_ONLY = "100,256"
IMPLS = {"default": "nnlab default", "1": "NNLAB_THREADS=1", "2": "NNLAB_THREADS=2", "torch": "PyTorch"}
TARGETS = {"busy": {"fixed": 1.3, "torch": 1.0}, "quiet": {"fixed": 1.1}}


# ---------------------------------------------------------------- the background load

class Load:
    """One busy-looping process per core, for the ``with`` block (and never longer than ``limit`` seconds)."""

    def __init__(self, n: int, limit: float):
        self.n, self.limit, self.procs = n, limit, []

    def __enter__(self):
        # each spins until its time is up or this process is gone (its parent changes), whichever comes first
        code = (f"import os, time\nend = time.monotonic() + {self.limit}\n"
                f"while time.monotonic() < end and os.getppid() == {os.getpid()}:\n    pass\n")
        self.procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
                      for _ in range(self.n)]
        return self

    def alive(self) -> bool:
        """Every busy loop still running (not ended by its time limit)."""
        return all(p.poll() is None for p in self.procs)

    def __exit__(self, *exc):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            p.wait()
        self.procs = []


def stop_on_signals() -> None:
    """SIGTERM and SIGHUP end the benchmark as Ctrl-C does: through the finally blocks that stop the load."""
    def handler(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


# ---------------------------------------------------------------- workers (one per process)

def run_worker(args) -> None:
    w = WORKLOADS[args.workload]
    epochs = w["quick_epochs"] if args.quick else w["epochs"]
    if args.worker == "torch":
        import torch  # its default thread count: what a plain loop gets

        out = bench_run.worker_torch(w, args.data, epochs, torch.get_num_threads(),
                                     bench_run.TORCH_VARIANTS["torch_plain"])
    else:
        out = bench_run.worker_nnlab(w, args.data, epochs, monitored=False)
    print(json.dumps(out))


def measure(impl: str, key: str, data: Path, quick: bool) -> dict:
    """One measurement in a fresh process; nnlab's count through NNLAB_THREADS, every library at its default."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("NNLAB_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    if impl in ("1", "2"):
        env["NNLAB_THREADS"] = impl
    cmd = [sys.executable, __file__, "--worker", impl, "--workload", key, "--data", str(data)]
    out = subprocess.run(cmd + (["--quick"] if quick else []), capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the driver

def ratios(med: dict) -> dict:
    """default / the faster fixed count, default / PyTorch (None where a figure is missing)."""
    fixed = [med[k] for k in ("1", "2") if k in med]
    d = med.get("default")
    return {"fixed": d / min(fixed) if d and fixed else None, "torch": d / med["torch"] if d and "torch" in med
            else None}


def choice_text(runs: list[dict]) -> str:
    """What the default runs chose: '2 (trial)', '1 (small products)', '1, 2 (...)' when they differed."""
    recs = [r["thread_record"] for r in runs if "thread_record" in r]
    if not recs:
        return ""
    counts = sorted({r["threads"] for r in recs})
    why = recs[-1]["reason"].split(":")[0].split(" (")[0]
    switched = max(len(r["changes"]) for r in recs) - 1
    return f"{', '.join(map(str, counts))} ({why}{f', {switched} switch' + 'es' * (switched > 1) if switched else ''})"


def table(results: dict, reps: int, notes: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"train seconds, median of {reps} (each in its own process)", caption="; ".join(notes) or None)
    for col in ("mode", "workload", *IMPLS.values(), "default / best fixed", "default / PyTorch", "nnlab chose"):
        t.add_column(col, justify="left" if col in ("mode", "workload", "nnlab chose") else "right")
    for mode, per_mode in results.items():
        for key, r in per_mode.items():
            med, rat = r["median"], r["ratios"]
            cells = [f"{med[i]:.3f}" if i in med else ("failed" if r["runs"].get(i) else "-") for i in IMPLS]
            verdict = []
            for what in ("fixed", "torch"):
                goal = TARGETS[mode].get(what)
                if rat[what] is None:
                    verdict.append("-")
                else:
                    mark = "" if goal is None else (" ok" if rat[what] <= goal else " [red]NOT met[/red]")
                    verdict.append(f"{rat[what]:.2f}{mark}")
            t.add_row(mode, key, *cells, *verdict, r["choice"])
    Console(width=None if sys.stdout.isatty() else 160).print(t)  # piped: wide enough for every column


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help=f"workloads {QUICK_ONLY}, 2 epochs, one repetition")
    ap.add_argument("--modes", default="busy,quiet", help="busy, quiet or both (default busy,quiet)")
    ap.add_argument("--only", default=None, help=f"workloads, e.g. 256,a (default all: {','.join(WORKLOADS)})")
    ap.add_argument("--reps", type=int, default=None, help="repetitions of every measurement (default 3, quick 1)")
    ap.add_argument("--load-limit", type=float, default=1800.0,
                    help="seconds after which the background load stops by itself (default 1800)")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--workload", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        run_worker(args)
        return
    keys = (args.only or (QUICK_ONLY if args.quick else ",".join(WORKLOADS))).split(",")
    modes = args.modes.split(",")
    for k in keys:
        if k not in WORKLOADS:
            sys.exit(f"unknown workload {k!r}; choose from {', '.join(WORKLOADS)}")
    for m in modes:
        if m not in TARGETS:
            sys.exit(f"unknown mode {m!r}; choose busy or quiet")
    reps = args.reps or (1 if args.quick else 3)
    impls, notes = list(IMPLS), []
    if not bench_run.available("torch"):
        impls.remove("torch")
        notes.append("torch is not installed: no PyTorch column (pip install torch)")
    stop_on_signals()
    cores = threads.cores()
    results, t_start = {}, time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        datas = {d: bench_run.make_data(d, Path(tmp)) for d in sorted({WORKLOADS[k]["data"] for k in keys})}
        for mode in modes:
            results[mode] = {}
            with Load(cores if mode == "busy" else 0, args.load_limit) as load:
                for key in keys:
                    runs = {i: [] for i in impls}
                    for rep in range(reps):
                        for impl in impls:  # alternating within each repetition
                            r = measure(impl, key, datas[WORKLOADS[key]["data"]], args.quick)
                            runs[impl].append(r)
                            msg = f"{r['seconds']:8.3f} s" if "seconds" in r else f"failed: {r['error']}"
                            print(f"  {mode} {key} rep {rep + 1}/{reps} {IMPLS[impl]:<16}{msg}", file=sys.stderr)
                    med = {i: statistics.median(x["seconds"] for x in v) for i, v in runs.items()
                           if v and all("seconds" in x for x in v)}
                    results[mode][key] = {"runs": runs, "median": med, "ratios": ratios(med),
                                          "choice": choice_text(runs.get("default", [])),
                                          "load_average": os.getloadavg()[0]}  # of the last minute
                    if not load.alive():
                        sys.exit(f"the background load reached its --load-limit of {args.load_limit:g} s during "
                                 f"the busy measurements of workload {key}: raise it")
    notes.append(f"{cores} cores" + (f"; busy: {cores} busy-looping processes beside the run" if "busy" in modes else ""))
    table(results, reps, notes)
    print(f"(whole benchmark: {time.perf_counter() - t_start:.0f} s; command: python bench/load.py "
          f"{' '.join(sys.argv[1:])})".replace(" )", ")"))
    if args.json:
        Path(args.json).write_text(json.dumps({"versions": bench_run.versions(), "cores": cores, "reps": reps,
                                               "targets": TARGETS, "quick": args.quick, "results": results},
                                              indent=2, default=str))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM or SIGHUP: the load was stopped on the way out
        sys.exit("bench/load.py: interrupted; the background load is stopped")
