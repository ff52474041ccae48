"""One run of a sweep: a point's config and a seed, trained into an ordinary run folder.

A task is a plain dict (it crosses process boundaries): the config mapping, the run folder, the
sweep's metric and what a diverged run scores, the pruner's settings and medians, the BLAS threads,
whether the run sees the test set, the summary tags.  ``train_task`` trains one network from it
(or continues an interrupted one from its checkpoint, ``resume``) and returns the outcome as a
plain dict; it never raises for a failed run.  A config that is a members ensemble is a plan, not one
network: nnlab.sweep.work sends it to nnlab.sweep.members.

The test set is held back (``evaluate_test=False``): a sweep chooses on the validation metric and
evaluates only the chosen configuration on the test set (nnlab.sweep.lifecycle).  A sweep with
``test: all`` (the claims gallery compares variants, it does not choose) sends ``evaluate_test=True``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from nnlab.components.losses import loss_for_task
from nnlab.config.schema import validate
from nnlab.data.augment import data_spec
from nnlab.ensemble import combine_runs, member_runs
from nnlab.errors import NnlabError
from nnlab.experiment import RunOptions, load_data, prepare_resume, resume_experiment, run_experiment
from nnlab.runs import load_model
from nnlab.text import number, percent
from nnlab.train.trainer import evaluate

_DATA: dict = {}  # data key -> Dataset, per worker process (a sweep's runs share their data)


def data_key_of(cfg) -> str:
    """What identifies a config's data: its data section (augmentation aside) and dtype."""
    return json.dumps([data_spec(cfg.data), cfg.dtype], sort_keys=True, default=str)


def remember(datasets: dict) -> None:
    """Keep these datasets (data key -> Dataset): worker processes forked afterwards start with them."""
    _DATA.update(datasets)


def dataset_for(cfg):
    key = data_key_of(cfg)
    if key not in _DATA:
        if len(_DATA) >= 20:
            _DATA.clear()
        _DATA[key] = load_data(cfg)
    return _DATA[key]


def warm_up(config: dict) -> None:
    """Load the data of ``config`` (and with it the training code) before the first run arrives."""
    try:
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

    def _seen(self, row: dict):
        v = row.get(self.metric)
        if v is None or not math.isfinite(v):
            return None
        if self.best is None or (v > self.best if self.maximize else v < self.best):
            self.best = v
        return v

    def prime(self, rows: list) -> None:
        """The epochs a resumed run had done before it stopped: their best counts, no decision is made."""
        for row in rows:
            self._seen(row)

    def __call__(self, row: dict) -> str | None:
        if self._seen(row) is None:
            return None
        e = row["epoch"]
        if e <= self.warmup or e > len(self.reference) or self.reference[e - 1] is None:
            return None
        med = self.reference[e - 1]
        if (self.best < med) if self.maximize else (self.best > med):
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


def failed(message: str, status: str = "failed") -> dict:
    """The outcome of a run that did not train (or did not finish)."""
    return {"status": status, "value": None, "epochs": 0, "seconds": None, "message": message, "curve": []}


def options_for(task: dict, pruner=None):
    """The RunOptions a task asks for: threads, pruner, test set, plots, checkpoints, summary tags."""
    extra = task.get("summary")
    if extra is None:
        extra = {"sweep": {"name": task["sweep"], "trial": task["trial"], "seed": task["seed"],
                           "metric": task["metric"], "params": task["params"]}}
    return RunOptions(threads=task.get("threads"), should_stop=pruner, evaluate_test=task.get("evaluate_test", False),
                      plots=task.get("plots", False), checkpoints=task.get("checkpoints", True),
                      summary={"git_commit": task.get("git_commit"), **extra})


def pruner_for(task: dict) -> MedianPruner | None:
    if not task.get("prune"):
        return None
    return MedianPruner(task["metric"], task["maximize"], task["prune"]["warmup"], task.get("reference") or [])


def train_task(task: dict, dataset=None) -> dict:
    """Train one network of a sweep (or continue it from its checkpoint when ``task['resume']``); the
    outcome as a plain dict.  A failed run is an outcome with its reason, never an exception."""
    metric = task["metric"]
    try:
        pruner = pruner_for(task)
        if task.get("resume"):
            prepared = prepare_resume(task["run_dir"], data_for=dataset_for)
            if pruner is not None:
                pruner.prime(json.loads(str(prepared[2]["meta"]))["history"])  # (cfg, data, state, lock)
            _, result, summary = resume_experiment(task["run_dir"], prepared=prepared, options=options_for(task, pruner),
                                                   command=task.get("command"))
        else:
            cfg = validate(task["config"], source=task["run_dir"])
            if (cfg.train.get("ensemble") or {}).get("members"):
                return failed("a members ensemble is a plan of several runs; nnlab.sweep.work.run_task trains it")
            data = dataset if dataset is not None else dataset_for(cfg)
            _, result, summary = run_experiment(cfg, dataset=data, run_dir=task["run_dir"],
                                                options=options_for(task, pruner), command=task.get("command"))
    except KeyboardInterrupt:  # the sweep is stopping: the run folder says interrupted; resume continues it
        return failed("stopped with the sweep", "interrupted")
    except NnlabError as exc:
        return failed(str(exc).splitlines()[0])
    except Exception as exc:  # noqa: BLE001 - a failed trial is recorded and the sweep goes on
        return failed(f"{type(exc).__name__}: {exc}")
    return {"status": summary["status"], "message": summary.get("message") or "", "epochs": len(result.history),
            "seconds": result.train_seconds, "curve": [r.get(metric) for r in result.history],
            "value": run_value(summary["status"], result.history, result.restored_epoch, metric, task["worst"]),
            "final": summary.get("final"), "test": summary.get("test")}


def evaluate_on_test(run_dir, dataset) -> dict | None:
    """The test loss and accuracy of a finished run (the chosen configuration only): its model.npz's, or for a
    members ensemble its members' combined; None when it has no weights."""
    import numpy as np

    run_dir = Path(run_dir)
    members = member_runs(run_dir)
    if members:  # an ensemble of members: its test result is the ensemble's
        e = combine_runs(members, dataset)["ensemble"]
        return {"loss": e.get("test_loss"), "acc": e.get("test_acc")}
    if not (run_dir / "model.npz").is_file():
        return None

    model = load_model(run_dir, dataset)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        loss, acc = evaluate(model, dataset.x_test, dataset.y_test, loss_for_task(dataset.task))
    return {"loss": loss, "acc": acc}
