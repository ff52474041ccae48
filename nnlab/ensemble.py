"""Ensembles of finished runs (note 002: "train multiple independent models; at test time average their
results"): score them together, and what a members ensemble's run folder says of its members.

``combine_runs`` scores finished runs on the same data as an ensemble: the average of their softmax
outputs (nnlab.train.combine), each member's and the ensemble's validation and test loss and accuracy,
and the gain over the mean and the best member (``nnlab ensemble RUN...``).

A members ensemble (``train.ensemble: {members: n}``) is one run folder whose members are an ordinary
sweep over their seeds, trained by the sweep lifecycle (nnlab.sweep.members)::

    runs/<stamp>_<name>/
      config.yaml        the config (with train.ensemble)
      members/           the members' sweep folder: sweep.yaml, trials.csv, runs/t000-seed<S>/ (seeds
                         seed, seed+1, ...), each an ordinary run folder
      metrics.csv        the members' mean per epoch (what compare and report draw)
      curves.png         the members' curves overlaid
      summary.json       each member's and the ensemble's validation and test loss and accuracy;
                         its test result and best are the ensemble's

``ensemble_summary`` and ``write_mean_curves`` fill its summary.json, metrics.csv and curves.png once the
members are done.
"""

from __future__ import annotations

import json
from pathlib import Path

from nnlab import files, runs
from nnlab.errors import RunError
from nnlab.look.figures import plot_compare
from nnlab.metrics import METRIC_COLUMNS
from nnlab.runs.compare import flatten
from nnlab.text import setting
from nnlab.train.combine import combine

MEMBERS = "members"  # the members' sweep folder inside an ensemble's run folder


def member_runs(run_dir, finished: bool = True) -> list[Path]:
    """The member run folders of a members ensemble's run folder, in seed order (with ``finished``, only
    those with a model.npz); none for any other run folder."""
    base = Path(run_dir) / MEMBERS
    found = []
    for pattern in ("runs/t*-seed*", "seed*"):  # the second: ensembles written before members were a sweep
        for d in base.glob(pattern):
            seed = d.name.rsplit("seed", 1)[-1]
            if d.is_dir() and seed.isdigit() and (not finished or (d / "model.npz").is_file()):
                found.append((int(seed), d))
        if found:
            break
    return [d for _, d in sorted(found)]


def combine_runs(run_dirs: list, dataset) -> dict:
    """Score finished runs (their model.npz) as an ensemble on ``dataset``: each member's and the ensemble's
    validation and test loss/accuracy, and the gain over the mean and the best member."""
    import numpy as np

    outs = {"val": [], "test": []}
    for d in run_dirs:
        model = runs.load_model(d, dataset)
        for name, x in (("val", dataset.x_val), ("test", dataset.x_test)):
            if x is not None and len(x):
                outs[name].append(model.predict(x))
    members = [{"run": str(d)} for d in run_dirs]
    ens = {}
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for name, y in (("val", dataset.y_val), ("test", dataset.y_test)):
            if not outs[name]:
                continue
            ens[f"{name}_loss"], ens[f"{name}_acc"] = combine(outs[name], y, dataset.task).values()
            for m, o in zip(members, outs[name]):
                m[f"{name}_loss"], m[f"{name}_acc"] = combine([o], y, dataset.task).values()
    gain = {}
    for key in ("val_acc", "test_acc"):
        vals = [m.get(key) for m in members]
        if ens.get(key) is not None and all(v is not None for v in vals):
            gain[key] = {"over_mean_member": ens[key] - sum(vals) / len(vals), "over_best_member": ens[key] - max(vals)}
    return {"members": members, "ensemble": ens, "gain": gain}


def check_same_data(run_list) -> None:
    """Runs can form an ensemble only on the same data: same data spec and dtype, same features and classes.
    The message names the key that differs (data.preprocess, data.val_fraction, ...), whole."""
    first = run_list[0]
    for r in run_list[1:]:
        a_data, b_data = (first.config or {}).get("data") or {}, (r.config or {}).get("data") or {}
        a, b = flatten({"data": a_data}), flatten({"data": b_data})
        for key in sorted(set(a) | set(b)):
            if key.startswith("data.augment"):  # augmentation changes the training batches, not the data
                continue
            if a.get(key) != b.get(key):
                raise RunError(f"{r.path}: its {key} is {setting(b.get(key))}, {first.path}'s is "
                               f"{setting(a.get(key))}; an ensemble averages models trained on the same data")
        for what, x, y in (("dtype", (first.config or {}).get("dtype"), (r.config or {}).get("dtype")),
                           ("features", first.summary.get("data", {}).get("n_features"),
                            r.summary.get("data", {}).get("n_features")),
                           ("classes", first.summary.get("data", {}).get("n_classes"),
                            r.summary.get("data", {}).get("n_classes"))):
            if x != y:
                raise RunError(f"{r.path}: its {what} is {setting(y)}, {first.path}'s is {setting(x)}; an ensemble "
                               "averages models trained on the same data")


def check_fingerprints(run_list, dataset) -> None:
    """Each run was trained on exactly these data (the fingerprint its summary.json recorded; a run written
    before fingerprints were recorded is not checked): a changed data file is one RunError line, never a
    silent score on other data."""
    now = dataset.fingerprint(test=True)
    for r in run_list:
        then = (r.summary.get("data") or {}).get("fingerprint")
        if then is not None and then != now:
            raise RunError(f"{r.path}: was trained on other data than {dataset.name}'s now (its summary.json "
                           "records another fingerprint: a changed data file?); an ensemble is scored on the data "
                           "its members were trained on")


def mean_row(rows: list[dict]) -> dict:
    """The mean of metrics rows, column by column (None where a row has none)."""
    out = {}
    for k in rows[0]:
        vals = [r.get(k) for r in rows]
        out[k] = None if any(v is None for v in vals) else sum(vals) / len(vals)
    return out


def ensemble_summary(epochs: int, dirs: list[Path], dataset, statuses: list[str]) -> dict:
    """What a members ensemble's summary.json says once its members are done: their statuses, each
    member's and the ensemble's scores, the ensemble's test result and best, the members' mean last row."""
    finished = [d for d, s in zip(dirs, statuses) if s == "completed"]
    out = {"epochs": epochs, "ensemble": {"members": len(dirs), "runs": [str(Path(d).relative_to(Path(d).parents[2]))
                                                                           for d in dirs], "statuses": statuses}}
    bad = [s for s in statuses if s != "completed"]
    if not finished:
        out.update(status="failed", message=f"no member completed ({', '.join(sorted(set(statuses)))})")
        return out
    sc = combine_runs(finished, dataset)
    out["ensemble"].update(sc)
    e = sc["ensemble"]
    out["status"] = "completed" if not bad else ("diverged" if "diverged" in bad else "failed")
    out["message"] = (f"{len(finished)} of {len(dirs)} members completed; the ensemble averages those"
                      if bad else "")
    out["test"] = {"loss": e.get("test_loss"), "acc": e.get("test_acc")}
    metric = "val_acc" if e.get("val_acc") is not None else "val_loss"
    if e.get(metric) is not None:
        out["best"] = {"metric": metric, metric: e[metric], "epoch": epochs}
    rows = [runs.read_metrics(d / "metrics.csv") for d in finished]
    n = min(len(r) for r in rows)
    out["final"] = mean_row([r[n - 1] for r in rows]) if n else None
    out["train_seconds"] = sum(json.loads(files.read_text_bounded(d / "summary.json", files.CONFIG_MAX_BYTES,
                                                                  "a run's summary.json")).get("train_seconds") or 0
                               for d in finished)
    return out


def write_mean_curves(name: str, run_dir: Path, dirs: list[Path], summary: dict) -> None:
    """metrics.csv: the members' mean per epoch; curves.png: the members overlaid."""
    curves = [(d.name, runs.read_metrics(d / "metrics.csv")) for d in dirs if (d / "metrics.csv").is_file()]
    curves = [(label, rows) for label, rows in curves if rows]
    if not curves:
        return
    n = min(len(rows) for _, rows in curves)
    w = runs.MetricsWriter(run_dir / "metrics.csv", METRIC_COLUMNS)
    for e in range(n):
        w.write(mean_row([rows[e] for _, rows in curves]))
    w.close()
    try:
        plot_compare(curves, run_dir / "curves.png", title=f"{name}: {len(curves)} members")
    except Exception as exc:  # noqa: BLE001 - a missing plot must not lose the run
        summary["plot_error"] = f"{type(exc).__name__}: {exc}"
