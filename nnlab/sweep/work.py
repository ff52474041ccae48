"""What a sweep's worker does with a task: one network (nnlab.sweep.task), or a members ensemble, which is a
plan of several (nnlab.sweep.members).  ``run_task`` is the work function the pools of ``nnlab sweep`` and
``nnlab claims run`` are given."""

from __future__ import annotations

from nnlab.sweep.members import is_members, members_task
from nnlab.sweep.task import train_task


def run_task(task: dict, dataset=None) -> dict:
    """Train the task's config into its run folder (a members ensemble: its members one after another); the
    outcome as a plain dict, never an exception for a failed run."""
    if is_members(task.get("config")):
        return members_task(task, dataset)
    return train_task(task, dataset)
