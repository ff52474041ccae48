"""Runs and sweeps logged into an MLflow tracking store (``nnlab export mlflow RUN... [--tracking-uri URI]``).

Each run becomes an MLflow run of the experiment (default ``nnlab``): its flattened config as params, its
metrics per epoch as steps (train_loss, val_loss, train_acc, val_acc, learning_rate; the timestamp is the
epoch's end), the summary's numbers (test_acc, test_loss, best_*, train_seconds), its status (completed:
FINISHED; diverged, failed, crashed: FAILED; interrupted, pruned: KILLED), its start and end, tags (nnlab.status,
nnlab.run_dir, the diagnosis), and its files as artifacts: curves.png, config.yaml, model.npz, summary.json,
metrics.csv, diagnostics.png.  A sweep becomes a parent run (its search settings as params, the best trial's
value, sweep.yaml, trials.csv, best.yaml and its figures) with one child run per run of the sweep (the
searched params and the trial as tags too).

The default store is a local SQLite file, ``sqlite:///mlflow.db``, its artifacts in ``mlartifacts/`` beside
it (``mlflow ui --backend-store-uri sqlite:///mlflow.db`` shows them).  A run is found again by its key (tag
``nnlab.key``): exported unchanged it is left as it is; changed since (resumed, say) the old MLflow run is
deleted and the run logged anew, so exporting twice never shows a run twice.

mlflow is an optional dependency (the mlflow extra: mlflow-skinny with SQLAlchemy and Alembic for the SQLite
store; a full mlflow install works as well).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from nnlab.errors import ConfigError
from nnlab.export.items import RUN_ARTIFACTS, SWEEP_ARTIFACTS, RunItem, SweepItem

DEFAULT_URI = "sqlite:///mlflow.db"
DEFAULT_EXPERIMENT = "nnlab"
STATUS = {"completed": "FINISHED", "diverged": "FAILED", "failed": "FAILED", "crashed": "FAILED",
          "interrupted": "KILLED", "pruned": "KILLED", "running": "RUNNING", "incomplete": "FAILED"}
METRIC_NAMES = {"train_loss": "train_loss", "val_loss": "val_loss", "train_acc": "train_acc", "val_acc": "val_acc",
                "lr": "learning_rate"}
MAX_PARAM = 500  # characters of a param's value every MLflow version takes


def mlflow_client(uri: str):
    """An MlflowClient on ``uri``, or one ConfigError line saying how to install mlflow."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError("nnlab export mlflow needs mlflow: pip install 'nnlab[mlflow]' (or pip install "
                          "mlflow-skinny sqlalchemy alembic)") from None
    try:
        return MlflowClient(tracking_uri=uri)
    except Exception as exc:  # noqa: BLE001 - any refusal of the URI is the user's to fix
        raise ConfigError(f"--tracking-uri {uri}: MLflow cannot use it ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''})") from None


def sqlite_file(uri: str) -> Path | None:
    """The database file of a sqlite:/// URI (None for another store)."""
    parsed = urlparse(uri)
    if parsed.scheme != "sqlite":
        return None
    path = unquote(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else ""
    return Path(path) if path else None


def experiment_id(client, name: str, uri: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage != "active":
            raise ConfigError(f"--experiment {name}: the experiment is deleted in {uri}; restore it in MLflow or "
                              "choose another name")
        return exp.experiment_id
    db = sqlite_file(uri)
    location = (db.resolve().parent / "mlartifacts").as_uri() if db is not None else None
    return client.create_experiment(name, artifact_location=location)


def export(items, uri: str = DEFAULT_URI, experiment: str = DEFAULT_EXPERIMENT) -> list[tuple[str, str, str]]:
    """Log each item; [(what, 'logged' | 'updated' | 'unchanged', MLflow run id)]."""
    db = sqlite_file(uri)
    if db is not None and not db.parent.is_dir():
        raise ConfigError(f"--tracking-uri {uri}: the folder {db.parent} does not exist")
    client = mlflow_client(uri)
    try:
        exp = experiment_id(client, experiment, uri)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - a store that cannot be opened: one line
        raise ConfigError(f"--tracking-uri {uri}: MLflow cannot open the store ({type(exc).__name__}: "
                          f"{(str(exc).splitlines() or [''])[0][:200]})") from None
    done = []
    for item in items:
        if isinstance(item, SweepItem):
            done.extend(_sweep(client, exp, item))
        else:
            done.append(_run(client, exp, item))
    return done


def _existing(client, exp: str, key: str):
    found = client.search_runs([exp], filter_string=f"tags.`nnlab.key` = '{key}'", max_results=10)
    return list(found)


def _replace(client, exp: str, key: str, fingerprint: str):
    """('unchanged', run) when the key is logged with this fingerprint; else ('logged' or 'updated', None), the
    old runs (and their children) deleted."""
    old = _existing(client, exp, key)
    if len(old) == 1 and old[0].data.tags.get("nnlab.fingerprint") == fingerprint:
        return "unchanged", old[0]
    for r in old:
        for child in client.search_runs([exp], filter_string=f"tags.`mlflow.parentRunId` = '{r.info.run_id}'"):
            client.delete_run(child.info.run_id)
        client.delete_run(r.info.run_id)
    return ("updated" if old else "logged"), None


def _params(values: dict) -> list:
    from mlflow.entities import Param

    return [Param(k, str(v)[:MAX_PARAM]) for k, v in sorted(values.items())]


def _log(client, run_id: str, metrics=(), params=(), tags=()) -> None:
    metrics, params, tags = list(metrics), list(params), list(tags)
    for i in range(0, max(len(metrics), len(params), len(tags), 1), 100):  # MLflow takes 100 params per batch
        client.log_batch(run_id, metrics=metrics[i:i + 100], params=params[i:i + 100], tags=tags[i:i + 100])


def _run(client, exp: str, item: RunItem, parent: str | None = None, what: str | None = None):
    from mlflow.entities import Metric, RunTag

    what = what or item.name
    how, old = _replace(client, exp, item.key, item.fingerprint)
    if old is not None:
        return what, how, old.info.run_id
    s = item.run.summary
    tags = {"nnlab.key": item.key, "nnlab.fingerprint": item.fingerprint, "nnlab.kind": "run",
            "nnlab.status": item.run.status, "nnlab.run_dir": str(item.run.path), "nnlab.name": item.run.name}
    if parent:
        tags["mlflow.parentRunId"] = parent
        tags.update({"nnlab.trial": str(item.trial), "nnlab.seed": str(item.seed)})
        tags.update({f"param.{k}": str(v) for k, v in item.searched.items()})
    diagnosis = [f.get("message", "") for f in s.get("diagnosis") or [] if isinstance(f, dict)]
    if diagnosis:
        tags["nnlab.diagnosis"] = " | ".join(diagnosis)[:5000]
    run = client.create_run(exp, start_time=int(item.started * 1000), tags=tags, run_name=item.run.name)
    rid = run.info.run_id
    metrics = []
    for r in item.rows():
        ms = int(r["wall_time"] * 1000)
        for col, name in METRIC_NAMES.items():
            v = r.get(col)
            if v is not None:
                metrics.append(Metric(name, float(v), ms, int(r["epoch"])))
    last = item.rows()[-1] if item.rows() else {"epoch": 0, "wall_time": item.started}
    for k, v in item.summary_metrics().items():
        metrics.append(Metric(k, v, int(last["wall_time"] * 1000), int(last["epoch"])))
    _log(client, rid, metrics=metrics, params=_params(item.params),
         tags=[RunTag("nnlab.epochs", str(len(item.run.metrics)))])
    for name in RUN_ARTIFACTS:
        path = item.run.path / name
        if path.is_file() and not path.is_symlink():
            client.log_artifact(rid, str(path))
    client.set_terminated(rid, status=STATUS.get(item.run.status, "FAILED"),
                          end_time=int((item.finished or last["wall_time"]) * 1000))
    return what, how, rid


def _sweep(client, exp: str, item: SweepItem) -> list:
    from mlflow.entities import Metric

    how, old = _replace(client, exp, item.key, item.fingerprint)
    if old is not None:
        return [(item.path.name, how, old.info.run_id)]
    tags = {"nnlab.key": item.key, "nnlab.fingerprint": item.fingerprint, "nnlab.kind": "sweep",
            "nnlab.status": str(item.summary.get("status", "")), "nnlab.run_dir": str(item.path),
            "nnlab.name": item.name}
    parent = client.create_run(exp, start_time=int(item.started * 1000), tags=tags, run_name=item.name)
    pid = parent.info.run_id
    metrics = []
    if item.best is not None and item.best.get("value") is not None:
        metrics.append(Metric(f"best_{item.metric}", float(item.best["value"]), int(item.started * 1000), 0))
        metrics.append(Metric("best_trial", float(item.best["trial"]), int(item.started * 1000), 0))
    test = (item.summary.get("best") or {}).get("test") or {}
    for k in ("acc", "loss"):
        if isinstance(test.get(k), (int, float)):
            metrics.append(Metric(f"test_{k}", float(test[k]), int(item.started * 1000), 0))
    _log(client, pid, metrics=metrics, params=_params(item.settings))
    for name in SWEEP_ARTIFACTS:
        path = item.path / name
        if path.is_file() and not path.is_symlink():
            client.log_artifact(pid, str(path))
    out = [(item.path.name, how, pid)]
    for r in item.runs:
        out.append(_run(client, exp, r, parent=pid, what=f"{item.path.name}/{r.name}"))
    status = "FINISHED" if item.summary.get("status") == "completed" else "KILLED"
    client.set_terminated(pid, status=status)
    return out
