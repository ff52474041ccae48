"""Running a claim: its sweep in ``<out>/<id>-full`` or ``<out>/<id>-quick``, reused when finished.

A finished sweep folder whose sweep.yaml equals the claim's resolved sweep is kept as it is;
an unfinished one is resumed by the sweep's own resume (finished runs kept); one whose
sweep.yaml differs (the claim file changed) is started again.  The claim file is copied
into the folder resolved as ``claim.json``, so ``nnlab claims report`` needs only the folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from nnlab import files
from nnlab.claims.claim import load_claim
from nnlab.config.schema import validate
from nnlab.errors import RunError
from nnlab.runs import load_run, read_summary_json, write_json
from nnlab.sweep.lifecycle import SweepView, prepare, run_sweep
from nnlab.sweep.pool import LocalPool
from nnlab.sweep.record import made_in_sweep_folder, read_sweep
from nnlab.sweep.task import remember, warm_up
from nnlab.sweep.work import run_task
from nnlab.train.range_test import RECOMMENDED, range_test, suggest, sweep_rates
from nnlab.train.threads import limited


def folder_for(out, claim_id: str, quick: bool) -> Path:
    return Path(out) / f"{claim_id}-{'quick' if quick else 'full'}"


def is_finished(folder: Path) -> bool:
    s = read_summary_json(folder)
    return s.get("status") == "completed" and "finished" in s


def _same_spec(folder: Path, spec) -> bool:
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
    rt = claim.range_test
    cfg = validate(dict(spec.base), source=f"{spec.source}: config")
    datasets, _ = prepare(spec)
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


class ClaimView(SweepView):
    """The sweep's view for a claim: claim.json is written into the folder as soon as it is locked, then the
    caller's view (the CLI's panel in a terminal) goes on as for any sweep."""

    def __init__(self, claim, quick: bool, inner: SweepView | None = None):
        self.claim, self.quick, self.inner = claim, quick, inner or SweepView()

    def start(self, sweep) -> None:
        write_json(sweep.folder / "claim.json", self.claim.as_json(self.quick))
        self.inner.start(sweep)

    def note(self, text: str) -> None:
        self.inner.note(text)

    def update(self, sweep) -> None:
        self.inner.update(sweep)

    def finished(self, sweep, trial: int, seed: int) -> None:
        self.inner.finished(sweep, trial, seed)

    def stop(self, sweep) -> None:
        self.inner.stop(sweep)


def run_claim(claim, spec, out, quick: bool, jobs: int, say=print, view: SweepView | None = None,
              figures: bool = True) -> tuple[Path, str, int]:
    """Run (or reuse, or resume) the claim's sweep; (folder, 'reused' | 'resumed' | 'ran', runs in it).

    A range_test claim first runs its range test and adds the recommended rate to the grid (the
    resolved sweep then names it, so a finished folder is reused only for the same rate).  ``view``: how
    the sweep shows itself (the CLI's panel); the claim's own lines go to ``say``; ``figures=False``: the
    sweep's own figures are not drawn (the gallery draws the claim's)."""
    if claim.range_test is not None and "suggested" not in claim.range_test:
        found = range_test_rate(claim, spec)
        claim, spec = load_claim(claim.path, quick, suggested=found["suggested"])
        claim.range_test.update(rule=found["rule"], steps_done=found["steps_done"], stopped=found["stopped"])
        say(f"{claim.id}: the range test recommends lr {claim.range_test['label']} ({found['rule'].split(':')[0]})")
    from functools import partial

    folder = folder_for(out, claim.id, quick)
    n_runs = spec.n_trials * len(spec.seeds)
    resume, lock = False, None
    if os.path.islink(folder) or (os.path.lexists(folder) and not folder.is_dir()):
        raise RunError(f"{folder}: is {'a symbolic link' if os.path.islink(folder) else 'not a folder'}, where the "
                       f"claim's sweep folder goes; nnlab writes there only into a folder of its own: move it away or "
                       f"choose another --out")
    if folder.is_dir():  # the lock first: another nnlab may be running this very claim
        lock = files.FolderLock(folder).acquire(f"{folder}: another nnlab is running this claim")
        try:
            resume = _decide(claim, spec, folder, quick, say)
        except BaseException:
            lock.release()
            raise
        if resume == "reused":
            lock.release()
            return folder, "reused", n_runs

    jobs = max(1, min(jobs, n_runs))  # no idle workers for a small claim

    def make_pool(datasets):
        remember(datasets.loaded)
        return LocalPool(jobs, run_task, threads=1 if jobs > 1 else None, warm=partial(warm_up, spec.base))

    inner = view if view is not None else _Lines(say, claim.id)
    try:
        run_sweep(spec, make_pool, folder=folder, resume=resume is True, view=ClaimView(claim, quick, inner),
                  lock=lock, figures=figures)
    finally:
        if lock is not None:
            lock.release()
    return folder, "resumed" if resume is True else "ran", n_runs


def _decide(claim, spec, folder: Path, quick: bool, say):
    """With the folder's lock held: 'reused' (finished, every run there: claim.json refreshed), True (resume
    it), or False (the claim changed: what nnlab made there is removed, the sweep starts again in place).
    A folder nnlab cannot prove it made (no sweep.yaml, a file of someone else's) is one RunError line."""
    if not (folder / "sweep.yaml").is_file():
        entries = [p.name for p in folder.iterdir() if p.name != files.FolderLock.NAME]
        if entries:
            raise RunError(f"{folder}: holds files but no sweep.yaml, so nnlab cannot tell that it made them, and "
                           f"leaves them as they are; move the folder away or choose another --out")
        return False  # empty: a fresh start
    if _same_spec(folder, spec):
        if is_finished(folder) and _complete(folder, spec):
            write_json(folder / "claim.json", claim.as_json(quick))
            return "reused"
        return True
    say(f"{claim.id}: the claim's sweep changed since {folder} was run: running it again")
    files.remove_made(folder, made_in_sweep_folder, keep=(files.FolderLock.NAME,))
    return False


def _complete(folder: Path, spec) -> bool:
    """Whether every run of the finished sweep is there and reads as finished (a run folder deleted or damaged
    since: the sweep is resumed, and that run trains again)."""
    sweep = read_sweep(folder)
    runs = [(t.number, r) for t in sweep.trials for r in t.records]
    if len(runs) != spec.n_trials * len(spec.seeds) or sweep.warnings:
        return False
    for _, r in runs:
        run = load_run(folder / "runs" / r.name) if (folder / "runs" / r.name).is_dir() else None
        if r.status != "failed" and (run is None or run.status != r.status or run.warnings):
            return False
    return True


class _Lines(SweepView):
    """Without a view of the caller's: the resume note as a line of the claim's."""

    def __init__(self, say, claim_id: str):
        self.say, self.id = say, claim_id

    def note(self, text: str) -> None:
        self.say(f"{self.id}: {text}")
