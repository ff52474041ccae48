"""What weight averaging costs per training step (train.averaging, nnlab/train/averager.py).

    python bench/averaging.py [CONFIG]        (default configs/ema.yaml)

In one warm process with one BLAS thread, times the training step of CONFIG and of the same
config without averaging on the same mini-batch (30 interleaved rounds of 200 steps, medians),
and the averaging update alone.  For EMA the update runs after every step; for SWA once an epoch.
"""

from __future__ import annotations

import statistics
import sys
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> None:
    from threadpoolctl import threadpool_limits

    from nnlab.config import load_config
    from nnlab.experiment import load_data
    from nnlab.train.trainer import Trainer

    path = argv[0] if argv else ROOT / "configs" / "ema.yaml"
    cfg = load_config(path)
    if not cfg.train["averaging"]:
        sys.exit(f"{path}: train.averaging is not set; nothing to measure")
    plain = load_config(path, ["train.averaging=null"])
    data = load_data(cfg)
    with threadpool_limits(1):
        trainers = {"without averaging": Trainer(plain, data),
                    f"with {cfg.train['averaging']['method']}": Trainer(cfg, data)}
        for tr in trainers.values():
            tr.batches.start_epoch()
        xb, yb = (a.copy() for a in trainers["without averaging"].batches.get(0))
        times: dict[str, list[float]] = {k: [] for k in trainers}
        for _ in range(30):
            for name, tr in trainers.items():
                t0 = time.perf_counter()
                for _ in range(200):
                    tr.step(xb, yb, 0, False)
                times[name].append((time.perf_counter() - t0) / 200)
        avg = list(trainers.values())[1].avg
        avg.update()  # the first update copies; time the ones after it
        update = min(timeit.repeat(avg.update, number=2000, repeat=5)) / 2000
    print(f"{cfg.name}: {avg.avg.size:,} parameters, batch {len(xb)}")
    for name, ts in times.items():
        print(f"  median step {name:<20} {statistics.median(ts) * 1e6:8.1f} us")
    base, with_avg = (statistics.median(ts) for ts in times.values())
    print(f"  the averaging update alone      {update * 1e6:8.1f} us   (step: {100 * (with_avg / base - 1):+.1f}%)")


if __name__ == "__main__":
    main(sys.argv[1:])
