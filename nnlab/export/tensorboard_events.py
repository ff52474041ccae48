"""Runs and sweeps as TensorBoard event files (``nnlab export tensorboard RUN... -o DIR``).

Each run becomes ``DIR/<run folder>/`` (a sweep's: ``DIR/<sweep folder>/<t000-seed0>/``) holding one event
file, ``events.out.tfevents.<start>.nnlab``, written whole and renamed into place (nnlab.files): its scalars
per epoch (loss/train, loss/validation, accuracy/train, accuracy/validation, learning_rate; the step is the
epoch, the wall time the epoch's end), the summary's numbers at the last epoch (test_acc, test_loss, best_*),
and the hparams plugin's session: the flattened config as hparams (a sweep's run: the searched params, its
trial as the session group, so the hparams table shows one row per trial over its seeds), its start, and
its status at the end.  TensorBoard's hparams table is built from the sessions.  The file's name depends only
on the run, so exporting a run again replaces its file: no point is ever shown twice.

The protocol buffers and the record format are TensorBoard's own (tensorboard.compat.proto,
tensorboard.summary.writer.record_writer); tensorboard is an optional dependency (the tensorboard extra).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from nnlab.errors import ConfigError
from nnlab.export.items import RunItem, SweepItem
from nnlab.files import atomic_write, output_target

SUFFIX = ".nnlab"  # the event files nnlab writes end so: the only ones it ever replaces
# a run's status -> the hparams plugin's (it has no 'stopped': an interrupted or pruned run is unknown there)
STATUS = {"completed": "STATUS_SUCCESS", "diverged": "STATUS_FAILURE", "failed": "STATUS_FAILURE",
          "crashed": "STATUS_FAILURE", "pruned": "STATUS_UNKNOWN", "interrupted": "STATUS_UNKNOWN"}


def tensorboard_modules():
    """TensorBoard's protos and writers, or one ConfigError line saying how to install them."""
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2, summary_v2
        from tensorboard.summary.writer.record_writer import RecordWriter
    except ImportError:
        raise ConfigError("nnlab export tensorboard needs the tensorboard package: pip install 'nnlab[tensorboard]' "
                          "(or pip install tensorboard)") from None
    return event_pb2, summary_pb2, api_pb2, metadata, plugin_data_pb2, summary_v2, RecordWriter


def export(items, out) -> list[tuple[str, Path]]:
    """Write each item's event files under ``out``; [(what, where)] per run written."""
    event_pb2, summary_pb2, api_pb2, metadata, plugin_data_pb2, summary_v2, RecordWriter = tensorboard_modules()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"-o {out}: is a file, not a folder; name the folder TensorBoard reads (--logdir)")

    def write_run(item: RunItem, folder: Path, hparams: dict, group: str) -> Path:
        buf = io.BytesIO()
        writer = RecordWriter(buf)
        start = item.started

        def event(**kw):
            writer.write(event_pb2.Event(**kw).SerializeToString())

        event(wall_time=start, file_version="brain.Event:2")
        session = summary_v2.hparams_pb(hparams, trial_id=group, start_time_secs=start)
        event(wall_time=start, step=0, summary=session)
        last, when = 0, start
        for epoch, wall, values in item.scalars():
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=v)
                                                 for tag, v in values.items()])
            event(wall_time=wall, step=epoch, summary=summary)
            last, when = epoch, wall
        extra = item.summary_metrics()
        if extra:
            event(wall_time=when, step=last, summary=summary_pb2.Summary(
                value=[summary_pb2.Summary.Value(tag=f"summary/{k}", simple_value=v) for k, v in extra.items()]))
        status = STATUS.get(item.run.status)
        if status:  # a run still going has no end yet
            end = plugin_data_pb2.SessionEndInfo(status=getattr(api_pb2, status),
                                                 end_time_secs=item.finished or when)
            content = plugin_data_pb2.HParamsPluginData(session_end_info=end, version=metadata.PLUGIN_DATA_VERSION)
            value = summary_pb2.Summary.Value(tag=metadata.SESSION_END_INFO_TAG,
                                              metadata=metadata.create_summary_metadata(content),
                                              tensor=metadata.NULL_TENSOR)
            event(wall_time=when, step=last, summary=summary_pb2.Summary(value=[value]))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"events.out.tfevents.{int(start)}{SUFFIX}"
        for old in folder.glob(f"events.out.tfevents.*{SUFFIX}"):  # an earlier export of this run, by another name
            if old != path and old.is_file() and not old.is_symlink():
                os.unlink(old)
        output_target(path)
        atomic_write(path, buf.getvalue(), prefix=".nnlab-export.")  # no 'tfevents' in the temporary name
        return path

    done = []
    for item in items:
        if isinstance(item, SweepItem):
            base = out / item.path.name
            for r in item.runs:
                hp = {**r.searched}
                where = write_run(r, base / r.name, hp, f"{item.name} t{r.trial:03d}")
                done.append((f"{item.path.name}/{r.name}", where))
        else:
            where = write_run(item, out / item.name, item.params, item.name)
            done.append((item.name, where))
    return done
