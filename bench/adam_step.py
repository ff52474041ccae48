"""One Adam step over the benchmark's parameter counts: nnlab's form against the 12-pass form and torch.

    python bench/adam_step.py [--threads 1] [--steps 600]

nnlab keeps the moments scaled, M = m / (1 - beta1) and V = v / (1 - beta2), which makes an
update 10 elementwise passes over the parameters; the form it replaced (kept here as
``twelve_passes``) stored m and v and made 12.  Both run in one process, alternating step by
step on the same gradients, float32, 269,322 parameters (workload (a): 784-256-256-10) and
15,210 (workload (b): 40-100-100-10); the median per step is shown, with torch.optim.Adam
(fused=True) on the same sizes when torch is installed, and the same rule as three numexpr
expressions (one fused pass each for M, V and p, float32 operands and constants, numexpr's own
threads set to ``--threads``) when numexpr is installed.  The parameters of the two numpy forms
are compared at the end: they differ by float32 rounding only; the numexpr form computes the
same operations in the same order, and its parameters are compared with nnlab's bit for bit.
With more than one thread the numbers are unreliable: numpy's OpenBLAS pool and torch's OpenMP
pool in one process spin against each other (bench/run.py runs every library in its own process for that reason).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def twelve_passes(state, p, g, lr, t, beta1=0.9, beta2=0.999, eps=1e-8):
    """The previous nnlab Adam step: m and v stored as torch's exp_avg and exp_avg_sq."""
    import numpy as np

    f = p.dtype.type
    if not state:
        state.update(m=np.zeros_like(p), v=np.zeros_like(p), d=np.zeros_like(p))
    m, v, d = state["m"], state["v"], state["d"]
    np.multiply(g, f(1 - beta1), out=d)
    m *= f(beta1)
    m += d
    np.multiply(g, f(1 - beta2), out=d)
    d *= g
    v *= f(beta2)
    v += d
    bc1, sbc2 = 1 - beta1 ** t, math.sqrt(1 - beta2 ** t)
    np.sqrt(v, out=d)
    d += f(eps * sbc2)
    np.divide(m, d, out=d)
    d *= f(lr * sbc2 / bc1)
    p -= d


def numexpr_adam(ne, state, p, g, lr, t, beta1=0.9, beta2=0.999, eps=1e-8):
    """nnlab's update (nnlab/components/optimizers.py Adam._update) as three numexpr expressions."""
    import numpy as np

    f = p.dtype.type
    if not state:
        state.update(M=np.zeros_like(p), V=np.zeros_like(p))
    M, V = state["M"], state["V"]
    ne.evaluate("b1 * M + g", local_dict={"b1": f(beta1), "M": M, "g": g}, out=M)
    ne.evaluate("b2 * V + g * g", local_dict={"b2": f(beta2), "V": V, "g": g}, out=V)
    bc1, sbc2 = 1 - beta1 ** t, math.sqrt(1 - beta2 ** t)
    c1, c2 = float(f(1 - beta1)), float(f(1 - beta2))
    e = f(eps * sbc2 / math.sqrt(c2))
    s = f(float(f(lr)) * sbc2 * c1 / (bc1 * math.sqrt(c2)))
    ne.evaluate("p - M / (sqrt(V) + e) * s", local_dict={"p": p, "M": M, "V": V, "e": e, "s": s}, out=p)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=600)
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np

    from nnlab.components.optimizers import optimizers

    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    try:
        import numexpr as ne

        ne.set_num_threads(args.threads)
    except ImportError:
        ne = None
    print(f"Adam step, float32, {args.threads} thread(s), median of {args.steps} steps, us per step")
    print(f"{'parameters':>10}{'nnlab (10 passes)':>19}{'12 passes':>11}{'torch fused':>13}{'numexpr':>9}"
          f"{'max rel diff':>14}{'numexpr = nnlab':>17}")
    for n in (269322, 15210):
        rng = np.random.default_rng(0)
        p0 = rng.standard_normal(n, dtype=np.float32)
        opt, old_state = optimizers.build({"name": "adam", "lr": 1e-3}), {}
        p_new, p_old, p_ne, ne_state = p0.copy(), p0.copy(), p0.copy(), {}
        tp = torch_opt = None
        if torch is not None:
            tp = torch.nn.Parameter(torch.from_numpy(p0.copy()))
            torch_opt = torch.optim.Adam([tp], lr=1e-3, fused=True)
        times = {"new": [], "old": [], "torch": [], "numexpr": []}
        for t in range(1, args.steps + 1):
            g = rng.standard_normal(n, dtype=np.float32)
            for which in (("new", "old") if t % 2 else ("old", "new")):
                t0 = time.perf_counter()
                if which == "new":
                    opt.step(p_new, g, 1e-3)
                else:
                    twelve_passes(old_state, p_old, g, 1e-3, t)
                times[which].append(time.perf_counter() - t0)
            if torch_opt is not None:
                tp.grad = torch.from_numpy(g)
                t0 = time.perf_counter()
                torch_opt.step()
                times["torch"].append(time.perf_counter() - t0)
            if ne is not None:
                t0 = time.perf_counter()
                numexpr_adam(ne, ne_state, p_ne, g, 1e-3, t)
                times["numexpr"].append(time.perf_counter() - t0)
        med = {k: 1e6 * statistics.median(v) if v else float("nan") for k, v in times.items()}
        diff = float(np.max(np.abs(p_new - p_old) / (np.abs(p_old) + 1e-3)))
        tor = f"{med['torch']:13.1f}" if torch_opt is not None else f"{'-':>13}"
        nex = f"{med['numexpr']:9.1f}" if ne is not None else f"{'-':>9}"
        same = ("bit for bit" if np.array_equal(p_ne, p_new) else "differ") if ne is not None else "-"
        print(f"{n:>10,}{med['new']:19.1f}{med['old']:11.1f}{tor}{nex}{diff:14.1e}{same:>17}")


if __name__ == "__main__":
    main()
