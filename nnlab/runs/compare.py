"""Compare runs: the settings that differ, next to the results, as plain data.

Reads run folders only (nnlab.runs), never the trainer.  ``compare(runs)`` gives
a Comparison: the differing config keys (dotted names) and one row per run, or
per group of completed runs whose configs differ only in their seed (mean and
standard deviation over the seeds; the name must match too, and a crashed,
diverged or unfinished run is always a row of its own).  The best value and
epoch are the ones the run recorded in summary.json when it monitored the
compared metric, so ``runs``, ``show`` and ``compare`` agree.  The CLI renders it with rich; ``to_csv``, ``to_json`` and
``to_markdown`` render it for scripts and reports.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from dataclasses import dataclass, field

from nnlab.metrics import METRICS  # noqa: F401 (part of this module's API)
from nnlab.runs.read import Run, summary_number
from nnlab.runs.write import jsonable
from nnlab.text import number, setting
from nnlab.text import spread as fmt_spread

SPARKS = "▁▂▃▄▅▆▇█"
IGNORED_KEYS = {"name"}  # the run column shows the name already
GROUP_IGNORED = {"seed"}  # runs merge only when their configs differ in the seed alone
GROUPED_STATUS = "completed"  # and only finished runs: a crash is not averaged into a mean
# numeric columns of a row; the ones a user can --sort by
COLUMNS = ("best", "best_epoch", "final_train_loss", "final_val_loss", "test_acc", "test_loss", "epochs",
           "seconds")


def flatten(d, prefix: str = "") -> dict:
    """{'train': {'optimizer': {'lr': 1}}} -> {'train.optimizer.lr': 1}; lists stay values."""
    out = {}
    if isinstance(d, dict):
        for k, v in d.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict) and v:
                out.update(flatten(v, key))
            else:
                out[key] = v
    return out


def first_difference(a: dict, b: dict) -> str | None:
    """'train.optimizer.lr 0.01 -> 0.5': the first dotted key (in sorted order) whose value differs between two
    config mappings, as 'key a -> b'; None when they are the same."""
    from nnlab.text import setting

    fa, fb = flatten(a or {}), flatten(b or {})
    for key in sorted(set(fa) | set(fb)):
        if _number_key(fa.get(key, "<absent>")) != _number_key(fb.get(key, "<absent>")):
            return f"{key} {setting(fa.get(key)) if key in fa else '(absent)'} -> " \
                   f"{setting(fb.get(key)) if key in fb else '(absent)'}"
    return None


def _value_key(v) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def get_path(config, key: str):
    """The value at a dotted key of a nested config (a mapping for a component), None when absent."""
    node = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _dict_paths(d, prefix: str = "") -> set:
    """The dotted paths whose value is a non-empty mapping (the components and sections of a config)."""
    out = set()
    if isinstance(d, dict):
        for k, v in d.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict) and v:
                out.add(key)
                out |= _dict_paths(v, key)
    return out


IDENTITY = ("name", "method")  # the option that says which one a component is (averaging has a method)


def toggled_components(configs: list[dict]) -> list[str]:
    """Components switched on (a mapping) in some configs and off (false, null, absent) in others."""
    configs = [c or {} for c in configs]
    paths = set().union(*(_dict_paths(c) for c in configs)) if configs else set()
    return sorted(p for p in paths
                  if "." in p and len({isinstance(get_path(c, p), dict) for c in configs}) > 1)


def differing_keys(configs: list[dict]) -> list[str]:
    """Dotted keys whose values are not the same in every config (absent counts as a value).

    A component that some configs use and others do not (``model.batch_norm: false`` next to
    ``{momentum: 0.9}``) is one key, the component's own; its options count only where they differ
    among the configs that use it.  An option that only some configs have because their component
    differs (adam's beta1 next to sgd) is left out as long as it is the same among the configs of
    each component (two adam runs with different beta1 still differ in beta1) and every config that
    has it keeps its component's default: sgd's momentum=0.9 next to adam is a difference, adam's
    default beta1 next to sgd is not.
    """
    configs = [c or {} for c in configs]
    toggled = toggled_components(configs)
    flats = [flatten(c) for c in configs]
    keys = sorted(set().union(*flats)) if flats else []
    out = list(toggled)
    for k in keys:
        if k in IGNORED_KEYS or k in toggled:
            continue
        prefix = k.rsplit(".", 1)[0] if "." in k else ""
        # the configs that use the component this option belongs to
        users = [f for f, c in zip(flats, configs) if not prefix or isinstance(get_path(c, prefix), dict)]
        if len({_value_key(f.get(k, "<absent>")) for f in users}) < 2:
            continue
        ident = next((f"{prefix}.{i}" for i in IDENTITY
                      if prefix and all(f"{prefix}.{i}" in f for f in users)), None)
        if ident and k != ident and any(k not in f for f in users):
            per_component: dict[str, set] = {}
            for f in users:
                per_component.setdefault(_value_key(f[ident]), set()).add(_value_key(f.get(k, "<absent>")))
            if len(per_component) > 1 and all(len(v) == 1 for v in per_component.values()) \
                    and all(_is_default(prefix, f[ident], k[len(prefix) + 1:], f) for f in users if k in f):
                continue
        out.append(k)
    return sorted(out)


_DEFAULTS: dict = {}


def _defaults_of(prefix: str, ident) -> dict | None:
    """The default options of the component named ``ident`` at ``prefix`` (flat), or None when they are
    unknown (not a registered component: an old or damaged run folder)."""
    key = (prefix, _value_key(ident))
    if key not in _DEFAULTS:
        # here, not at the top: they load every component (numpy), which compare needs for nothing else
        from nnlab.config.kinds import registry_for_key
        from nnlab.options import plain

        registry = registry_for_key(prefix)
        defaults = None
        if registry is not None and isinstance(ident, str) and ident in registry:
            defaults = flatten(plain(registry.get(ident).defaults()))
        _DEFAULTS[key] = defaults
    return _DEFAULTS[key]


def _number_key(v) -> str:
    """_value_key, with 30 and 30.0 the same value (a config file may write either)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return _value_key(float(v))
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_number_key(x) for x in v) + "]"
    return _value_key(v)


def _is_default(prefix: str, ident, option: str, flat: dict) -> bool:
    """Whether a run's value of a component's option is that component's default.  A required option
    has none (it is always the user's choice); a component this version does not know (an older or
    damaged run folder) counts as default, so that its options do not flood every row."""
    defaults = _defaults_of(prefix, ident)
    if defaults is None:
        return True
    return option in defaults and _number_key(defaults[option]) == _number_key(flat[f"{prefix}.{option}"])


# the components whose settings usually explain a difference come first in a row's settings
_GROUP_ORDER = ("train.optimizer", "train.schedule", "model.activation", "model.init", "model", "model.dropout",
                "model.batch_norm", "train.regularization", "train.grad_clip", "train.averaging",
                "train.early_stopping", "train.ensemble", "train", "data", "data.preprocess", "data.augment", "")


def _group_rank(component: str) -> tuple:
    if component in _GROUP_ORDER:
        return (_GROUP_ORDER.index(component), component)
    for i, prefix in enumerate(_GROUP_ORDER):
        if prefix and component.startswith(prefix + "."):
            return (i, component)
    return (len(_GROUP_ORDER), component)


def setting_groups(keys: list[str], config: dict | None, toggled=()) -> list[tuple[str, str]]:
    """A run's differing settings grouped by the component they belong to, in a readable order:
    [('optimizer', 'adam lr=0.001'), ('batch_norm', 'momentum=0.9 eps=1e-05'), ('', 'seed=1')].

    A component is named by its name (or method) and followed by its differing options, so that the
    owner of an option is never in doubt (batch norm's momentum is not the optimizer's).  A component
    switched on here and off elsewhere shows all its options; one this run does not use is left out.
    """
    config = config or {}
    owners: dict[str, list[str]] = {}
    for k in keys:
        owner = k if k in toggled else (k.rsplit(".", 1)[0] if "." in k else "")
        owners.setdefault(owner, []).append(k)
    out = []
    for owner in sorted(owners, key=_group_rank):
        node = get_path(config, owner) if owner else config
        if not isinstance(node, dict):
            continue  # a component this run does not use: nothing to say about its options
        parts = []
        ident = next((i for i in IDENTITY if i in node and owner), None)
        if ident:
            parts.append(setting(node[ident]))
        if owner in toggled:
            parts += [f"{o}={setting(v)}" for o, v in flatten(node).items() if o != ident and v is not None]
            parts = parts or ["on"]
        for k in owners[owner] if owner not in toggled else ():
            opt = k[len(owner) + 1:] if owner else k
            if opt == ident or opt not in flatten(node):
                continue
            parts.append(f"{opt}={setting(flatten(node)[opt])}")
        label = owner.rsplit(".", 1)[-1]
        if parts:
            out.append((label, " ".join(parts)))
    return out


def settings_line(groups: list[tuple[str, str]]) -> str:
    """'optimizer: adam lr=0.001; batch_norm: momentum=0.9; seed=1'."""
    return "; ".join(f"{label}: {text}" if label else text for label, text in groups)


def damage(run: Run) -> str | None:
    """Why a run folder cannot be compared with the others (a damaged or missing file), or None."""
    if run.warnings:
        return "; ".join(run.warnings)
    if not run.config:
        return "no config.yaml: its settings are unknown"
    return None


def default_metric(runs: list[Run]) -> str:
    has_val = any(r.get("val_loss") is not None for run in runs for r in run.metrics)
    classification = any(run.task == "classification" for run in runs)
    if classification:
        return "val_acc" if has_val else "train_acc"
    return "val_loss" if has_val else "train_loss"


def sparkline(values: list, width: int = 16) -> str:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals or width < 1:
        return ""
    if width == 1:
        vals = vals[-1:]
    elif len(vals) > width:  # downsample by taking evenly spaced points, keeping the last
        idx = [round(i * (len(vals) - 1) / (width - 1)) for i in range(width)]
        vals = [vals[i] for i in idx]
    lo, hi = min(vals), max(vals)
    if hi == lo:
        return SPARKS[3] * len(vals)
    return "".join(SPARKS[min(7, int((v - lo) / (hi - lo) * 8))] for v in vals)


@dataclass
class Row:
    """One run, or one group of runs that differ only in the seed."""

    name: str
    status: str
    settings: dict  # differing key -> value
    values: dict  # column -> number or None
    spread: dict = field(default_factory=dict)  # column -> std over seeds (groups only)
    runs: list = field(default_factory=list)  # run folder paths
    seeds: list = field(default_factory=list)
    curve: list = field(default_factory=list)  # the metric per epoch (first run of a group)
    groups: list = field(default_factory=list)  # (component, its differing settings): setting_groups

    @property
    def spark(self) -> str:
        return sparkline(self.curve)


@dataclass
class Comparison:
    metric: str
    keys: list
    rows: list
    warnings: list = field(default_factory=list)
    damaged: list = field(default_factory=list)  # (run folder, why): runs left out of the settings diff
    toggled: list = field(default_factory=list)  # keys that are components some runs use and others not


def run_values(run: Run, metric: str) -> dict:
    """The numbers of one run: best metric and its epoch, final losses, test, epochs, time.

    The best is the one summary.json records when the run monitored ``metric`` (early stopping's
    min_delta, a restored epoch: what the run itself called best); else it is found in metrics.csv.
    """
    best = recorded_best(run, metric)
    if best is None:
        maximize = metric.endswith("acc")
        scored = [r for r in run.metrics if _finite(r.get(metric))]
        best = (max if maximize else min)(scored, key=lambda r: r[metric]) if scored else None
    last = run.metrics[-1] if run.metrics else {}
    test = run.summary.get("test")
    test = test if isinstance(test, dict) else {}
    seconds = train_seconds(run)
    return {
        "best": best[metric] if best else None,
        "best_epoch": best.get("epoch") if best else None,
        "final_train_loss": last.get("train_loss"),
        "final_val_loss": last.get("val_loss"),
        "test_acc": _number(test.get("acc")),
        "test_loss": _number(test.get("loss")),
        "epochs": len(run.metrics),
        "seconds": seconds,
    }


def train_seconds(run: Run) -> float | None:
    """Seconds spent training: summary.json's train_seconds, else the epochs' times so far (a running or
    crashed run), else the wall time; the same number in compare, runs and show."""
    seconds = _number(run.summary.get("train_seconds"))
    return _number(run.seconds) if seconds is None else seconds


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def recorded_best(run: Run, metric: str) -> dict | None:
    """summary.json's best (metric, epoch, the metric's value) when it is for ``metric``; else None."""
    best = run.summary.get("best")
    if not isinstance(best, dict) or best.get("metric") != metric or not _finite(_number(best.get(metric))):
        return None
    epoch = best.get("epoch")
    return {metric: _number(best[metric]),
            "epoch": epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None}


_number = summary_number  # a number from summary.json, None for anything else


def compare(runs: list[Run], metric: str | None = None, group: bool = True, all_keys: bool = False,
            sort: str | None = None, top: int | None = None) -> Comparison:
    """Build the comparison of ``runs`` (in the order given unless ``sort`` names a column)."""
    metric = metric or default_metric(runs)
    damaged = [(str(r.path), damage(r)) for r in runs if damage(r)]
    # a damaged folder would make every key it lacks 'differ': the diff is of the sound runs only
    sound = [r for r in runs if not damage(r)] or runs
    configs = [r.config or {} for r in sound]
    toggled = toggled_components(configs)
    if all_keys:
        keys = sorted({k for c in configs for k in flatten(c)} - IGNORED_KEYS)
    else:
        keys = differing_keys(configs)
    rows: list[Row] = []
    if group:
        buckets: dict[str, list[Run]] = {}
        for run in runs:
            if run.config and run.status == GROUPED_STATUS:
                key = json.dumps({k: v for k, v in flatten(run.config).items() if k not in GROUP_IGNORED},
                                 sort_keys=True, default=str)
            else:  # no config to compare, or not finished: a row of its own
                key = f"<alone>{run.path}"
            buckets.setdefault(key, []).append(run)
        groups = list(buckets.values())
        if any(len(g) > 1 for g in groups):
            keys = [k for k in keys if k != "seed"] if not all_keys else keys
    else:
        groups = [[r] for r in runs]
    for members in groups:
        rows.append(_row(members, keys, metric, [] if all_keys else toggled))
    if sort:
        if sort not in COLUMNS and sort != "name":
            raise ValueError(f"unknown column {sort!r}; choose from name, {', '.join(COLUMNS)}")
        # higher is better for accuracies (test_acc always is one; best is one for an *_acc metric)
        reverse = (sort == "best" and metric.endswith("acc")) or sort in ("test_acc", "epochs")
        rows.sort(key=lambda r: (r.name if sort == "name" else
                                 (r.values.get(sort) is None,
                                  (-1 if reverse else 1) * (r.values.get(sort) or 0))))
    if top:
        rows = rows[:top]
    return Comparison(metric=metric, keys=keys, rows=rows, damaged=damaged, toggled=[] if all_keys else toggled)


def _row(members: list[Run], keys: list, metric: str, toggled=()) -> Row:
    first = members[0]
    settings = {k: get_path(first.config, k) for k in keys}
    per_run = [run_values(r, metric) for r in members]
    values, spread = {}, {}
    for col in COLUMNS:
        nums = [v[col] for v in per_run if v[col] is not None and math.isfinite(v[col])]
        if len(members) == 1:
            values[col] = per_run[0][col]
        else:
            values[col] = statistics.fmean(nums) if nums else None
            spread[col] = statistics.stdev(nums) if len(nums) > 1 else 0.0 if nums else None
    statuses = sorted({r.status for r in members})
    seeds = [(r.config or {}).get("seed") for r in members]
    # the same config run again with the same seed is a repeat, not another seed
    what = "seeds" if len({_value_key(s) for s in seeds}) == len(members) else "runs"
    return Row(
        name=first.name + (f" ({len(members)} {what})" if len(members) > 1 else ""),
        status=statuses[0] if len(statuses) == 1 else "/".join(statuses),
        settings=settings, values=values, spread=spread,
        runs=[str(r.path) for r in members],
        seeds=seeds,
        curve=[r.get(metric) for r in first.metrics],
        groups=setting_groups(keys, first.config, toggled),
    )


# ------------------------------------------------------------------ renderings


def _fmt(v) -> str:
    """A cell of a measured number (nnlab.text.number); empty for none."""
    return "" if v is None else number(v)


def _setting_cell(v) -> str:
    """A cell of a setting (nnlab.text.setting); empty where the run has none."""
    return "" if v is None else setting(v)


def header(comp: Comparison) -> list[str]:
    return ["run", "status", *comp.keys, f"best_{comp.metric}", "best_epoch", "final_train_loss",
            "final_val_loss", "test_acc", "test_loss", "epochs", "seconds"]


def _cells(comp: Comparison, row: Row, pm: bool) -> list[str]:
    cells = [row.name, row.status, *(_setting_cell(row.settings.get(k)) for k in comp.keys)]
    for col in COLUMNS:
        v = row.values.get(col)
        text = _fmt(v)
        if pm and row.spread.get(col) is not None and v is not None:
            text += fmt_spread(row.spread[col])
        cells.append(text)
    return cells


def _exact(v) -> str:
    """A CSV cell for scripts: floats at full precision (the shortest repr that reads back equal)."""
    return repr(v) if isinstance(v, float) else ("" if v is None else str(v))


def to_csv(comp: Comparison) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    cols = header(comp)
    w.writerow(cols + [f"{c}_std" for c in COLUMNS] + ["runs"])
    for row in comp.rows:
        w.writerow([row.name, row.status, *(_setting_cell(row.settings.get(k)) for k in comp.keys)]
                   + [_exact(row.values.get(c)) for c in COLUMNS]
                   + [_exact(row.spread.get(c)) for c in COLUMNS]
                   + [";".join(row.runs)])
    return buf.getvalue()


def to_rows(comp: Comparison) -> list[dict]:
    """The rows of the comparison as plain dicts (compare --format json, and nnlab.compare in the Python API):
    run, status, runs, seeds, the differing settings, the metric, its best and every other column, and the
    standard deviations over the seeds of a group ('std')."""
    out = []
    for row in comp.rows:
        obj = {"run": row.name, "status": row.status, "runs": row.runs, "seeds": row.seeds,
               "settings": row.settings, "metric": comp.metric,
               **{("best_" + comp.metric if c == "best" else c): row.values.get(c) for c in COLUMNS}}
        if row.spread:
            obj["std"] = {("best_" + comp.metric if c == "best" else c): row.spread.get(c) for c in COLUMNS}
        out.append(obj)
    return out


def to_json(comp: Comparison) -> str:
    # NaN is not JSON: non-finite numbers become null / "inf" / "-inf", as in summary.json
    return json.dumps(jsonable(to_rows(comp)), indent=2, default=str, allow_nan=False) + "\n"


def to_markdown(comp: Comparison) -> str:
    cols = header(comp)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in comp.rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(comp, row, pm=True)) + " |")
    return "\n".join(lines) + "\n"


def short_key(key: str) -> str:
    """'train.optimizer.name' -> 'optimizer', 'train.optimizer.lr' -> 'lr'."""
    parts = key.split(".")
    return parts[-2] if parts[-1] == "name" and len(parts) > 1 else parts[-1]


_LABEL_ORDER = ("train.optimizer", "train.schedule", "model", "train", "seed", "data")


def _label_rank(key: str) -> tuple:
    """The settings that usually explain a difference first: optimizer, schedule, model, the rest, data."""
    for i, prefix in enumerate(_LABEL_ORDER):
        if key == prefix or key.startswith(prefix + "."):
            return (i, key)
    return (len(_LABEL_ORDER), key)


def label(row: Row, most: int = 4) -> str:
    """A legend label: the run name and (up to ``most`` of) its differing settings."""
    keys = sorted((k for k, v in row.settings.items() if v is not None), key=_label_rank)
    parts = [f"{short_key(k)}={setting(row.settings[k])}" for k in keys][:most]
    return row.name + (f" ({', '.join(parts)})" if parts else "")
