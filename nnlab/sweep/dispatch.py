"""One config trained, whatever it is, new or resumed: what ``nnlab train`` and the Python API's
``nnlab.train`` / ``nnlab.resume`` do with each config or run folder.

A config is one network (nnlab.experiment.run_experiment) or a members ensemble, a plan of several
(nnlab.sweep.members); a run folder to resume is one of the same two.  ``prepare_new`` loads and checks the
data before anything is written; ``prepare_resume_job`` checks a run folder (and takes its lock) before it
goes on; ``train_job`` trains either, reporting through the same callbacks.
"""

from __future__ import annotations

from pathlib import Path

from nnlab.config import load_config
from nnlab.experiment import check_against_data, load_data, prepare_resume, resume_experiment, run_experiment
from nnlab.sweep.members import is_members, resume_members, run_members


def prepare_new(cfg, dataset=None):
    """The job of training a validated config: its data loaded (unless given) and checked against it."""
    dataset = dataset if dataset is not None else load_data(cfg)
    check_against_data(cfg, dataset)
    return ("new", cfg, dataset)


def prepare_resume_job(folder):
    """The job of resuming a run folder, checked before anything in it changes: a members ensemble (its members
    say for themselves where they stopped), or one network from its checkpoint (its lock taken, its data
    loaded)."""
    cfg = None
    try:
        cfg = load_config(Path(folder) / "config.yaml") if (Path(folder) / "config.yaml").is_file() else None
    except Exception:  # noqa: BLE001 - prepare_resume says what is wrong with the folder
        cfg = None
    if cfg is not None and is_members(cfg.as_dict()):
        return ("resume-members", folder, (cfg,))
    return ("resume", folder, prepare_resume(folder))


def job_config(job):
    """The config a job trains."""
    kind, what, payload = job
    return payload[0] if kind.startswith("resume") else what


def train_job(job, runs_dir="runs", *, on_start=None, on_epoch=None, note=None) -> tuple[Path, dict]:
    """Train a job of prepare_new or prepare_resume_job; (run folder, summary)."""
    kind, what, payload = job
    if kind == "resume-members":
        return resume_members(what, on_start=on_start, on_epoch=on_epoch, note=note)
    if kind == "resume":
        run_dir, _, summary = resume_experiment(what, on_start=on_start, on_epoch=on_epoch, prepared=payload)
        return run_dir, summary
    if is_members(what.as_dict()):  # a plan of several networks, not one run
        return run_members(what, runs_dir, payload, on_start=on_start, on_epoch=on_epoch, note=note)
    run_dir, _, summary = run_experiment(what, runs_dir, payload, on_start=on_start, on_epoch=on_epoch)
    return run_dir, summary
