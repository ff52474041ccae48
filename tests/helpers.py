"""Small helpers shared by the test files."""

from __future__ import annotations

import contextlib
import copy as _copy
import csv
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import yaml
from click.testing import CliRunner

from nnlab.cli import main
from nnlab.config import validate
from nnlab.experiment import CHECKPOINT


def merged_config(base: dict, **sections):
    """validate(base) with each keyword merged into its section (mappings) or replacing it (values)."""
    raw = _copy.deepcopy(base)
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


def invoke(*args, env=None, catch_exceptions: bool = True):
    """``nnlab ARGS`` in this process (click's runner), every argument as text."""
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=catch_exceptions)


# ------------------------------------------------------------------ HTML reports: well-formed, ids resolved

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
SVG_NAMESPACES = ("http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink")


class Checker(HTMLParser):
    """Asserts that every close tag matches the open one; counts tags; collects the comparison table."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.counts: dict[str, int] = {}
        self.ids: list[str] = []
        self.table: list[list[str]] = []  # the comparison table's body rows, cell texts
        self._in_table = self._in_body = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self._count(tag, attrs)
        if tag not in VOID:
            self.stack.append(tag)
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == "comparison":
            self._in_table = True
        elif self._in_table and tag == "tbody":
            self._in_body = True
        elif self._in_body and tag == "tr":
            self.table.append([])
        elif self._in_body and tag == "td":
            self._cell = []

    def handle_startendtag(self, tag, attrs):
        self._count(tag, attrs)

    def _count(self, tag, attrs):
        self.counts[tag] = self.counts.get(tag, 0) + 1
        self.ids += [v for k, v in attrs if k == "id"]

    def handle_endtag(self, tag):
        assert self.stack, f"</{tag}> closes nothing"
        assert self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1]}> (open: {self.stack})"
        self.stack.pop()
        if tag == "td" and self._cell is not None:
            self.table[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._in_table = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def check(text: str, tables: bool = True) -> Checker:
    assert text.startswith("<!DOCTYPE html>")
    c = Checker()
    c.feed(text)
    c.close()
    assert c.stack == [], f"unclosed: {c.stack}"
    for tag in ("html", "head", "body", "title", "style"):
        assert c.counts.get(tag) == 1, tag
    assert (c.counts.get("table", 0) >= 1) == tables
    # ids unique across all inline figures, and every internal reference resolves
    assert len(c.ids) == len(set(c.ids)), [i for i in set(c.ids) if c.ids.count(i) > 1][:5]
    for ref in re.findall(r'(?:url\(#|href="#)([^)"]+)', text):
        assert ref in c.ids, ref
    return c


# ------------------------------------------------------------------ runs stopped and resumed

# a run that uses every piece of state a checkpoint must keep: dropout and shuffling (two random
# streams), batch norm (running statistics), NAdam (moments and its momentum product), a plateau
# schedule (its own state), early stopping with weight restore (best snapshot)
RAW = {
    "name": "rs", "seed": 3,
    "data": {"name": "spiral", "n_samples": 600, "val_fraction": 0.2},
    "model": {"hidden": [32, 32], "activation": "relu", "dropout": 0.1, "batch_norm": True},
    "train": {"epochs": 200, "batch_size": 32, "optimizer": {"name": "nadam", "lr": 0.01},
              "schedule": {"name": "plateau", "patience": 3, "factor": 0.5, "metric": "val_loss"},
              "early_stopping": {"metric": "val_loss", "patience": 1000}},
}
TIMING = {"started", "finished", "wall_seconds", "train_seconds", "samples_per_second", "pid", "pid_start", "host",
          "command", "resumed", "config_source", "threads"}  # threads: what each process chose, and when


def copy(state: dict) -> dict:
    """A checkpoint's arrays are live views, valid during the callback (the run folder saves them at once)."""
    return {k: np.array(v) for k, v in state.items()}


def ctrl_c_after(epochs: int):
    """An on_epoch callback that presses Ctrl-C at the end of epoch ``epochs``."""
    def callback(row):
        if row["epoch"] == epochs:
            raise KeyboardInterrupt
    return callback


def table(path: Path, drop=("seconds",)) -> list[dict]:
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(f)]


def untimed(summary: dict) -> dict:
    out = {k: v for k, v in summary.items() if k not in TIMING}
    for k in ("best", "final"):
        if isinstance(out.get(k), dict):
            out[k] = {kk: vv for kk, vv in out[k].items() if kk != "seconds"}
    return out


def assert_same_run(a: Path, b: Path) -> None:
    """Two run folders hold the same results, timings aside."""
    assert table(a / "metrics.csv") == table(b / "metrics.csv")
    assert table(a / "diagnostics.csv") == table(b / "diagnostics.csv")
    with np.load(a / "model.npz") as za, np.load(b / "model.npz") as zb:
        assert sorted(za.files) == sorted(zb.files)
        for k in za.files:
            np.testing.assert_array_equal(za[k], zb[k], err_msg=k)
    sa = json.loads((a / "summary.json").read_text())
    sb = json.loads((b / "summary.json").read_text())
    assert untimed(sa) == untimed(sb)
    assert not (b / CHECKPOINT).exists()  # a finished run drops its checkpoint


# ------------------------------------------------------------------ small and read-only disks


@contextlib.contextmanager
def small_disk(path: Path, size: str):
    """A tmpfs of ``size`` ('600k', '2m') mounted at ``path`` for the block: a disk that fills up, or (remounted
    read-only) one that refuses writes.  Needs root (nnlab often runs as root); the test is skipped elsewhere."""
    import os
    import subprocess

    import pytest

    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                          text=True)
    if made.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
