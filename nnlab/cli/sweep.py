"""nnlab sweep: grid, random or Bayesian (TPE) search over configs, in parallel, resumable.

Imports inside the commands are for start-up time: nnlab --help loads no numpy.
"""

from __future__ import annotations

import os

import click

from nnlab.cli import handle_errors, main, make_console, set_option


@main.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUES",
              help="Search this config key (repeatable): log:1e-4:1e-1 or 0:0.5 (ranges; int:16:256 for whole "
                   "numbers; a third number gives grid points), relu,elu or [[64],[100,100]] (choices).")
@set_option
@click.option("--method", type=click.Choice(["grid", "random", "tpe"]),
              help="grid (every point), random (seeded draws) or tpe (Bayesian, Optuna's TPE).")
@click.option("--trials", type=click.IntRange(min=1), help="Points to try (random and tpe; default 20).")
@click.option("--seeds", metavar="LIST", help="Seeds each point is trained with, e.g. 0,1,2 (default: the "
                                               "config's seed); the metric is their mean.")
@click.option("--metric", type=click.Choice(["val_acc", "val_loss", "train_acc", "train_loss"]),
              help="What is optimized (default val_acc): maximized for *acc, minimized for *loss.")
@click.option("--prune", type=click.Choice(["median", "none"]),
              help="median: stop runs worse than the median of finished runs at the same epoch.")
@click.option("--seed", "sampler_seed", type=click.IntRange(min=0), help="Seed of the random or TPE sampler.")
@click.option("--name", default=None, help="Name of the sweep (default: the file's name: or stem).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Runs trained at once on this machine, one BLAS thread each  [default: the number of cores]")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Send the runs to a Dask cluster, e.g. tcp://10.0.0.5:8786 (or set DASK_SCHEDULER_ADDRESS).")
@click.option("--runs-dir", default="sweeps", show_default=True, type=click.Path(),
              help="Folder that receives the timestamped sweep folder.")
@click.option("--resume", "resume", metavar="SWEEP_FOLDER", type=click.Path(),
              help="Continue a stopped sweep: finished runs are kept, interrupted ones run again.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the sweep folder.")
@handle_errors
def sweep(file, params, overrides, method, trials, seeds, metric, prune, sampler_seed, name, jobs, scheduler,
          runs_dir, resume, quiet):
    """Search over configs: train every point of a grid, random draws, or TPE's proposals.

    FILE is a sweep file (the base config, the params and how to search) or a plain
    config with -p params (the short form).  Every param key and value is checked
    against the config schema before anything trains.  Each point trains once per
    seed; the points are ranked by the validation metric's mean over the seeds, and
    only the chosen one is evaluated on the test set (note 004's protocol).

    The sweep writes <runs-dir>/<date_time>_<name>/ with sweep.yaml, trials.csv (one
    row per run), runs/ (ordinary run folders), best.yaml (nnlab train it), summary.json
    and the figures params.png, progress.png and best_curves.png.  Ctrl-C stops it so
    that --resume continues it; a run that fails is recorded and the sweep goes on.

    Exit code 0 when the sweep finished with at least one trial scored, 1 if none was,
    2 for a bad sweep file, 130 when interrupted (143 for SIGTERM).

    \b
    Examples:
      nnlab sweep sweeps/lr_optimizer.yaml
      nnlab sweep configs/base.yaml -p train.optimizer.lr=log:1e-4:1e-1 -p model.activation=relu,elu --trials 20
      nnlab sweep sweeps/lr_optimizer.yaml --scheduler tcp://127.0.0.1:8786
      nnlab sweep --resume sweeps/2026-11-23_10-00-00_lr_optimizer
    """
    from nnlab.errors import ConfigError
    from nnlab.sweep import lifecycle
    from nnlab.sweep.work import pool_maker

    out = make_console()
    from nnlab.cli.sweep_panel import SweepPanel, keep_going_without_stdout, print_result, say

    keep_going_without_stdout(out)
    scheduler = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    if resume:
        given = [opt for opt, v in (("FILE", file), ("-p", params), ("--set", overrides), ("--method", method),
                                    ("--seeds", seeds), ("--metric", metric), ("--prune", prune),
                                    ("--seed", sampler_seed), ("--name", name)) if v]
        if given:
            raise ConfigError(f"--resume continues a sweep as its sweep.yaml says; give no {', '.join(given)} with "
                              "it (--trials, --jobs and --scheduler are allowed)")
        spec = lifecycle.load_spec(resume)
        if spec.method == "grid" and trials:
            raise ConfigError("--trials: a grid sweep runs every point once; it cannot have more trials")
    else:
        if not file:
            raise ConfigError("nnlab sweep needs a sweep file or a config with -p params, or --resume FOLDER; "
                              "e.g. nnlab sweep configs/base.yaml -p train.optimizer.lr=log:1e-4:1e-1")
        from nnlab.sweep.spec import load_sweep

        spec = load_sweep(file, params=params, overrides=overrides, method=method, trials=trials, seeds=seeds,
                          metric=metric, prune=prune, seed=sampler_seed, name=name)
        for note in spec.notes:
            say(out, f"note: {note}")
        from nnlab.cli import check_runs_dir

        check_runs_dir(runs_dir)
    from nnlab.train.threads import cores

    runs_in_it = spec.n_trials * len(spec.seeds)
    if jobs and jobs > cores() and not scheduler:
        say(out, f"note: --jobs {jobs}: {cores()} at a time, one per core (more workers than cores only fight over "
                 "them)")
    jobs = max(1, min(jobs or cores(), cores(), runs_in_it))
    panel = SweepPanel(out, spec, quiet)
    if scheduler and spec.prune:
        say(out, "note: pruning uses the medians of the runs finished when a run is sent to the cluster")
    try:
        sweep_, summary = lifecycle.run_sweep(spec, pool_maker(jobs, spec, scheduler), runs_dir=runs_dir,
                                              folder=resume, resume=bool(resume),
                                              more_trials=trials if resume else None, view=panel)
    except KeyboardInterrupt:  # the folder is consistent and its summary.json written: say how to go on
        from nnlab.interrupt import ignore_more

        ignore_more()
        if panel.sweep is not None:
            from nnlab.runs import read_summary_json

            print_result(out, panel.sweep, read_summary_json(panel.sweep.folder), quiet)
        raise
    print_result(out, sweep_, summary, quiet)
    if summary["best"] is None:
        raise SystemExit(1)
