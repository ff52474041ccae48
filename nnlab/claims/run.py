"""Running a claim: its sweep in ``<out>/<id>-full`` or ``<out>/<id>-quick``, reused when finished.

A finished sweep folder whose sweep.yaml equals the claim's resolved sweep is kept as it is;
an unfinished one is resumed by the sweep's own resume (finished runs kept); one whose
sweep.yaml differs (the claim file changed) is started again.  The claim file is copied
into the folder resolved as ``claim.json``, so ``nnlab claims report`` needs only the folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml


def folder_for(out, claim_id: str, quick: bool) -> Path:
    return Path(out) / f"{claim_id}-{'quick' if quick else 'full'}"


def is_finished(folder: Path) -> bool:
    from nnlab.sweep.runner import read_summary

    s = read_summary(folder)
    return s.get("status") == "completed" and "finished" in s


def _same_spec(folder: Path, spec) -> bool:
    from nnlab import files

    try:
        old = files.yaml_load_bounded(files.read_text_bounded(folder / "sweep.yaml", files.CONFIG_MAX_BYTES,
                                                              "a claim's sweep.yaml"))
    except (OSError, ValueError, yaml.YAMLError):
        return False
    new = yaml.safe_load(spec.dump())
    return old == new


def range_test_rate(claim, spec) -> dict:
    """A range_test claim's learning-rate range test on its base config (the config's seed), as ``nnlab
    lr-find`` runs it but writing nothing: {suggested, rule, steps_done, stopped}.  RunError when the
    test recommends no rate."""
    from nnlab.config.schema import validate
    from nnlab.errors import RunError
    from nnlab.sweep import runner
    from nnlab.train.range_test import RECOMMENDED, range_test, suggest, sweep_rates
    from nnlab.train.threads import limited

    rt = claim.range_test
    cfg = validate(dict(spec.base), source=f"{spec.source}: config")
    datasets, _ = runner.prepare(spec)
    lrs = sweep_rates(rt["start"], rt["end"], rt["steps"])
    with limited(1):
        res = range_test(cfg, datasets.get(cfg), lrs)
    if res.status != "completed":
        raise KeyboardInterrupt
    found, _ = suggest(res.lrs[:res.steps_done], res.smoothed, rt["steps"])
    if RECOMMENDED not in found:
        raise RunError(f"{claim.path}: claim: range_test: the range test recommends no rate ({res.message}); "
                       "widen start..end or add steps")
    s = found[RECOMMENDED]
    return {"suggested": s.lr, "rule": f"{s.name}: {s.rule}", "steps_done": res.steps_done, "stopped": res.message}


def run_claim(claim, spec, out, quick: bool, jobs: int, say=print, console=None) -> tuple[Path, str, int]:
    """Run (or reuse, or resume) the claim's sweep; (folder, 'reused' | 'resumed' | 'ran', runs in it).

    A range_test claim first runs its range test and adds the recommended rate to the grid (the
    resolved sweep then names it, so a finished folder is reused only for the same rate)."""
    if claim.range_test is not None and "suggested" not in claim.range_test:
        from nnlab.claims.claim import load_claim

        found = range_test_rate(claim, spec)
        claim, spec = load_claim(claim.path, quick, suggested=found["suggested"])
        claim.range_test.update(rule=found["rule"], steps_done=found["steps_done"], stopped=found["stopped"])
        say(f"{claim.id}: the range test recommends lr {claim.range_test['label']} ({found['rule'].split(':')[0]})")
    from nnlab.files import atomic_write
    from nnlab.interrupt import graceful_signals
    from nnlab.runs import write_json
    from nnlab.sweep import runner
    from nnlab.sweep.pool import LocalPool
    from nnlab.sweep.space import make_sampler
    from nnlab.sweep.trial import remember

    folder = folder_for(out, claim.id, quick)
    n_runs = spec.n_trials * len(spec.seeds)
    resume = False
    if folder.is_dir():
        if _same_spec(folder, spec):
            if is_finished(folder):
                write_json(folder / "claim.json", claim.as_json(quick))
                return folder, "reused", n_runs
            resume = True
        else:
            say(f"{claim.id}: the claim's sweep changed since {folder} was run: running it again")
            shutil.rmtree(folder)
    datasets, key = runner.prepare(spec)
    remember(datasets.loaded)
    pool = LocalPool(jobs, threads=1 if jobs > 1 else None, warm=spec.base)
    try:
        if not resume:
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write(folder / "sweep.yaml", spec.dump())
            (folder / "runs").mkdir(exist_ok=True)
        sweep = runner.Sweep(spec, folder, None, datasets, key)
        sweep.lock()
    except BaseException:
        pool.close()
        raise
    try:
        sweep.sampler = make_sampler(spec, folder)
        if resume:
            stats = runner.restore(sweep)
            kept = f"{stats['kept']} run{'s' if stats['kept'] != 1 else ''}"
            say(f"{claim.id}: resuming {folder}: {kept} kept, {stats['rerun']} to run again")
        write_json(folder / "claim.json", claim.as_json(quick))
        write_json(folder / "summary.json", sweep.summary())
        view = None
        if console is not None and console.is_terminal:  # the sweep's live panel; piped, one line per claim
            from nnlab.cli.sweep_panel import SweepView

            view = SweepView(console, spec, folder, pool.capacity, pool.where)
        with graceful_signals():
            if view is not None:
                view.start(sweep)
            try:
                sweep.execute(pool, view, threads=1 if jobs > 1 else None)
            finally:
                if view is not None:
                    view.stop(sweep)
                pool.close()
    except KeyboardInterrupt:
        from nnlab.interrupt import deferred

        with deferred():
            runner.finish(sweep)
            sweep.unlock()
        raise
    except BaseException:
        sweep.unlock()
        raise
    runner.finish(sweep)
    sweep.unlock()
    return folder, "resumed" if resume else "ran", n_runs
