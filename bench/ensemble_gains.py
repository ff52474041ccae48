"""What ensembles give on MNIST-1D, over several seeds (docs/ensembles.md's numbers).

    python bench/ensemble_gains.py [--seeds 5]

- members: configs/ensemble_members.yaml (5 members of adam_relu) with seeds 0, 5, 10, ... so that no
  two ensembles share a member; the gain is the ensemble's test accuracy minus its members' mean.
- snapshots: configs/snapshot_ensemble.yaml with seeds 0, 1, 2, ...; the gain is the 5-snapshot
  ensemble's test accuracy minus the last snapshot's (the run's final weights).
Each line prints mean ± std (over the seeds) of the ensemble, the single model and the gain, in points.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from nnlab.cli import main; main()"]


def run(config: str, seed: int, out: Path) -> dict:
    res = subprocess.run([*CLI, "train", str(ROOT / config), "--set", f"seed={seed}", "--runs-dir", str(out), "-q"],
                         capture_output=True, text=True, check=True)
    return json.loads((Path(res.stdout.strip().splitlines()[-1]) / "summary.json").read_text())


def pm(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} ± {100 * sd:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    n = ap.parse_args().seeds
    with tempfile.TemporaryDirectory() as d:
        ens, single, gain = [], [], []
        for k in range(n):
            e = run("configs/ensemble_members.yaml", 5 * k, Path(d))["ensemble"]
            members = [m["test_acc"] for m in e["members"]]
            ens.append(e["ensemble"]["test_acc"])
            single.append(statistics.mean(members))
            gain.append(e["ensemble"]["test_acc"] - statistics.mean(members))
        print(f"members (5 x adam_relu), {n} seeds: ensemble {pm(ens)}%, one member {pm(single)}%, "
              f"gain {pm(gain)} points")
        ens, last, gain = [], [], []
        for k in range(n):
            e = run("configs/snapshot_ensemble.yaml", k, Path(d))["ensemble"]
            ens.append(e["ensemble"]["test_acc"])
            last.append(e["members"][-1]["test_acc"])
            gain.append(e["ensemble"]["test_acc"] - e["members"][-1]["test_acc"])
        print(f"snapshots (5 cycles of 10 epochs), {n} seeds: ensemble {pm(ens)}%, last weights {pm(last)}%, "
              f"gain {pm(gain)} points")


if __name__ == "__main__":
    main()
