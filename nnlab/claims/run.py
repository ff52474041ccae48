"""Running a claim: per regime, each variant tuned on the tuning seeds, then judged on the judging seeds.

The claim's folder ``<out>/<id>-full`` (or ``-quick``)::

    claim.json              the resolved claim (what the report needs)
    <regime>/range_test.json  a range-test variant's rate (when there is one)
    <regime>/tune/          a list sweep: each tuned variant at each value of its grid, tuning seeds, no test set
    <regime>/tune-2/ ...    more values, when a variant's best lay at the edge of its grid (at most MAX_WIDEN)
    <regime>/choice.json    per variant the value chosen (mean validation accuracy over the tuning seeds)
    <regime>/judge/         a list sweep: each variant at its chosen value, judging seeds, every run tested
    <regime>/<variant>-s<seed>/  a search variant: one whole sweep per judging seed
    values.csv              per judging run, every metric the checks read (measured once, here)
    summary.json            {"kind": "claim", "status": "completed", ...} once every file is written

Every sweep goes through the one sweep lifecycle (nnlab.sweep.lifecycle.run_sweep): a finished sweep whose
sweep.yaml is the one planned is kept, an unfinished one resumed, a changed one (the claim file changed)
removed and run again.  The claim folder's lock is taken before anything in it changes.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import time
from pathlib import Path

import yaml

from nnlab import files
from nnlab.claims import claim_metrics
from nnlab.claims.claim import NAME, Claim, Regime, Variant, claim_files, combinations, load_claim
from nnlab.config.schema import validate
from nnlab.errors import ConfigError, RunError
from nnlab.modules import callable_module
from nnlab.runs import load_run, read_summary_json, write_json
from nnlab.runs.read import read_diagnostics, read_metrics
from nnlab.sweep.lifecycle import SweepView, run_sweep
from nnlab.sweep.record import TEMPORARY, made_in_sweep_folder, read_sweep
from nnlab.sweep.spec import build_spec, param_from, point_mapping, points_from, round_significant
from nnlab.sweep.task import dataset_for
from nnlab.sweep.work import pool_maker
from nnlab.text import plural, setting
from nnlab.train.range_test import range_test, suggest, sweep_rates
from nnlab.train.threads import cores, limited

CLAIM_FILES = ("claim.json", "values.csv", "summary.json", files.FolderLock.NAME)
REGIME_FILES = ("choice.json", "range_test.json")
SUB_SWEEP = re.compile(r"tune(-\d+)?|judge|[a-z0-9][a-z0-9_]*-s\d+")
TUNE_METRIC = "val_acc"


def folder_for(out, claim_id: str, quick: bool) -> Path:
    return Path(out) / f"{claim_id}-{'quick' if quick else 'full'}"


def is_finished(folder: Path) -> bool:
    s = read_summary_json(folder)
    return s.get("kind") == "claim" and s.get("status") == "completed" and "finished" in s


def made_in_claim_folder(rel: Path, is_dir: bool) -> bool:
    """Whether nnlab writes the entry ``rel`` of a claim folder (see the module docstring)."""
    parts = rel.parts
    if not is_dir and parts[-1] == files.FolderLock.NAME and len(parts) in (1, 3):
        return True  # the claim folder's lock, or a sweep's
    if len(parts) == 1:
        return (is_dir and bool(NAME.fullmatch(parts[0]))) or (not is_dir and (
            parts[0] in CLAIM_FILES or bool(TEMPORARY.fullmatch(parts[0]))))
    if not NAME.fullmatch(parts[0]):
        return False
    if len(parts) == 2:
        return (is_dir and bool(SUB_SWEEP.fullmatch(parts[1]))) or (not is_dir and (
            parts[1] in REGIME_FILES or bool(TEMPORARY.fullmatch(parts[1]))))
    return bool(SUB_SWEEP.fullmatch(parts[1])) and made_in_sweep_folder(Path(*parts[2:]), is_dir)


class Progress:
    """How a claim's run shows itself: ``say`` a line; ``view(title)`` the SweepView of one of its sweeps."""

    def __init__(self, say=print, view=None):
        self.say = say
        self.view = view or (lambda spec, title: SweepView())


def run_claim(claim: Claim, out, jobs: int, progress: Progress | None = None) -> tuple[Path, str, int]:
    """Run (or reuse, or resume) every sweep of the claim; (folder, 'reused' | 'ran', runs trained or kept)."""
    progress = progress or Progress()
    folder = folder_for(out, claim.id, claim.quick)
    if os.path.islink(folder) or (os.path.lexists(folder) and not folder.is_dir()):
        raise RunError(f"{folder}: is {'a symbolic link' if os.path.islink(folder) else 'not a folder'}, where the "
                       f"claim's folder goes; nnlab writes there only into a folder of its own: move it away or "
                       f"choose another --out")
    fresh = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"{folder}: cannot make the claim's folder ({exc.strerror or exc})") from None
    lock = files.FolderLock(folder).acquire(f"{folder}: another nnlab is running this claim")
    try:
        if not fresh:
            _check_ours(folder)
        if is_finished(folder) and _same_json(folder / "claim.json", claim.as_json()):
            runner = Runner(claim, folder, jobs, progress, reuse_only=True)
            if runner.all_kept() and _values_complete(folder, runner):
                return folder, "reused", runner.n_runs
        _write(folder / "summary.json", {"kind": "claim", "id": claim.id, "status": "running"})
        write_json(folder / "claim.json", claim.as_json())
        runner = Runner(claim, folder, jobs, progress)
        runner.run()
        write_values(folder, claim, runner.values_rows())
        write_json(folder / "summary.json", {"kind": "claim", "id": claim.id, "status": "completed",
                                             "mode": "quick" if claim.quick else "full", "runs": runner.n_runs,
                                             "trained": runner.trained, "finished": _now()})
        return folder, "ran", runner.n_runs
    finally:
        lock.release()


def _now() -> str:
    from datetime import datetime

    return datetime.now().isoformat(timespec="seconds")


def _write(path: Path, data: dict) -> None:
    write_json(path, data)


def _same_json(path: Path, data: dict) -> bool:
    """Whether claim.json holds this claim (where its file lies aside: a moved claims folder is the same claim)."""
    try:
        old = json.loads(files.read_text_bounded(path, files.CONFIG_MAX_BYTES, "a claim's claim.json"))
    except (OSError, ValueError):
        return False
    new = json.loads(json.dumps(data))
    return isinstance(old, dict) and {**old, "file": None} == {**new, "file": None}


def _values_complete(folder: Path, runner: Runner) -> bool:
    """Whether values.csv holds a row for every judging run, with every metric column (a file deleted or cut
    since the claim finished: it is measured again)."""
    try:
        rows = read_values(folder)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    want = {(r, v, s, os.path.relpath(d, folder)) for r, judged in runner.judged.items() for v, s, d in judged}
    got = [(row["regime"], row["variant"], row["seed"], row["run"]) for row in rows]
    keys = runner.claim.metric_keys()
    return len(got) == len(want) and set(got) == want and all(k in row for row in rows for k in keys)


def _check_ours(folder: Path) -> None:
    """A folder nnlab cannot prove it made (files but no claim.json, a file of someone else's) is one line."""
    entries = [p.name for p in folder.iterdir() if p.name != files.FolderLock.NAME]
    if entries and not (folder / "claim.json").is_file():
        raise RunError(f"{folder}: holds files but no claim.json, so nnlab cannot tell that it made them, and leaves "
                       f"them as they are; move the folder away or choose another --out")
    for p in folder.iterdir():
        if p.name == files.FolderLock.NAME:
            continue
        if p.is_symlink() or not made_in_claim_folder(Path(p.name), p.is_dir()):
            raise RunError(f"{p}: {'a symbolic link' if p.is_symlink() else 'not a file nnlab writes there'}; the "
                           f"claim's folder holds only what nnlab made: move it out and run again")


class Runner:
    """The plan of one claim, executed regime by regime (see the module docstring)."""

    def __init__(self, claim: Claim, folder: Path, jobs: int, progress: Progress, reuse_only: bool = False):
        self.claim, self.folder, self.jobs, self.progress = claim, folder, jobs, progress
        self.reuse_only = reuse_only  # only check that every sweep is there, finished and the one planned
        self.n_runs = 0
        self.trained = 0
        self.judged: dict = {}  # regime -> [(variant, seed, run folder)]
        self.choices: dict = {}  # regime -> {variant: choice}

    # -- the plan ------------------------------------------------------------------------
    def run(self) -> None:
        for r in self.claim.regimes:
            self.regime(r)

    def all_kept(self) -> bool:
        try:
            self.run()
        except _NotKept:
            return False
        return True

    def regime(self, r: Regime) -> None:
        c = self.claim
        base = c.regime_base(r)
        rdir = self.folder / r.name
        if not self.reuse_only:
            rdir.mkdir(exist_ok=True)
        fixed = {v.name: c.overrides(r, v) for v in c.variants}
        for v in c.variants:
            if v.range_test is not None:
                fixed[v.name]["train.optimizer.lr"] = self.range_test_rate(r, v, base)
        choices = self.tune(r, base) if any(c.grid(r, v) for v in c.variants) else {}
        if not choices and any(v.relative for v in c.variants):
            raise RunError(f"{c.path}: regime {r.name}: a relative variant needs a tuned one (tune:)")
        self.choices[r.name] = choices
        if not self.reuse_only:
            write_json(rdir / "choice.json", {v: ch for v, ch in choices.items()})
        if any(v.search for v in c.variants):
            self.judged[r.name] = self.search(r, base)
            return
        wanted = []
        for v in c.variants:
            ch = choices.get(v.name)
            wanted.append({**fixed[v.name], **(ch["values"] if ch else {})})
        points, index = unique(wanted)  # two variants at the same config are judged on the same runs
        spec = self.spec(base, points, c.seeds, "all", f"regime {r.name}: judging")
        self.sweep(spec, rdir / "judge", f"{c.id} · {r.name} · judging")
        self.judged[r.name] = [(v.name, s, rdir / "judge" / "runs" / f"t{i:03d}-seed{s}")
                               for i, v in zip(index, c.variants) for s in c.seeds]

    def tune(self, r: Regime, base: dict) -> dict:
        """Each tuned variant's best setting on the tuning seeds (mean validation accuracy), widening a one-key
        grid whose best lies at an edge (MAX_WIDEN rounds at most); {variant: {values, scores, edge, note}}."""
        c = self.claim
        grids = {v.name: c.grid(r, v) for v in c.variants if c.grid(r, v)}
        scores: dict = {name: {} for name in grids}  # variant -> {label: (values, mean)}
        todo = {name: combinations(g) for name, g in grids.items()}
        notes: dict = {name: "" for name in grids}
        rnd = 0
        while todo:
            rnd += 1
            wanted, owners = [], []
            for name, combos in todo.items():
                v = c.variant(name)
                for combo in combos:
                    wanted.append({**c.overrides(r, v), **combo})
                    owners.append((name, combo))
            points, index = unique(wanted)  # variants that try the same setting share its runs
            spec = self.spec(base, points, c.tune_seeds, "none", f"regime {r.name}: tuning")
            sub = self.folder / r.name / ("tune" if rnd == 1 else f"tune-{rnd}")
            self.sweep(spec, sub, f"{c.id} · {r.name} · tuning" + (f" (round {rnd})" if rnd > 1 else ""))
            means = self.trial_means(sub)
            for i, (name, combo) in zip(index, owners):
                scores[name][combo_label(combo)] = (combo, means.get(i))
            todo = {}
            if rnd > c.max_widen:
                break
            for name in grids:
                if not c.variant(name).widen:
                    continue
                nxt, why = _widen(scores[name])
                if nxt is None:
                    notes[name] = notes[name] or why
                    continue
                v = c.variant(name)
                try:
                    validate(point_mapping(base, {**c.overrides(r, v), **nxt}))
                except ConfigError:
                    notes[name] = (f"the best value is at the grid's edge, and the next one ({combo_label(nxt)}) is "
                                   "not a valid config")
                    continue
                todo[name] = [nxt]
        out = {}
        for name, s in scores.items():
            best = _best(s)
            if best is None:
                raise RunError(f"{c.path}: regime {r.name}: variant {name}: no tuning run scored (every run failed); "
                               f"see {self.folder / r.name}")
            edge = _at_edge(s)
            out[name] = {"values": s[best][0], "scores": {k: m for k, (_, m) in _ordered(s)}, "edge": edge,
                         "note": (notes[name] or "the best value is at the edge of the values tried") if edge else ""}
        for v in c.variants:  # a variant relative to a tuned one: its values, the first times the factor
            if v.relative and v.relative["to"] in out:
                base_values = dict(out[v.relative["to"]]["values"])
                k = next(iter(base_values))
                x = base_values[k]
                if not _numeric(x):
                    raise RunError(f"{c.path}: variant {v.name}: relative: {v.relative['to']}'s {k} is not a number "
                                   f"({setting(x)}); a factor cannot scale it")
                base_values[k] = round_significant(x * v.relative["factor"], 4)
                out[v.name] = {"values": base_values, "relative": dict(v.relative), "scores": {}, "edge": False,
                               "note": ""}
            elif v.relative:
                raise RunError(f"{c.path}: variant {v.name}: relative: to: {v.relative['to']} is not tuned in regime "
                               f"{r.name}")
        return out

    def range_test_rate(self, r: Regime, v: Variant, base: dict) -> float:
        """The variant's rate from the learning-rate range test (its rule), run on the regime's config with the
        variant's overrides and the first tuning seed; kept in range_test.json and reused while it matches."""
        rt = v.range_test
        raw = point_mapping(base, self.claim.overrides(r, v))
        raw["seed"] = self.claim.tune_seeds[0]
        cfg = validate(raw, source=f"{self.claim.path}: regime {r.name}: variant {v.name}")
        want = {"variant": v.name, "settings": rt, "config": yaml.safe_load(cfg.dump())}
        path = self.folder / r.name / "range_test.json"
        old = _read_json(path)
        found = (old or {}).get(v.name)
        if found and found.get("plan") == want:
            return found["lr"]
        if self.reuse_only:
            raise _NotKept
        with limited(1):
            res = range_test(cfg, dataset_for(cfg), sweep_rates(rt["start"], rt["end"], rt["steps"]))
        if res.status != "completed":
            raise KeyboardInterrupt
        sug, _ = suggest(res.lrs[:res.steps_done], res.smoothed, rt["steps"])
        if rt["rule"] not in sug:
            raise RunError(f"{self.claim.path}: variant {v.name}: range_test: the range test recommends no rate "
                           f"({res.message}); widen start..end or add steps")
        lr = round_significant(sug[rt["rule"]].lr, 3)
        record = dict(old or {})
        record[v.name] = {"plan": want, "lr": lr, "rule": f"{rt['rule']}: {sug[rt['rule']].rule}",
                          "steps_done": res.steps_done, "stopped": res.message}
        write_json(path, record)
        self.progress.say(f"{self.claim.id} · {r.name}: the range test ({rt['rule']}) gives {v.name} lr {setting(lr)}")
        return lr

    def search(self, r: Regime, base: dict) -> list:
        """A search claim: per variant (a sweep method) and judging seed, one whole sweep of the claim's search
        space and budget; the sweep's seed is both the sampler's and the runs' seed."""
        c = self.claim
        out = []
        for v in c.variants:
            for s in c.seeds:
                spec = self.search_spec(base, v, s, r)
                sub = self.folder / r.name / f"{v.name}-s{s}"
                self.sweep(spec, sub, f"{c.id} · {r.name} · {v.name} search, seed {s}")
                out.append((v.name, s, sub))
        return out

    def search_spec(self, base: dict, v: Variant, seed: int, r: Regime):
        c = self.claim
        errors: list = []
        plist = []
        ranges = [p for p in c.search["params"].values() if isinstance(p, dict)]
        choices = math.prod(len(p) for p in c.search["params"].values() if isinstance(p, list))
        # a grid of about the budget: the lists' choices times per_param points on each range
        per_param = max(1, int(math.floor((c.search["trials"] / choices) ** (1.0 / max(1, len(ranges))) + 1e-9)))
        for key, value in c.search["params"].items():
            value = dict(value) if isinstance(value, dict) else value
            if v.search == "grid" and isinstance(value, dict):
                value["num"] = per_param  # a grid of (about) the same budget: per_param ** k points
            p = param_from(str(key), value, f"{c.path}: search: params: {key}", errors)
            if p is not None:
                plist.append(p)
        raw = {"name": c.id, "method": v.search, "metric": c.search["metric"], "seeds": [seed], "seed": seed,
               "test": "best"}
        if v.search != "grid":
            raw["trials"] = c.search["trials"]
        return build_spec(raw, base, plist, f"{c.path}: regime {r.name}: variant {v.name}", errors)

    def spec(self, base: dict, points: list, seeds: list, test: str, where: str):
        """A list sweep of ``points`` over ``seeds`` on the regime's config ``base``."""
        source = f"{self.claim.path}: {where}"
        errors: list = []
        points, plist = points_from(points, source, errors)
        raw = {"name": self.claim.id, "method": "list", "points": points, "seeds": list(seeds), "test": test,
               "metric": TUNE_METRIC}
        return build_spec(raw, base, plist, source, errors)

    # -- one sweep through the one lifecycle ------------------------------------------------
    def sweep(self, spec, sub: Path, title: str) -> None:
        n = spec.n_trials * len(spec.seeds)
        self.n_runs += n
        resume = False
        if os.path.islink(sub) or (os.path.lexists(sub) and not sub.is_dir()):
            raise RunError(f"{sub}: {'a symbolic link' if os.path.islink(sub) else 'not a folder'} where a sweep of "
                           f"the claim goes; move it away and run again")
        if sub.is_dir():
            if _same_spec(sub, spec):
                if read_summary_json(sub).get("finished") and _complete(sub, spec):
                    return
                if self.reuse_only:
                    raise _NotKept
                resume = True
            else:
                if self.reuse_only:
                    raise _NotKept
                self.progress.say(f"{title}: the claim changed since {sub} was run: running it again")
                files.remove_made(sub, made_in_sweep_folder)
        elif self.reuse_only:
            raise _NotKept
        self.trained += n
        run_sweep(spec, pool_maker(max(1, min(self.jobs, n)), spec), folder=sub, resume=resume,
                  view=self.progress.view(spec, title), figures=False)

    def trial_means(self, sub: Path) -> dict:
        """Trial number -> the mean of the tuning metric over the tuning seeds (a diverged run scores 0; None when
        no run of the trial scored)."""
        return {t.number: t.value for t in read_sweep(sub).trials}

    # -- values -----------------------------------------------------------------------------
    def values_rows(self) -> list[dict]:
        rows = []
        keys = self.claim.metric_keys()
        for r in self.claim.regimes:
            for variant, seed, d in self.judged.get(r.name, []):
                data = read_run_data(d)
                row = {"regime": r.name, "variant": variant, "seed": seed,
                       "run": os.path.relpath(d, self.folder), "status": data.status}
                for k in keys:
                    name, opts = claim_metrics.parse_key(k)
                    try:
                        v = claim_metrics.value(name, data, opts)
                    except (OSError, ValueError, RunError) as exc:
                        raise RunError(f"{d}: cannot measure {k} ({exc})") from None
                    row[k] = v
                rows.append(row)
        return rows


def unique(points: list[dict]) -> tuple[list[dict], list[int]]:
    """The distinct points (in first-seen order) and, for each given point, the index of its distinct one."""
    seen: dict = {}
    out, index = [], []
    for p in points:
        key = json.dumps(p, sort_keys=True, default=str)
        if key not in seen:
            seen[key] = len(out)
            out.append(p)
        index.append(seen[key])
    return out, index


class _NotKept(Exception):
    """A sweep of a finished claim is missing, unfinished or not the one planned: the claim runs again."""


def read_run_data(d: Path) -> claim_metrics.RunData:
    """What a judging run (or a search's sweep folder) holds for the claim metrics."""
    summary = read_summary_json(d)
    hist = read_metrics(d / "metrics.csv") if (d / "metrics.csv").is_file() else []
    diag = read_diagnostics(d / "diagnostics.csv") if (d / "diagnostics.csv").is_file() else []
    return claim_metrics.RunData(summary, hist, diag, folder=d)


def _read_json(path: Path):
    try:
        return json.loads(files.read_text_bounded(path, files.CONFIG_MAX_BYTES, f"a claim's {path.name}"))
    except (OSError, ValueError):
        return None


def combo_label(combo: dict) -> str:
    """A tried setting as text: its value for a one-key grid, else key=value pairs."""
    if len(combo) == 1:
        return setting(next(iter(combo.values())))
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={setting(v)}" for k, v in combo.items())


def _scalar(combo: dict):
    """The value of a one-key setting that is a finite number, else None."""
    if len(combo) != 1:
        return None
    x = next(iter(combo.values()))
    return x if _numeric(x) else None


def _ordered(scores: dict) -> list:
    """The tried settings of a grid in increasing order (a one-key grid of numbers), else in the order tried."""
    items = list(scores.items())
    if all(_scalar(c) is not None for _, (c, _) in items):
        items.sort(key=lambda kv: _scalar(kv[1][0]))
    return items


def _numeric(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _best(scores: dict):
    """The label of the setting with the best mean (the first of equals, in order); None if none scored."""
    best, top = None, -math.inf
    for k, (_, m) in _ordered(scores):
        if m is not None and m > top:
            best, top = k, m
    return best


def _at_edge(scores: dict) -> bool:
    """Whether the best of a one-key numeric grid of at least three values is its first or last."""
    items = _ordered(scores)
    best = _best(scores)
    if best is None or len(items) < 3 or any(_scalar(c) is None for _, (c, _) in items):
        return False
    if best == items[0][0]:
        return items[1][1][1] is None or items[0][1][1] > items[1][1][1]
    return best == items[-1][0] and (items[-2][1][1] is None or items[-1][1][1] > items[-2][1][1])


def _widen(scores: dict):
    """(the next setting to try, '') when the best lies at the edge of a one-key grid of at least three positive
    numbers (one more step of the grid's own ratio beyond it), else (None, why not)."""
    items = _ordered(scores)
    best = _best(scores)
    if best is None or len(items) < 3 or any(_scalar(c) is None for _, (c, _) in items):
        return None, ""  # two values are a choice between them, not a range to explore
    keys = [k for k, _ in items]
    i = keys.index(best)
    if 0 < i < len(keys) - 1:
        return None, ""
    neighbour = items[1][1][1] if i == 0 else items[-2][1][1]
    if neighbour is not None and neighbour >= items[i][1][1]:
        return None, ""  # tied with the next value in: no sign that the best lies beyond the edge
    (key,) = items[0][1][0]
    a, b = (_scalar(items[0][1][0]), _scalar(items[1][1][0])) if i == 0 else \
        (_scalar(items[-1][1][0]), _scalar(items[-2][1][0]))
    if a <= 0 or b <= 0:
        return None, f"the best value {setting(a)} is at the grid's edge (not a positive number to step beyond)"
    nxt = round_significant(a * a / b, 3)
    if isinstance(a, int) and isinstance(b, int):
        nxt = int(round(nxt))
    if setting(nxt) in scores:
        return None, ""
    return {key: nxt}, ""


def _same_spec(folder: Path, spec) -> bool:
    try:
        old = files.yaml_load_bounded(files.read_text_bounded(folder / "sweep.yaml", files.CONFIG_MAX_BYTES,
                                                              "a claim's sweep.yaml"))
    except (OSError, ValueError, yaml.YAMLError):
        return False
    return old == yaml.safe_load(spec.dump())


def _complete(folder: Path, spec) -> bool:
    """Whether every run of the finished sweep is there and reads as finished (a run folder deleted or damaged
    since: the sweep is resumed, and that run trains again)."""
    sweep = read_sweep(folder)
    runs = [r for t in sweep.trials for r in t.records]
    if len(runs) != spec.n_trials * len(spec.seeds) or sweep.warnings:
        return False
    for r in runs:
        d = folder / "runs" / r.name
        run = load_run(d) if d.is_dir() else None
        if r.status != "failed" and (run is None or run.status != r.status or run.warnings):
            return False
    return True


# -- values.csv -------------------------------------------------------------------------------

FIXED = ("regime", "variant", "seed", "run", "status")


def write_values(folder: Path, claim: Claim, rows: list[dict]) -> None:
    """values.csv: one row per judging run, a column per metric key (numbers as repr: exact; blank: None)."""
    keys = claim.metric_keys()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*FIXED, *keys])
    for row in rows:
        w.writerow([row[k] for k in FIXED] + ["" if row.get(k) is None else repr(float(row[k])) for k in keys])
    files.atomic_write(folder / "values.csv", buf.getvalue())


def read_values(folder: Path) -> list[dict]:
    """values.csv as dicts: numbers as floats (inf allowed), blanks as None."""
    text = files.read_text_bounded(folder / "values.csv", files.TABLE_MAX_BYTES, "a claim's values.csv")
    out = []
    for row in csv.DictReader(io.StringIO(text, newline="")):
        d = {k: row[k] for k in FIXED}
        d["seed"] = int(d["seed"])
        for k, v in row.items():
            if k not in FIXED:
                d[k] = None if v in ("", None) else float(v)
        out.append(d)
    return out


def describe(claim: Claim) -> str:
    """One line: how many runs the claim plans (before widening), for the CLI."""
    n = 0
    for r in claim.regimes:
        for v in claim.variants:
            g = claim.grid(r, v)
            n += sum(len(x) for x in g.values()) * len(claim.tune_seeds)
            n += len(claim.seeds) * (claim.search["trials"] if v.search else 1)
    return f"{claim.id}: {plural(len(claim.regimes), 'regime')}, {plural(len(claim.variants), 'variant')}, " \
           f"about {plural(n, 'run')}"


def run_claims(ids=(), *, quick: bool = False, out="claims-out", jobs: int | None = None, claims_dir="claims",
               say=None, view=None, on_start=None, on_claim=None) -> list[dict]:
    """Run every claim named (every claim in ``claims_dir`` when none is): what ``nnlab claims run`` does, and the
    Python API's ``nnlab.claims.run(...)`` (this module, called).

    Every claim file is checked before anything trains (one ConfigError with every problem).  ``jobs``: runs at
    once (default and at most the cores); ``say(text)``: the claims' own lines (none by default); ``view(spec,
    title)``: a SweepView for each of a claim's sweeps (the CLI's live panel); ``on_start(i, n, claim)`` and
    ``on_claim(row)``: called as each claim starts and ends.  Returns one row per claim: id, folder, how ('ran'
    or 'reused'), runs, seconds."""
    if isinstance(ids, (str, os.PathLike)):
        ids = [ids]
    loaded, errors = [], []
    for f in claim_files(list(ids or ()), claims_dir):
        try:
            loaded.append(load_claim(f, quick=quick))
        except ConfigError as exc:
            errors.extend(exc.lines)
    if errors:
        raise ConfigError(lines=errors)
    jobs = min(jobs or cores(), cores())  # one run per core: more workers than cores only fight over them
    progress = Progress(say or (lambda text: None), view)
    rows = []
    for i, claim in enumerate(loaded, start=1):
        if on_start:
            on_start(i, len(loaded), claim)
        t0 = time.time()
        folder, how, n = run_claim(claim, out, jobs, progress)
        rows.append({"id": claim.id, "folder": folder, "how": how, "runs": n, "seconds": time.time() - t0})
        if on_claim:
            on_claim(rows[-1])
    return rows


callable_module(__name__, run_claims)  # nnlab.claims.run(ids, quick=..., jobs=...): run_claims
