"""Small helpers shared by the test files."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from nnlab.config import validate


def merged_config(base: dict, **sections):
    """validate(base) with each keyword merged into its section (mappings) or replacing it (values)."""
    raw = copy.deepcopy(base)
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return validate(raw)


def write_sweep(folder: Path, sweep: dict, base: dict) -> Path:
    """``folder``/s.yaml: the sweep ``sweep`` over the config ``base`` (written beside it as base.yaml)."""
    (folder / "base.yaml").write_text(yaml.safe_dump(base))
    p = folder / "s.yaml"
    p.write_text(yaml.safe_dump({"config": "base.yaml", **sweep}, sort_keys=False))
    return p


def only_folder(out: Path) -> Path:
    """The one sweep folder a sweep wrote into ``out``."""
    (folder,) = [d for d in out.iterdir() if d.is_dir()]
    return folder


LONG = "with_a_rather_long_descriptive_run_name"  # run names of 46+ characters


def fake_runs(folder: Path, n_configs: int = 30, seeds: int = 10, epochs: int = 6) -> list[Path]:
    """``n_configs`` x ``seeds`` minimal run folders that nnlab.runs reads (config.yaml, summary.json,
    metrics.csv; no training): long names, a dozen config keys that differ, accuracies that differ by
    config and seed.  Fast: 300 folders in well under a second."""
    import json
    import math

    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for c in range(n_configs):
        opt = ("adam", "sgd", "rmsprop")[c % 3]
        optimizer = {"name": opt, "lr": round(10 ** (-3 + 2 * c / max(1, n_configs - 1)), 6)}
        if opt == "adam":
            optimizer["beta1"] = 0.9
        name = f"config_{c:02d}_{LONG}_{opt}"
        for s in range(seeds):
            cfg = {"name": name, "seed": s,
                   "data": {"name": "spiral", "noise": (0.1, 0.2)[c % 2], "val_fraction": 0.2},
                   "model": {"hidden": [16 + 16 * (c % 4)] * (1 + c % 3), "activation": {"name": ("relu", "tanh")[c % 2]},
                             "init": {"name": ("he_normal", "xavier_uniform", "orthogonal")[c % 3]},
                             "dropout": {"rate": (0.0, 0.1, 0.3)[c % 3]},
                             "batch_norm": {"momentum": 0.9} if c % 5 == 0 else False},
                   "train": {"epochs": epochs, "batch_size": (32, 64)[c % 2], "optimizer": optimizer,
                             "schedule": {"name": "step", "gamma": 0.5} if c % 4 == 0 else {"name": "constant"},
                             "regularization": {"l2": (0.0, 1e-4, 1e-3)[c % 3]}}}
            run = folder / f"2026-01-01_00-{c:02d}-{s:02d}_{name}"
            run.mkdir()
            (run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
            top = 0.5 + 0.45 * c / max(1, n_configs - 1) - 0.01 * s
            lines = ["epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds"]
            for e in range(1, epochs + 1):
                acc = top * (1 - math.exp(-e))
                lines.append(f"{e},{optimizer['lr']},{1.5 / e:.6g},{acc + 0.02:.6g},{1.6 / e + 0.01 * s:.6g},"
                             f"{acc:.6g},0.01")
            (run / "metrics.csv").write_text("\n".join(lines) + "\n")
            summary = {"name": name, "status": "completed", "epochs": epochs, "train_seconds": 0.06,
                       "test": {"acc": top - 0.02, "loss": 1.6 / epochs},
                       "data": {"name": "spiral", "task": "classification"}}
            (run / "summary.json").write_text(json.dumps(summary))
            made.append(run)
    return made
