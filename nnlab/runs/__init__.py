"""Run folders: create them and write their files atomically (``write``), read them back
defensively (``read``), compare them (``compare``) and diagnose them (``diagnosis``).

Nothing here imports the trainer at the top: run folders are the only interface (``load_model``
builds a finished run's network when asked).
"""

from nnlab.runs.read import (STATUSES, TIMESTAMP, Run, find_runs, folder_kind, holds_runs, load_model, load_run,
                             process_alive, process_start, read_diagnostics, read_metrics, read_summary_json)
from nnlab.runs.write import (MetricsWriter, atomic_savez, atomic_write, command_line, create_run_dir, git_commit,
                              host_info, jsonable, new_run_dir, new_summary, versions, write_json)

__all__ = ["STATUSES", "TIMESTAMP", "MetricsWriter", "Run", "atomic_savez", "atomic_write", "command_line",
           "create_run_dir", "find_runs", "folder_kind", "git_commit", "holds_runs", "host_info", "jsonable",
           "load_model", "load_run", "new_run_dir", "new_summary", "process_alive", "process_start",
           "read_diagnostics", "read_metrics", "read_summary_json", "versions", "write_json"]

from nnlab.modules import callable_module  # noqa: E402

callable_module(__name__)  # nnlab.runs(folder): the Python API's runs (nnlab.api.runs), a list of nnlab.Run
