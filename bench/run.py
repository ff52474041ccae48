"""Benchmark nnlab's training loop against PyTorch and scikit-learn on the CPU.

    python bench/run.py            # the full benchmark (15-25 minutes on 2 busy cores)
    python bench/run.py --quick    # fewer epochs, one repetition, two PyTorch variants: a smoke run
    python bench/run.py --threads 1 --only b,c --no-thread-table

Workloads (all: ReLU MLP, Adam lr 1e-3, float32, standardized inputs, no validation
split, the same data for every implementation):
  a  synthetic 10-class set, 784 features, 20,000 samples, [256, 256], batch 128, 5 epochs
  b  MNIST-1D (4,000 x 40), [100, 100], batch 100, 200 epochs
  c  synthetic 10-class set, 64 features, 2,000 samples, [64], batch 32, 100 epochs

Implementations:
  nnlab            its public API, as `nnlab train` calls it (its own BLAS thread count), without
                   per-epoch validation
  PyTorch          every loop variant of TORCH_VARIANTS below (the ratios divide by the
                   fastest of them on each workload: the baseline is the best loop, not one loop)
  scikit-learn     MLPClassifier (solver adam, alpha 0, batch and shuffling as nnlab, exactly
                   the configured epochs: tol 0 and n_iter_no_change above the epoch count,
                   early_stopping off)
  GEMM floor       only the matrix products of forward and backward of every step of the run
                   (numpy float32 np.matmul into preallocated arrays): no library can beat it
  nnlab monitored  a 10% validation split evaluated every epoch and the per-layer
                   diagnostics, against "nnlab 90%" (the same 90%, no validation, no
                   diagnostics): the cost of what compare and diagnosis need.
torch and scikit-learn are optional: missing ones are skipped with a note.

Each measurement runs in its own process (thread pools of two libraries in one process
slow each other down), the implementations alternate within each repetition, every
measurement is repeated (5 times by default) and the median is reported.  Only the
training loop is timed (nnlab: model construction included; data generation, imports
and torch.compile's compilation excluded: the compile time is reported in its own
column).  The thread count is fixed through OMP/OpenBLAS/MKL_NUM_THREADS and
torch.set_num_threads; nnlab picks its own count up to it, as `nnlab train` does
(nnlab/train/threads.py: one thread for the small products of (b) and (c), timed for (a)).  After the main table, a
thread table times nnlab, the two fastest PyTorch variants, scikit-learn and the floor with
1 and with 2 threads (nnlab forced through NNLAB_THREADS; interleaved, same repetitions), and
the targets compare nnlab at its own choice with each other library at its faster count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKLOADS = {
    "a": {"desc": "784 features, 20,000 samples, [256, 256], batch 128, 5 epochs",
          "n": 20000, "d": 784, "classes": 10, "hidden": [256, 256], "batch": 128, "epochs": 5, "quick_epochs": 1},
    "b": {"desc": "MNIST-1D 4,000 x 40, [100, 100], batch 100, 200 epochs",
          "dataset": "mnist1d", "hidden": [100, 100], "batch": 100, "epochs": 200, "quick_epochs": 20},
    "c": {"desc": "64 features, 2,000 samples, [64], batch 32, 100 epochs",
          "n": 2000, "d": 64, "classes": 10, "hidden": [64], "batch": 32, "epochs": 100, "quick_epochs": 10},
}

# The PyTorch loops.  "bench" is the loop this benchmark used to time; "plain" is the loop a
# PyTorch user writes without thinking about speed; each other variant changes one thing of
# "plain" (or, for the last two, stacks the best choices).  Keys of a variant:
#   batches   index_select (torch.index_select per batch) | advanced (X[idx] per batch) |
#             contiguous (one X[perm] copy per epoch, then every batch is a slice, as nnlab)
#   item      True: loss.item() every step; False: the loss summed as a tensor, read once per epoch
#   to_none   zero_grad(set_to_none=...) (True is torch 2's default)
#   adam      keyword arguments of torch.optim.Adam beyond lr (default: the for-loop implementation
#             on the CPU; foreach: multi-tensor; fused: one fused kernel, CPU support since torch 2.4)
#   compile   torch.compile of the forward + loss (inductor; backward through AOTAutograd)
TORCH_VARIANTS = {
    "torch_bench": {"label": "PyTorch bench loop", "batches": "advanced", "item": True, "to_none": True,
                    "adam": {}, "what": "the loop this benchmark timed before: X[idx], loss.item() every step"},
    "torch_plain": {"label": "PyTorch plain", "batches": "index_select", "item": False, "to_none": True,
                    "adam": {}, "what": "index_select batches, loss summed as a tensor, zero_grad(set_to_none=True), Adam()"},
    "torch_advidx": {"label": "PyTorch X[idx]", "batches": "advanced", "item": False, "to_none": True,
                     "adam": {}, "what": "plain with X[idx] (advanced indexing) batches"},
    "torch_item": {"label": "PyTorch .item()", "batches": "index_select", "item": True, "to_none": True,
                   "adam": {}, "what": "plain with loss.item() every step"},
    "torch_zero": {"label": "PyTorch zero-fill", "batches": "index_select", "item": False, "to_none": False,
                   "adam": {}, "what": "plain with zero_grad(set_to_none=False)"},
    "torch_foreach": {"label": "PyTorch foreach", "batches": "index_select", "item": False, "to_none": True,
                      "adam": {"foreach": True}, "what": "plain with Adam(foreach=True)"},
    "torch_fused": {"label": "PyTorch fused", "batches": "index_select", "item": False, "to_none": True,
                    "adam": {"fused": True}, "what": "plain with Adam(fused=True)"},
    "torch_best": {"label": "PyTorch contig+fused", "batches": "contiguous", "item": False, "to_none": True,
                   "adam": {"fused": True}, "what": "one shuffled copy per epoch (contiguous batches) + Adam(fused=True)"},
    "torch_compile": {"label": "PyTorch compiled", "batches": "contiguous", "item": False, "to_none": True,
                      "adam": {"fused": True}, "compile": True,
                      "what": "contig+fused with torch.compile(forward + loss); compile time excluded"},
}
OTHER_IMPLS = ["nnlab", "sklearn", "floor", "nnlab_monitored", "nnlab_90"]
IMPLS = ["nnlab", *TORCH_VARIANTS, "sklearn", "floor", "nnlab_monitored", "nnlab_90"]
# a smoke run (CI) times two PyTorch loops, the old one and the one that stacks the best
# choices, and does not wait for inductor; the full run times every variant
QUICK_TORCH = ("torch_bench", "torch_best")
LABELS = {"nnlab": "nnlab", "sklearn": "scikit-learn", "floor": "GEMM floor",
          "nnlab_monitored": "nnlab monitored", "nnlab_90": "nnlab 90%",
          **{k: v["label"] for k, v in TORCH_VARIANTS.items()}}


def is_torch(impl: str) -> bool:
    return impl in TORCH_VARIANTS


def default_impls(quick: bool) -> list[str]:
    """Everything the benchmark times by default (a quick run: two PyTorch variants, no torch.compile)."""
    return [i for i in IMPLS if not (quick and is_torch(i) and i not in QUICK_TORCH)]


# ---------------------------------------------------------------- data


def make_data(key: str, folder: Path) -> Path:
    """The workload's training set as float32 standardized x and int64 y, saved once for every worker."""
    import numpy as np

    w = WORKLOADS[key]
    if w.get("dataset") == "mnist1d":
        from nnlab.data import datasets

        raw = datasets.build({"name": "mnist1d"})
        x, y = raw.x.astype(np.float64), raw.y.astype(np.int64)
    else:
        rng = np.random.default_rng(0)
        centers = rng.standard_normal((w["classes"], w["d"])) * 0.5
        y = rng.integers(0, w["classes"], w["n"])
        x = centers[y] + rng.standard_normal((w["n"], w["d"]))
    x = ((x - x.mean(0)) / (x.std(0) + 1e-8)).astype(np.float32)
    path = folder / f"{key}.npz"
    np.savez(path, x=x, y=y, x_test=x[:500], y_test=y[:500])
    return path


def batch_sizes(n: int, batch: int) -> list[int]:
    """The size of every mini-batch of one epoch over n rows."""
    return [min(batch, n - s) for s in range(0, n, batch)]


# ---------------------------------------------------------------- workers (one per process)


def nnlab_config(w, path, epochs, monitored: bool) -> dict:
    return {
        "name": "bench", "seed": 0, "dtype": "float32",
        "data": {"name": "npz", "path": str(path), "val_fraction": 0.1 if monitored else 0.0, "preprocess": "none"},
        "model": {"hidden": w["hidden"], "activation": "relu", "init": "he_normal"},
        "train": {"epochs": epochs, "batch_size": w["batch"], "optimizer": {"name": "adam", "lr": 1e-3}},
    }


def worker_nnlab(w, data_path, epochs, monitored: bool, fraction: float = 1.0) -> dict:
    import numpy as np

    from nnlab.config import validate
    from nnlab.data import load_dataset
    from nnlab.train.threads import run_threads
    from nnlab.train.trainer import train

    path = data_path
    if fraction < 1.0:  # the same rows the 10% validation split leaves for training
        with np.load(data_path) as z:
            x, y = z["x"], z["y"]
        keep = int(round(len(x) * fraction))
        path = Path(data_path).with_name(Path(data_path).stem + "_90.npz")
        np.savez(path, x=x[:keep], y=y[:keep], x_test=z_test(data_path, "x"), y_test=z_test(data_path, "y"))
    cfg = validate(nnlab_config(w, path, epochs, monitored))
    ds = load_dataset(cfg.data, cfg.dtype)
    # the threads nnlab train would use: its own choice (nnlab/train/threads.py: one thread for small products,
    # else timed on the run's steps), or NNLAB_THREADS, which the thread table sets to force 1 or 2; the choice's
    # set-up (for a timed run, the check whether 1 and 2 threads give the same numbers) is timed with the loop
    rows = []
    c0, t0 = time.process_time(), time.perf_counter()
    with run_threads(cfg, ds) as choice:
        res = train(cfg, ds, on_epoch=rows.append if monitored else None,
                    on_diagnostics=(lambda r: None) if monitored else None, evaluate_test=False, threads=choice)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    record = choice.record()
    return {"seconds": secs, "cpu_seconds": cpu, "final_loss": res.history[-1]["train_loss"],
            "blas_threads": record["threads"], "thread_record": record}


def z_test(path, key):
    import numpy as np

    with np.load(path) as z:
        return z[f"{key}_test"]


def worker_torch(w, data_path, epochs, threads, spec: dict) -> dict:
    """One PyTorch loop variant (TORCH_VARIANTS); compile time, if any, measured apart."""
    import numpy as np
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    with np.load(data_path) as z:
        X, Y = torch.from_numpy(z["x"]), torch.from_numpy(z["y"])
    sizes = [X.shape[1], *w["hidden"]]
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(sizes[-1], int(Y.max()) + 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, **spec["adam"])
    loss_fn = nn.CrossEntropyLoss()
    n, bs = len(X), w["batch"]

    def forward_loss(xb, yb):
        return loss_fn(model(xb), yb)

    compile_seconds = None
    if spec.get("compile"):
        t0 = time.perf_counter()
        forward_loss = torch.compile(forward_loss)
        for size in sorted(set(batch_sizes(n, bs)), reverse=True):  # every batch shape, forward and backward
            forward_loss(X[:size], Y[:size]).backward()
        opt.zero_grad(set_to_none=True)  # no optimizer step: the weights are untouched
        compile_seconds = time.perf_counter() - t0
    g = torch.Generator().manual_seed(0)
    batches, item, to_none = spec["batches"], spec["item"], spec["to_none"]
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        if batches == "contiguous":
            Xs, Ys = X[perm], Y[perm]
        total = 0.0 if item else torch.zeros(())
        for i in range(0, n, bs):
            if batches == "contiguous":
                xb, yb = Xs[i:i + bs], Ys[i:i + bs]
            elif batches == "advanced":
                idx = perm[i:i + bs]
                xb, yb = X[idx], Y[idx]
            else:
                idx = perm[i:i + bs]
                xb, yb = X.index_select(0, idx), Y.index_select(0, idx)
            opt.zero_grad(set_to_none=to_none)
            loss = forward_loss(xb, yb)
            loss.backward()
            opt.step()
            if item:
                total += loss.item() * len(xb)
            else:
                total += loss.detach() * len(xb)
        epoch_loss = float(total) / n
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": secs, "cpu_seconds": cpu, "compile_seconds": compile_seconds, "final_loss": epoch_loss}


def worker_sklearn(w, data_path, epochs) -> dict:
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    with np.load(data_path) as z:
        x, y = z["x"], z["y"]
    # exactly `epochs` epochs: no early stopping, no tolerance-based stop; shuffled every epoch as nnlab
    clf = MLPClassifier(hidden_layer_sizes=tuple(w["hidden"]), activation="relu", solver="adam", alpha=0.0,
                        batch_size=w["batch"], learning_rate_init=1e-3, max_iter=epochs, shuffle=True,
                        random_state=0, tol=0.0, n_iter_no_change=epochs + 1, early_stopping=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        c0, t0 = time.process_time(), time.perf_counter()
        clf.fit(x, y)
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert clf.n_iter_ == epochs, (clf.n_iter_, epochs)
    return {"seconds": secs, "cpu_seconds": cpu, "final_loss": float(clf.loss_)}


def worker_floor(w, data_path, epochs) -> dict:
    """The GEMM floor: the matrix products of forward and backward of every step, nothing else.

    Per Dense layer and step: out = x W (batch x fan_in x fan_out), dW = x^T dout and, but for
    the first layer, dx = dout W^T; float32, C-contiguous operands, preallocated outputs."""
    import numpy as np

    with np.load(data_path) as z:
        n, d = z["x"].shape
        classes = int(z["y"].max()) + 1
    dims = [d, *w["hidden"], classes]
    rng = np.random.default_rng(0)
    per_size = {}
    for size in set(batch_sizes(n, w["batch"])):
        prods = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            x = rng.standard_normal((size, a), dtype=np.float32)
            W = rng.standard_normal((a, b), dtype=np.float32)
            dout = rng.standard_normal((size, b), dtype=np.float32)
            prods.append((x, W, np.empty((size, b), np.float32)))  # forward
            prods.append((x.T, dout, np.empty((a, b), np.float32)))  # dW
            if i > 0:
                prods.append((dout, W.T, np.empty((size, a), np.float32)))  # dx
        per_size[size] = prods
    sizes = batch_sizes(n, w["batch"])
    matmul = np.matmul
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(epochs):
        for size in sizes:
            for a, b, out in per_size[size]:
                matmul(a, b, out=out)
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}


def run_worker(args) -> None:
    w = WORKLOADS[args.workload]
    epochs = w["quick_epochs"] if args.quick else w["epochs"]
    impl = args.worker
    if impl == "nnlab":
        out = worker_nnlab(w, args.data, epochs, monitored=False)
    elif impl == "nnlab_monitored":
        out = worker_nnlab(w, args.data, epochs, monitored=True)
    elif impl == "nnlab_90":
        out = worker_nnlab(w, args.data, epochs, monitored=False, fraction=0.9)
    elif is_torch(impl):
        out = worker_torch(w, args.data, epochs, args.threads, TORCH_VARIANTS[impl])
    elif impl == "floor":
        out = worker_floor(w, args.data, epochs)
    else:
        out = worker_sklearn(w, args.data, epochs)
    print(json.dumps(out))


# ---------------------------------------------------------------- driver


def available(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def versions() -> dict:
    import numpy as np

    out = {"python": platform.python_version(), "numpy": np.__version__}
    for mod in ("nnlab", "torch", "sklearn"):
        if available(mod):
            m = __import__(mod)
            out[mod] = getattr(m, "__version__", "?")
    try:
        from threadpoolctl import threadpool_info

        blas = [f"{i['internal_api']} {i['version']}" for i in threadpool_info()
                if i["user_api"] == "blas" and "numpy" in i.get("filepath", "")]
        if blas:
            out["numpy BLAS"] = blas[0]
    except Exception:  # noqa: BLE001 - informative only
        pass
    return out


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def select_impls(requested: list[str]) -> tuple[list[str], list[str]]:
    """The implementations that can run here, and a note for each one skipped."""
    notes, impls = [], []
    have_torch, have_sklearn = available("torch"), available("sklearn")
    for impl in requested:
        if impl not in IMPLS:
            sys.exit(f"unknown implementation {impl!r}; choose from {', '.join(IMPLS)}")
        if is_torch(impl) and not have_torch:
            continue
        if impl == "sklearn" and not have_sklearn:
            notes.append("scikit-learn is not installed: skipped (pip install scikit-learn)")
            continue
        impls.append(impl)
    if any(is_torch(i) for i in requested) and not have_torch:
        notes.append("torch is not installed: every PyTorch variant skipped (pip install torch)")
    return impls, notes


def measure(impl, key, data, threads, quick, force: bool = False) -> dict:
    """One measurement in its own process with ``threads`` threads for the libraries; nnlab picks its own
    count up to that (as nnlab train does) unless ``force`` (NNLAB_THREADS)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads)}
    env.pop("NNLAB_THREADS", None)
    if force:
        env["NNLAB_THREADS"] = str(threads)
    cmd = [sys.executable, __file__, "--worker", impl, "--workload", key, "--data", str(data),
           "--threads", str(threads)] + (["--quick"] if quick else [])
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="fewer epochs, one repetition, two PyTorch variants (no torch.compile), no thread table")
    ap.add_argument("--reps", type=int, default=None, help="repetitions per measurement (default 5, quick 1)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for every library")
    ap.add_argument("--only", default="a,b,c", help="workloads to run, e.g. b,c")
    ap.add_argument("--impls", default=None, help=f"implementations to run (default all: {','.join(IMPLS)})")
    ap.add_argument("--thread-table", dest="thread_table", action="store_true", default=None,
                    help="also time nnlab and the fastest PyTorch variant with 1 and 2 threads (default: on, "
                         "off with --quick)")
    ap.add_argument("--no-thread-table", dest="thread_table", action="store_false")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--workload", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        run_worker(args)
        return

    reps = args.reps or (1 if args.quick else 5)
    requested = args.impls.split(",") if args.impls else default_impls(args.quick)
    impls, notes = select_impls([i for i in requested if i])
    thread_table = (not args.quick) if args.thread_table is None else args.thread_table
    results: dict[str, dict[str, list[dict]]] = {}
    threads_results: dict[str, dict[tuple, list[float]]] = {}
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        datas = {key: make_data(key, Path(tmp)) for key in args.only.split(",")}
        for key, data in datas.items():
            results[key] = {i: [] for i in impls}
            for rep in range(reps):
                for impl in impls:  # alternate implementations within each repetition
                    r = measure(impl, key, data, args.threads, args.quick)
                    results[key][impl].append(r)
                    msg = f"{r['seconds']:8.3f} s" if "seconds" in r else f"failed: {r['error']}"
                    print(f"  {key} rep {rep + 1}/{reps} {LABELS[impl]:<22} {msg}", file=sys.stderr)
        if thread_table:
            for key, data in datas.items():
                pair = thread_table_impls(results.get(key, {}))
                threads_results[key] = {(i, t): [] for i in pair for t in (1, 2)}
                for rep in range(reps):
                    for t in (1, 2):
                        for impl in pair:
                            r = measure(impl, key, data, t, args.quick, force=True)
                            if "seconds" not in r:
                                sys.exit(f"{impl} on workload {key} with {t} threads failed: {r['error']}")
                            threads_results[key][(impl, t)].append(r["seconds"])
                            print(f"  {key} threads {t} rep {rep + 1}/{reps} {LABELS[impl]:<22} "
                                  f"{r['seconds']:8.3f} s", file=sys.stderr)
    report(results, threads_results, args, notes, reps, time.perf_counter() - t_start)


def medians(per: dict[str, list[dict]]) -> dict[str, float]:
    return {i: statistics.median(r["seconds"] for r in v) for i, v in per.items()
            if v and all("seconds" in r for r in v)}


def fastest_torch(per: dict[str, list[dict]], k: int = 1):
    """The fastest PyTorch variant (k=1), or the k fastest as a list."""
    med = {i: s for i, s in medians(per).items() if is_torch(i)}
    order = sorted(med, key=med.get)
    if k == 1:
        return order[0] if order else None
    return order[:k]


def thread_table_impls(per: dict[str, list[dict]]) -> list[str]:
    """What the thread table times with 1 and 2 threads: nnlab, the two fastest PyTorch variants of the
    main table (at one thread another may win), scikit-learn and the GEMM floor, those that ran."""
    ran = medians(per)
    return ["nnlab", *fastest_torch(per, k=2), *(i for i in ("sklearn", "floor") if i in ran)]


# issue 13's targets: nnlab's time / the other's, each at its best thread count (nnlab at its own choice)
TARGETS = {"a": {"torch": 0.8, "sklearn": 0.5, "floor": 1.8}, "b": {"torch": 0.3, "sklearn": 0.5},
           "c": {"torch": 0.2, "sklearn": 0.5}}


def target_lines(key: str, per: dict, choice: str) -> tuple[list[str], dict]:
    """The target ratios of one workload from its thread table: nnlab at the thread count it picks itself
    against the fastest PyTorch variant and scikit-learn at whichever of 1 and 2 threads is faster for
    them (the strongest baseline), and against the GEMM floor at nnlab's own count."""
    med = {k: statistics.median(v) for k, v in per.items() if v}
    t_nnlab = 1 if choice == "1" else 2
    if ("nnlab", t_nnlab) not in med:
        return [], {}
    mine = med[("nnlab", t_nnlab)]
    lines, out = [], {}
    for what, pick in (("torch", is_torch), ("sklearn", lambda i: i == "sklearn"), ("floor", lambda i: i == "floor")):
        cands = {k: s for k, s in med.items() if pick(k[0]) and (what != "floor" or k[1] == t_nnlab)}
        if not cands:
            continue
        (impl, t), secs = min(cands.items(), key=lambda kv: kv[1])
        ratio = mine / secs
        goal = TARGETS.get(key, {}).get(what)
        verdict = "" if goal is None else f"  target <= {goal}: {'met' if ratio <= goal else 'NOT met'}"
        lines.append(f"{key:<9}nnlab ({t_nnlab}t, its choice) {mine:.3f} s / {LABELS[impl]} ({t}t) {secs:.3f} s "
                     f"= {ratio:.2f}{verdict}")
        out[what] = {"nnlab_threads": t_nnlab, "nnlab_seconds": mine, "other": impl, "other_threads": t,
                     "other_seconds": secs, "ratio": ratio, "target": goal}
    return lines, out


def report(results, threads_results, args, notes, reps, wall) -> None:
    info = versions()
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    print(f"threads: {args.threads} (OMP/OPENBLAS/MKL_NUM_THREADS, torch.set_num_threads); repetitions: {reps} "
          f"(median shown), implementations alternating, one process each{'; quick run' if args.quick else ''}")
    print("ratios: x torch* = this time / the fastest PyTorch variant's (marked *); x sklearn, x floor likewise; "
          "CPU s: the process's CPU time (with 1 thread it leaves out waiting for a busy core)")
    for n in notes:
        print(f"note: {n}")
    print()
    head = f"{'workload':<9}{'implementation':<23}{'seconds':>9}{'samples/s':>12}"
    print(head + f"{'x torch*':>10}{'x sklearn':>11}{'x floor':>9}{'CPU s':>8}{'compile s':>11}")
    print("-" * (len(head) + 49))
    summary = {}
    for key, per in results.items():
        w = WORKLOADS[key]
        epochs = w["quick_epochs"] if args.quick else w["epochs"]
        n = w.get("n", 4000)
        med = medians(per)
        cpu_med = {i: statistics.median(r["cpu_seconds"] for r in v) for i, v in per.items()
                   if i in med and all("cpu_seconds" in r for r in v)}
        best = fastest_torch(per)
        summary[key] = {"workload": w["desc"], "epochs": epochs, "median_seconds": med, "fastest_torch": best,
                        "median_cpu_seconds": cpu_med}
        for impl, runs in per.items():
            if impl not in med:
                err = next((r["error"] for r in runs if "error" in r), "no result")
                print(f"{key:<9}{LABELS[impl]:<23}   failed: {err[:80]}")
                summary[key].setdefault("failed", {})[impl] = err
                continue
            secs = med[impl]
            frac = 0.9 if impl in ("nnlab_monitored", "nnlab_90") else 1.0
            sps = n * frac * epochs / secs
            label = LABELS[impl] + (" *" if impl == best else "")
            r_t = f"{secs / med[best]:.2f}" if best else ""
            r_s = f"{secs / med['sklearn']:.2f}" if "sklearn" in med else ""
            r_f = f"{secs / med['floor']:.2f}" if "floor" in med else ""
            comp = [r.get("compile_seconds") for r in runs if r.get("compile_seconds") is not None]
            c_s = f"{statistics.median(comp):.1f}" if comp else ""
            cpu = cpu_med.get(impl)
            cpu_s = f"{cpu:.3f}" if cpu is not None else ""
            print(f"{key:<9}{label:<23}{secs:9.3f}{sps:12,.0f}{r_t:>10}{r_s:>11}{r_f:>9}{cpu_s:>8}{c_s:>11}")
        if "nnlab" in cpu_med and args.threads == 1:
            parts = [f"{name} {cpu_med['nnlab'] / cpu_med[k]:.2f}" for name, k in
                     (("x torch*", best), ("x sklearn", "sklearn"), ("x floor", "floor")) if k in cpu_med]
            print(f"{'':<9}nnlab by CPU time (1 thread: time spent waiting for a busy core left out): "
                  + ", ".join(parts))
        if "nnlab_monitored" in med and "nnlab_90" in med:
            over = med["nnlab_monitored"] / med["nnlab_90"] - 1
            summary[key]["monitoring_overhead"] = over
            print(f"{'':<9}validation + diagnostics add {100 * over:+.1f}% (nnlab monitored vs nnlab 90%)")
        print(f"{'':<9}({w['desc'].replace(str(w['epochs']) + ' epochs', str(epochs) + ' epochs')})")
    shown = [k for k in TORCH_VARIANTS if any(k in per for per in results.values())]
    if shown:
        print()
        print("PyTorch variants (each in its own process; the ratios divide by the fastest, marked *):")
        for k in shown:
            print(f"  {TORCH_VARIANTS[k]['label']:<22}{TORCH_VARIANTS[k]['what']}")
    if threads_results:
        print()
        print(f"threads (median of {reps}; nnlab's own choice, nnlab/train/threads.py, in the last column: 1, or timed "
              f"on its steps)")
        print(f"{'workload':<9}{'implementation':<23}{'1 thread':>10}{'2 threads':>11}{'2t / 1t':>9}{'nnlab picks':>13}")
        print("-" * 75)
        summary_t = {}
        for key, per in threads_results.items():
            choice = nnlab_thread_choice(key)
            impls = list(dict.fromkeys(i for i, _ in per))
            for impl in impls:
                one, two = statistics.median(per[(impl, 1)]), statistics.median(per[(impl, 2)])
                summary_t.setdefault(key, {})[impl] = {"1": one, "2": two}
                pick = choice if impl == "nnlab" else ""
                print(f"{key:<9}{LABELS[impl]:<23}{one:10.3f}{two:11.3f}{two / one:9.2f}{pick:>13}")
            best = next((i for i in impls if is_torch(i)), None)
            if best:
                for t in (1, 2):
                    r = statistics.median(per[("nnlab", t)]) / statistics.median(per[(best, t)])
                    print(f"{'':<9}nnlab / {LABELS[best]} with {t} thread{'s' if t > 1 else ''}: {r:.2f}")
        summary["threads"] = summary_t
        print()
        print("targets (issue 13; from the thread table: nnlab at the thread count it picks itself, the others at")
        print("their faster of 1 and 2 threads, the floor at nnlab's count)")
        summary["targets"] = {}
        for key, per in threads_results.items():
            lines, out = target_lines(key, per, nnlab_thread_choice(key))
            for line in lines:
                print(line)
            summary["targets"][key] = out
    print()
    print(f"(whole benchmark: {wall:.0f} s; command: python bench/run.py {' '.join(sys.argv[1:])})".replace(" )", ")"))
    if args.json:
        Path(args.json).write_text(json.dumps({"versions": info, "threads": args.threads, "reps": reps,
                                               "results": summary}, indent=2, default=str))


def nnlab_thread_choice(key: str) -> str:
    """The BLAS thread count nnlab train settles before a workload's run (1), or 'timed' (chosen from its step
    times, nnlab/train/threads.py; the targets take its two-thread figure, its choice on a quiet machine)."""
    from nnlab.config import validate
    from nnlab.train.threads import fixed_choice

    w = WORKLOADS[key]
    cfg = validate(nnlab_config(w, "unused.npz", w["epochs"], False))
    n, d, c = (4000, 40, 10) if w.get("dataset") == "mnist1d" else (w["n"], w["d"], w["classes"])
    saved = os.environ.pop("NNLAB_THREADS", None)
    try:
        t, _ = fixed_choice(cfg, d, c, n)
    finally:
        if saved is not None:
            os.environ["NNLAB_THREADS"] = saved
    return str(t) if t else "timed"


if __name__ == "__main__":
    main()
