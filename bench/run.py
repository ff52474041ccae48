"""Benchmark nnlab's training loop against PyTorch and scikit-learn on the CPU.

    python bench/run.py            # the full benchmark (a few minutes on 2 cores)
    python bench/run.py --quick    # fewer epochs, one repetition: a smoke run
    python bench/run.py --threads 1 --only b,c

Workloads (all: ReLU MLP, Adam lr 1e-3, float32, standardized inputs, no validation
split, the same data for every implementation):
  a  synthetic 10-class set, 784 features, 20,000 samples, [256, 256], batch 128, 5 epochs
  b  MNIST-1D (4,000 x 40), [100, 100], batch 100, 200 epochs
  c  synthetic 10-class set, 64 features, 2,000 samples, [64], batch 32, 100 epochs

Implementations: nnlab (its public API, as `nnlab train` calls it, without per-epoch
validation), PyTorch (a plain loop with torch.optim.Adam, accumulating loss.item() like
nnlab records the training loss) and scikit-learn's MLPClassifier (solver adam, alpha 0,
fixed epochs).  torch and scikit-learn are optional: missing ones are skipped with a
note.  A fourth line, "nnlab monitored", trains with a 10% validation split evaluated
every epoch and the per-layer diagnostics, against "nnlab 90%" (the same 90% of the data,
no validation, no diagnostics): the cost of what compare and diagnosis need.

Each implementation runs in its own process (thread pools of two libraries in one
process slow each other down), the implementations alternate, every measurement is
repeated (3 times by default) and the median is reported.  Only the training loop is
timed (model construction included, data generation and imports excluded).  The thread
count is fixed through OMP/OpenBLAS/MKL_NUM_THREADS and torch.set_num_threads.
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
IMPLS = ["nnlab", "torch", "sklearn", "nnlab_monitored", "nnlab_90"]
LABELS = {"nnlab": "nnlab", "torch": "PyTorch", "sklearn": "scikit-learn",
          "nnlab_monitored": "nnlab monitored", "nnlab_90": "nnlab 90%"}


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


# ---------------------------------------------------------------- workers (one per process)


def worker_nnlab(w, data_path, epochs, monitored: bool, fraction: float = 1.0) -> float:
    import numpy as np

    from nnlab.config import validate
    from nnlab.data import load_dataset
    from nnlab.train.trainer import train

    path = data_path
    if fraction < 1.0:  # the same rows the 10% validation split leaves for training
        with np.load(data_path) as z:
            x, y = z["x"], z["y"]
        keep = int(round(len(x) * fraction))
        path = Path(data_path).with_name(Path(data_path).stem + "_90.npz")
        np.savez(path, x=x[:keep], y=y[:keep], x_test=z_test(data_path, "x"), y_test=z_test(data_path, "y"))
    cfg = validate({
        "name": "bench", "seed": 0, "dtype": "float32",
        "data": {"name": "npz", "path": str(path), "val_fraction": 0.1 if monitored else 0.0, "preprocess": "none"},
        "model": {"hidden": w["hidden"], "activation": "relu", "init": "he_normal"},
        "train": {"epochs": epochs, "batch_size": w["batch"], "optimizer": {"name": "adam", "lr": 1e-3}},
    })
    ds = load_dataset(cfg.data, cfg.dtype)
    rows = []
    t0 = time.perf_counter()
    train(cfg, ds, on_epoch=rows.append if monitored else None,
          on_diagnostics=(lambda r: None) if monitored else None)
    return time.perf_counter() - t0


def z_test(path, key):
    import numpy as np

    with np.load(path) as z:
        return z[f"{key}_test"]


def worker_torch(w, data_path, epochs, threads) -> float:
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
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(0)
    n, bs = len(X), w["batch"]
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        total = 0.0
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            xb, yb = X[idx], Y[idx]
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
    return time.perf_counter() - t0


def worker_sklearn(w, data_path, epochs) -> float:
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    with np.load(data_path) as z:
        x, y = z["x"], z["y"]
    clf = MLPClassifier(hidden_layer_sizes=tuple(w["hidden"]), activation="relu", solver="adam", alpha=0.0,
                        batch_size=w["batch"], learning_rate_init=1e-3, max_iter=epochs, shuffle=True,
                        random_state=0, tol=0.0, n_iter_no_change=epochs + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        clf.fit(x, y)
        return time.perf_counter() - t0


def run_worker(args) -> None:
    w = WORKLOADS[args.workload]
    epochs = w["quick_epochs"] if args.quick else w["epochs"]
    impl = args.worker
    if impl == "nnlab":
        secs = worker_nnlab(w, args.data, epochs, monitored=False)
    elif impl == "nnlab_monitored":
        secs = worker_nnlab(w, args.data, epochs, monitored=True)
    elif impl == "nnlab_90":
        secs = worker_nnlab(w, args.data, epochs, monitored=False, fraction=0.9)
    elif impl == "torch":
        secs = worker_torch(w, args.data, epochs, args.threads)
    else:
        secs = worker_sklearn(w, args.data, epochs)
    print(json.dumps({"seconds": secs}))


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
    return out


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer epochs and one repetition")
    ap.add_argument("--reps", type=int, default=None, help="repetitions per measurement (default 3, quick 1)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for every library")
    ap.add_argument("--only", default="a,b,c", help="workloads to run, e.g. b,c")
    ap.add_argument("--impls", default=",".join(IMPLS), help="implementations to run")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--workload", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        run_worker(args)
        return

    reps = args.reps or (1 if args.quick else 3)
    impls = [i for i in args.impls.split(",") if i]
    notes = []
    for mod, impl in (("torch", "torch"), ("sklearn", "sklearn")):
        if impl in impls and not available(mod):
            impls.remove(impl)
            notes.append(f"{impl} is not installed: skipped (pip install {'torch' if mod == 'torch' else 'scikit-learn'})")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "OPENBLAS_NUM_THREADS": str(args.threads),
           "MKL_NUM_THREADS": str(args.threads)}
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for key in args.only.split(","):
            data = make_data(key, Path(tmp))
            results[key] = {i: [] for i in impls}
            for rep in range(reps):
                for impl in impls:  # alternate implementations within each repetition
                    cmd = [sys.executable, __file__, "--worker", impl, "--workload", key, "--data", str(data),
                           "--threads", str(args.threads)] + (["--quick"] if args.quick else [])
                    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
                    if out.returncode != 0:
                        sys.exit(f"{impl} on workload {key} failed:\n{out.stderr}")
                    secs = json.loads(out.stdout.strip().splitlines()[-1])["seconds"]
                    results[key][impl].append(secs)
                    print(f"  {key} rep {rep + 1}/{reps} {LABELS[impl]:<16} {secs:8.3f} s", file=sys.stderr)
    report(results, args, notes, reps)


def report(results, args, notes, reps) -> None:
    info = versions()
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    print(f"threads: {args.threads}; repetitions: {reps} (median shown){'; quick run' if args.quick else ''}")
    for n in notes:
        print(f"note: {n}")
    print()
    head = f"{'workload':<9}{'implementation':<17}{'seconds':>9}{'samples/s':>12}"
    print(head + f"{'nnlab/torch':>13}{'nnlab/sklearn':>15}")
    print("-" * (len(head) + 28))
    summary = {}
    for key, per in results.items():
        w = WORKLOADS[key]
        epochs = w["quick_epochs"] if args.quick else w["epochs"]
        n = w.get("n", 4000)
        med = {i: statistics.median(v) for i, v in per.items() if v}
        summary[key] = {"workload": w["desc"], "epochs": epochs, "median_seconds": med}
        for impl, secs in med.items():
            frac = 0.9 if impl in ("nnlab_monitored", "nnlab_90") else 1.0
            sps = n * frac * epochs / secs
            r_t = f"{med['nnlab'] / med['torch']:.2f}" if impl == "nnlab" and "torch" in med else ""
            r_s = f"{med['nnlab'] / med['sklearn']:.2f}" if impl == "nnlab" and "sklearn" in med else ""
            print(f"{key:<9}{LABELS[impl]:<17}{secs:9.3f}{sps:12,.0f}{r_t:>13}{r_s:>15}")
        if "nnlab_monitored" in med and "nnlab_90" in med:
            over = med["nnlab_monitored"] / med["nnlab_90"] - 1
            summary[key]["monitoring_overhead"] = over
            print(f"{'':<9}validation + diagnostics add {100 * over:+.1f}% (nnlab monitored vs nnlab 90%)")
        print(f"{'':<9}({w['desc'].replace(str(w['epochs']) + ' epochs', str(epochs) + ' epochs')})")
    if args.json:
        Path(args.json).write_text(json.dumps({"versions": info, "threads": args.threads, "reps": reps,
                                               "results": summary}, indent=2))


if __name__ == "__main__":
    main()
