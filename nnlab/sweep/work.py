"""What a sweep's worker does with a task: one network (nnlab.sweep.task), or a members ensemble, which is a
plan of several (nnlab.sweep.members).  ``run_task`` is the work function the pools of ``nnlab sweep`` and
``nnlab claims run`` are given."""

from __future__ import annotations

from functools import partial

from nnlab.sweep.members import is_members, members_task
from nnlab.sweep.pool import DaskPool, LocalPool
from nnlab.sweep.task import remember, train_task, warm_up


def run_task(task: dict, dataset=None) -> dict:
    """Train the task's config into its run folder (a members ensemble: its members one after another); the
    outcome as a plain dict, never an exception for a failed run."""
    if is_members(task.get("config")):
        return members_task(task, dataset)
    return train_task(task, dataset)


def pool_maker(jobs: int, spec, scheduler: str | None = None):
    """How a sweep's pool is made once its data are loaded (nnlab sweep, nnlab.sweep): a Dask cluster's, or
    ``jobs`` local workers (one BLAS thread each when there are several) that start with the data (forked) or
    load them (spawned)."""
    def make(datasets):
        if scheduler:
            return DaskPool(scheduler, run_task)
        remember(datasets.loaded)
        return LocalPool(jobs, run_task, threads=1 if jobs > 1 else None, warm=partial(warm_up, spec.base))
    return make
