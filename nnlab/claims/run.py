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
    try:
        old = yaml.safe_load((folder / "sweep.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    new = yaml.safe_load(spec.dump())
    return old == new


def run_claim(claim, spec, out, quick: bool, jobs: int, say=print) -> tuple[Path, str]:
    """Run (or reuse, or resume) the claim's sweep; (folder, 'reused' | 'resumed' | 'ran')."""
    from nnlab.files import atomic_write
    from nnlab.interrupt import graceful_signals
    from nnlab.runs import write_json
    from nnlab.sweep import runner
    from nnlab.sweep.pool import LocalPool
    from nnlab.sweep.space import make_sampler
    from nnlab.sweep.trial import remember

    folder = folder_for(out, claim.id, quick)
    resume = False
    if folder.is_dir():
        if _same_spec(folder, spec):
            if is_finished(folder):
                write_json(folder / "claim.json", claim.as_json(quick))
                return folder, "reused"
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
            say(f"{claim.id}: resuming {folder}: {stats['kept']} run{'s' if stats['kept'] != 1 else ''} kept, {stats['rerun']} to run again")
        write_json(folder / "claim.json", claim.as_json(quick))
        write_json(folder / "summary.json", sweep.summary())
        with graceful_signals():
            try:
                sweep.execute(pool, None, threads=1 if jobs > 1 else None)
            finally:
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
    return folder, "resumed" if resume else "ran"
