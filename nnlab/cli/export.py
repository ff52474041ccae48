"""nnlab export: runs and sweeps into TensorBoard's event files or an MLflow tracking store.

Imports inside the commands are for start-up time: nnlab --help loads no numpy.
"""

from __future__ import annotations

import click

from nnlab.cli import handle_errors, main, make_console


@main.group()
def export():
    """Show runs and sweeps in TensorBoard or MLflow: nnlab export tensorboard|mlflow RUN...

    A RUN is a run folder, a sweep folder, or a folder of them (runs/, sweeps/).  Exporting
    the same run again replaces what it exported before: nothing is shown twice.

    \b
    Examples:
      nnlab export tensorboard runs/ -o tb && tensorboard --logdir tb
      nnlab export mlflow runs/ sweeps/ && mlflow ui --backend-store-uri sqlite:///mlflow.db
    """


def _items(paths):
    from nnlab.errors import ConfigError
    from nnlab.export.items import collect

    items, warnings = collect(paths)
    err = make_console(stderr=True)
    for w in warnings:
        err.print(f"warning: {w}", markup=False, soft_wrap=True)
    if not items:
        raise ConfigError(f"{' '.join(str(p) for p in paths)}: no runs or sweeps to export")
    return items


@export.command("tensorboard")
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--out", "out", default="tensorboard", show_default=True, type=click.Path(),
              help="The folder TensorBoard reads (tensorboard --logdir OUT); one subfolder per run.")
@handle_errors
def tensorboard(runs, out):
    """Write TensorBoard event files: scalars per epoch, the config as hparams, a sweep as an hparams table.

    Each run becomes OUT/<run folder>/ (a sweep's runs OUT/<sweep folder>/<run>/) with one event file:
    loss, accuracy (train and validation) and the learning rate per epoch, the test result,
    and the run's hparams session (a sweep's run: the searched params, its trial as the group).
    """
    from nnlab.cli import check_runs_dir
    from nnlab.export.tensorboard_events import export as write, tensorboard_modules

    tensorboard_modules()  # the extra first: one line before anything is read
    check_runs_dir(out, "-o")
    done = write(_items(runs), out)
    console = make_console()
    for what, where in done:
        console.print(f"{what} -> {where}", markup=False, soft_wrap=True)
    console.print(f"{len(done)} run{'s' if len(done) != 1 else ''} in {out}: tensorboard --logdir {out}",
                  markup=False, soft_wrap=True)


@export.command("mlflow")
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option("--tracking-uri", default=None, metavar="URI",
              help="The MLflow tracking store  [default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db, a local "
                   "file with its artifacts in mlartifacts/ beside it]")
@click.option("--experiment", default="nnlab", show_default=True, help="The MLflow experiment the runs go to.")
@handle_errors
def mlflow(runs, tracking_uri, experiment):
    """Log runs into an MLflow tracking store: params, metrics per epoch, summary, artifacts; a sweep as a
    parent run with its runs as children.

    A run already exported and unchanged is left as it is; one that changed since (resumed)
    replaces its earlier MLflow run.
    """
    import logging
    import os

    from nnlab.export.mlflow_store import DEFAULT_URI, export as log, mlflow_client

    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # its INFO lines (creating tables) are not our output
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    mlflow_client(uri)  # the extra first: one line before anything is read
    done = log(_items(runs), uri, experiment)
    console = make_console()
    for what, how, run_id in done:
        console.print(f"{what}: {how} (run {run_id})", markup=False, soft_wrap=True)
    shown = f"mlflow ui --backend-store-uri {uri}" if uri.startswith("sqlite") else f"the MLflow UI of {uri}"
    n = {how: sum(1 for _, h, _ in done if h == how) for how in ("logged", "updated", "unchanged")}
    console.print(f"{len(done)} exported ({n['logged']} logged, {n['updated']} updated, {n['unchanged']} unchanged) "
                  f"into experiment {experiment}: {shown}", markup=False, soft_wrap=True)
