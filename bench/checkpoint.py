"""What a checkpoint costs: its size, the time to write one, and an epoch's time beside it.

    python bench/checkpoint.py [CONFIG]        (default configs/adam_relu.yaml)

Trains the config once with a checkpoint written (atomically, as the run folder does) after
every epoch, and prints the median write time against the median epoch time.  The run
folder writes one at most once a second (Trainer.checkpoint_every), so this is the cost the
throttle avoids for short epochs.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> None:
    from nnlab.config import load_config
    from nnlab.experiment import load_data
    from nnlab.files import atomic_savez
    from nnlab.train.trainer import train

    cfg = load_config(argv[0] if argv else ROOT / "configs" / "adam_relu.yaml")
    data = load_data(cfg)
    writes: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "checkpoint.npz"

        def save(state):
            t = time.perf_counter()
            atomic_savez(path, state)
            writes.append(time.perf_counter() - t)

        result = train(cfg, data, on_checkpoint=save, checkpoint_every=0.0)
        size = os.path.getsize(path)
    epoch = statistics.median(r["seconds"] for r in result.history)
    write = statistics.median(writes)
    print(f"{cfg.name}: {result.model.n_params:,} parameters, checkpoint {size / 1e3:.0f} kB")
    print(f"median epoch {1e3 * epoch:.2f} ms, median checkpoint write {1e3 * write:.2f} ms "
          f"({100 * write / epoch:.0f}% of an epoch), {len(writes)} writes")


if __name__ == "__main__":
    main(sys.argv[1:])
