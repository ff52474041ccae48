"""Run folders: create them and write their files atomically (``write``), read them back
defensively (``read``), compare them (``compare``) and diagnose them (``diagnosis``).

Nothing here imports the trainer: run folders are the only interface.
"""

from nnlab.runs.read import STATUSES, Run, find_runs, load_run, process_alive, read_diagnostics, read_metrics
from nnlab.runs.write import (TIMESTAMP, MetricsWriter, atomic_savez, atomic_write, command_line,
                              create_run_dir, git_commit, host_info, new_run_dir, process_start, versions,
                              write_json)

__all__ = ["STATUSES", "TIMESTAMP", "MetricsWriter", "Run", "atomic_savez", "atomic_write", "command_line",
           "create_run_dir", "find_runs", "git_commit", "host_info", "load_run", "new_run_dir", "process_alive",
           "process_start", "read_diagnostics", "read_metrics", "versions", "write_json"]
