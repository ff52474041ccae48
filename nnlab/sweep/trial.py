"""One run of a sweep: a point's config and a seed, trained into an ordinary run folder.

``run_task`` runs in a worker process of the local pool (it writes the run folder in place)
and, through ``remote_task``, on a Dask worker (it trains into a temporary folder and returns
every file, which the machine running ``nnlab sweep`` writes: no shared file system needed).
The test set is held back (``evaluate_test=False``): a sweep chooses on the validation
metric and evaluates only the chosen configuration on the test set (nnlab.sweep.runner).
A sweep with ``test: all`` (the claims gallery: it compares variants, it does not choose)
sends ``evaluate_test=True`` and every run records its test result.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

_DATA: dict = {}  # data spec -> Dataset, per worker process (a sweep's runs share their data)


def data_key_of(cfg) -> str:
    """What identifies a config's data: its data section (augmentation aside) and dtype."""
    from nnlab.data.augment import data_spec

    return json.dumps([data_spec(cfg.data), cfg.dtype], sort_keys=True, default=str)


def remember(datasets: dict) -> None:
    """Keep these datasets (data key -> Dataset): worker processes forked afterwards start with them."""
    _DATA.update(datasets)


def dataset_for(cfg):
    from nnlab.experiment import load_data

    key = data_key_of(cfg)
    if key not in _DATA:
        if len(_DATA) >= 20:
            _DATA.clear()
        _DATA[key] = load_data(cfg)
    return _DATA[key]


def warm_up(config: dict) -> None:
    """Load the data of ``config`` (and with it the training code) before the first run arrives."""
    try:
        from nnlab.config.schema import validate
        from nnlab.experiment import RunOptions  # noqa: F401 - the import is the point

        dataset_for(validate(dict(config)))
    except Exception:  # noqa: BLE001 - the run that needs the data will report the problem
        pass


class MedianPruner:
    """Stop a run whose best value so far is worse than the median of finished runs at this epoch.

    ``reference[e - 1]`` is that median at epoch e (None where fewer than ``startup`` finished
    runs reached it: no pruning there); the first ``warmup`` epochs are never pruned.  The
    rule of Optuna's MedianPruner, with the medians taken when the run was sent off.
    """

    def __init__(self, metric: str, maximize: bool, warmup: int, reference: list):
        self.metric, self.maximize, self.warmup, self.reference = metric, maximize, warmup, reference
        self.best = None

    def __call__(self, row: dict) -> str | None:
        v = row.get(self.metric)
        if v is None or not math.isfinite(v):
            return None
        if self.best is None or (v > self.best if self.maximize else v < self.best):
            self.best = v
        e = row["epoch"]
        if e <= self.warmup or e > len(self.reference) or self.reference[e - 1] is None:
            return None
        med = self.reference[e - 1]
        if (self.best < med) if self.maximize else (self.best > med):
            from nnlab.text import number, percent

            show = percent if self.metric.endswith("acc") else number  # as the rest of the sweep's lines
            return (f"pruned after epoch {e}: its best {self.metric} so far, {show(self.best)}, is worse than the "
                    f"median of the finished runs at epoch {e}, {show(med)}")
        return None


def run_value(status: str, history: list, restored_epoch, metric: str, worst: float):
    """A run's score: the metric at the epoch whose weights it kept (the restored best epoch, else the
    last); a diverged run scores ``worst``; None when there is nothing to score."""
    if status == "diverged":
        return worst
    if not history:
        return None
    row = history[(restored_epoch or len(history)) - 1]
    v = row.get(metric)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return worst if status in ("completed", "pruned") else None
    return float(v)


def run_task(task: dict, dataset=None) -> dict:
    """Train one run of a sweep; the outcome as a plain dict (never raises for a failed run)."""
    from nnlab.config.schema import validate
    from nnlab.errors import NnlabError
    from nnlab.experiment import RunOptions, run_experiment

    out = {"status": "failed", "value": None, "epochs": 0, "seconds": None, "message": "", "curve": []}
    metric = task["metric"]
    try:
        cfg = validate(task["config"], source=task["run_dir"])
        data = dataset if dataset is not None else dataset_for(cfg)
        pruner = None
        if task.get("prune"):
            pruner = MedianPruner(metric, task["maximize"], task["prune"]["warmup"], task.get("reference") or [])
        extra = task.get("summary")
        if extra is None:
            extra = {"sweep": {"name": task["sweep"], "trial": task["trial"], "seed": task["seed"], "metric": metric,
                               "params": task["params"]}}
        options = RunOptions(threads=task.get("threads"), should_stop=pruner,
                             evaluate_test=task.get("evaluate_test", False), plots=task.get("plots", False),
                             checkpoints=False, summary={"git_commit": task.get("git_commit"), **extra})
        _, result, summary = run_experiment(cfg, dataset=data, run_dir=task["run_dir"], options=options,
                                            command=task.get("command"))
    except KeyboardInterrupt:  # the sweep is stopping: the run folder says interrupted; resume reruns it
        out["status"] = "interrupted"
        return out
    except NnlabError as exc:
        out["message"] = str(exc).splitlines()[0]
        return out
    except Exception as exc:  # noqa: BLE001 - a failed trial is recorded and the sweep goes on
        out["message"] = f"{type(exc).__name__}: {exc}"
        return out
    out.update(final=summary.get("final"), test=summary.get("test"))
    if result is None:  # an ensemble of members: its metrics.csv is their mean, its score the ensemble's
        from nnlab.runs import read_metrics

        rows = read_metrics(Path(task["run_dir"]) / "metrics.csv") if (Path(task["run_dir"]) / "metrics.csv"
                                                                          ).is_file() else []
        ens = (summary.get("ensemble") or {}).get("ensemble") or {}
        value = ens.get(metric) if metric in ens else run_value(summary["status"], rows, None, metric,
                                                                task["worst"])
        out.update(status=summary["status"], message=summary.get("message") or "", epochs=len(rows),
                   seconds=summary.get("train_seconds"), curve=[r.get(metric) for r in rows], value=value)
        return out
    out.update(status=summary["status"], message=summary.get("message") or "", epochs=len(result.history),
               seconds=result.train_seconds, curve=[r.get(metric) for r in result.history],
               value=run_value(summary["status"], result.history, result.restored_epoch, metric, task["worst"]))
    return out


def remote_task(task: dict, dataset) -> dict:
    """``run_task`` on a Dask worker: train in a temporary folder and return its files with the outcome."""
    import shutil
    import tempfile

    from nnlab.train.threads import limited

    tmp = tempfile.mkdtemp(prefix="nnlab-sweep-")
    try:
        local = dict(task, run_dir=str(Path(tmp) / Path(task["run_dir"]).name), threads=1)
        with limited(1):
            out = run_task(local, dataset)
        files = {}
        run_dir = Path(local["run_dir"])
        if run_dir.is_dir():
            for f in sorted(run_dir.iterdir()):
                if f.is_file() and not f.name.startswith("."):
                    files[f.name] = f.read_bytes()
        out["files"] = files
        out["host"] = os.uname().nodename
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def evaluate_on_test(run_dir, dataset) -> dict | None:
    """The test loss and accuracy of a finished run's model.npz (the chosen configuration only)."""
    import numpy as np

    from nnlab.config import load_config
    from nnlab.train.trainer import build, evaluate

    run_dir = Path(run_dir)
    model_file = run_dir / "model.npz"
    members = sorted(d for d in (run_dir / "members").glob("seed*") if (d / "model.npz").is_file()) \
        if (run_dir / "members").is_dir() else []
    if members:  # an ensemble of members: its test result is the ensemble's
        from nnlab.ensemble import combine_runs

        e = combine_runs(members, dataset)["ensemble"]
        return {"loss": e.get("test_loss"), "acc": e.get("test_acc")}
    if not model_file.is_file():
        return None
    cfg = load_config(run_dir / "config.yaml")
    model, loss_fn, _ = build(cfg, dataset)
    with np.load(model_file, allow_pickle=False) as z:
        model.load_state({k: z[k] for k in z.files})
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        loss, acc = evaluate(model, dataset.x_test, dataset.y_test, loss_fn)
    return {"loss": loss, "acc": acc}
