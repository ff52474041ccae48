"""Sweep files: what to search over, read and checked before any trial runs.

A sweep file is a YAML mapping::

    name: lr_activation
    config: ../configs/base.yaml      # the base config (relative to this file), or inline keys
    method: tpe                       # grid | random | tpe | list
    metric: val_acc                   # maximized for *acc, minimized for *loss
    trials: 24                        # random and tpe (grid runs every point)
    seeds: [0, 1, 2]                  # each point is trained once per seed
    params:
      train.optimizer.lr: {low: 1.0e-4, high: 1.0e-1, log: true}
      model.activation: [relu, elu, tanh]
    prune: median                     # optional
    test: best                        # best (default): only the chosen point sees the test set;
                                      # all: every run is tested (to compare variants, not to choose);
                                      # none: no run is (the test set stays unseen)

``method: list`` runs hand-picked points instead of params: ``points:`` is a list of mappings of
dotted keys to values (``[{model.activation: tanh, model.init: xavier_uniform}, {model.activation:
relu}]``; a key a point leaves out keeps the base config's value): what the claims gallery runs
when each variant has its own tuned learning rate.

``load_sweep`` reads it (or a plain config plus ``-p`` params: the short form) into a
:class:`SweepSpec`; every param path, every choice and both ends of every range are
validated against the config schema first, then every point a grid or a random sweep will
run, so a typo is one line before anything trains.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nnlab.config.kinds import registry_for_key
from nnlab.config.loader import deep_merge, load_with_extends, parse_yaml, read_yaml_file
from nnlab.config.schema import MAX_NAME_LENGTH, SCHEMAS, apply_override, plain, run_name_problem, set_key, validate
from nnlab.errors import ConfigError
from nnlab.metrics import METRICS
from nnlab.options import did_you_mean, is_number, unknown_key_message
from nnlab.text import printable, setting, shown

METHODS = ("grid", "random", "tpe", "list")
SWEEP_KEYS = ("name", "config", "method", "metric", "trials", "seeds", "seed", "params", "points", "prune", "test")
TEST_MODES = ("best", "all", "none")  # test: best (default) evaluates only the chosen point on the test set; all: every run
PRUNE_RULES = ("median",)
PRUNE_DEFAULTS = {"rule": "median", "startup": 5, "warmup": None}  # warmup None: a tenth of the epochs
DEFAULT_TRIALS = 20
MAX_TRIALS = 100_000  # trials x seeds: a sweep bigger than this is a typo, not a plan
MAX_SEEDS = 1000
SIGNIFICANT = 4  # digits a random or TPE draw from a float range is rounded to (readable configs)
_CONFIG_KEYS = ("name", "seed", "dtype", "data", "model", "train", "extends")


@dataclass
class Param:
    """One searched config key: a list of choices, or a range (low, high, log, int; num points for grid)."""

    path: str
    choices: list | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    int: bool = False
    num: int | None = None
    where: str = field(default="params", compare=False)  # for messages: 'x.yaml: params' or '-p'

    @property
    def is_range(self) -> bool:
        return self.choices is None

    @property
    def short(self) -> str:
        """The last part of the path (lr, activation), or the last two for .name (optimizer.name)."""
        parts = self.path.split(".")
        return ".".join(parts[-2:]) if parts[-1] == "name" and len(parts) > 1 else parts[-1]

    def spec(self) -> dict:
        """The normalized form written to sweep.yaml (and read back by from_spec)."""
        if not self.is_range:
            return {"choices": copy.deepcopy(self.choices)}
        out = {"low": self.low, "high": self.high, "log": self.log, "int": self.int}
        if self.num is not None:
            out["num"] = self.num
        return out

    def grid_values(self) -> list:
        if not self.is_range:
            return list(self.choices)
        if self.num is None:
            raise ValueError("a range needs num for a grid")
        if self.num == 1:
            pts = [self.low]
        elif self.log:
            pts = [math.exp(math.log(self.low) + i * (math.log(self.high) - math.log(self.low)) / (self.num - 1))
                   for i in range(self.num)]
        else:
            pts = [self.low + i * (self.high - self.low) / (self.num - 1) for i in range(self.num)]
        if self.int:
            return list(dict.fromkeys(round(p) for p in pts))  # an int range with num > its width repeats points
        return distinct_round(pts, self.low, self.high)

    def sample(self, rng) -> Any:
        """One random value (numpy Generator): uniform choice, uniform or log-uniform in the range."""
        if not self.is_range:
            return copy.deepcopy(self.choices[int(rng.integers(len(self.choices)))])
        if self.int:
            if self.log:  # log-uniform over the integers: each octave equally likely
                v = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
                return int(min(self.high, max(self.low, math.floor(v))))
            return int(rng.integers(int(self.low), int(self.high) + 1))
        if self.log:
            v = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            v = rng.uniform(self.low, self.high)
        return min(self.high, max(self.low, round_significant(v)))

    def label(self, value) -> str:
        return setting(value)


def distinct_round(points: list[float], low: float, high: float, digits: int = SIGNIFICANT) -> list[float]:
    """Grid points rounded to ``digits`` significant digits for readable configs, or to as many more as it
    takes for them to stay distinct and inside [low, high] (0.010001..0.010004 in 4 points keeps 6 digits)."""
    for d in range(digits, 18):
        out = [round_significant(p, d) for p in points]
        if len(set(out)) == len(set(points)) and all(low <= p <= high for p in out):
            return out
    return list(points)


def round_significant(v: float, digits: int = SIGNIFICANT) -> float:
    if v == 0 or not math.isfinite(v):
        return float(v)
    return float(f"{v:.{digits}g}")


@dataclass
class SweepSpec:
    """A validated sweep: the base config (resolved mapping), the params, and how to search."""

    name: str
    method: str
    metric: str
    trials: int
    seeds: list[int]
    seed: int
    params: list[Param]
    prune: dict | None
    base: dict  # the validated base config (Config.as_dict())
    source: str = "sweep"
    notes: list[str] = field(default_factory=list)
    test: str = "best"  # "all": every run is evaluated on the test set (claims compare variants, they do not choose)
    # "members": the seeds of one members ensemble (nnlab.sweep.members): one point, no params, member names
    role: str = "sweep"
    tags_extra: dict = field(default_factory=dict)  # more summary.json tags for every run (an outer sweep's)
    points: list | None = None  # method list: the points, each a mapping of the same dotted keys

    @property
    def direction(self) -> str:
        return "maximize" if self.metric.endswith("acc") else "minimize"

    @property
    def n_trials(self) -> int:
        """How many points: the grid's size, or trials for random and tpe."""
        if self.method == "grid":
            return math.prod(len(p.grid_values()) for p in self.params)
        if self.method == "list":
            return len(self.points or ())
        return self.trials

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b

    @property
    def worst(self) -> float:
        """What a diverged run scores: 0 for an accuracy, +inf for a loss."""
        return 0.0 if self.direction == "maximize" else math.inf

    def as_dict(self) -> dict:
        """What sweep.yaml holds: everything needed to resume or rerun the sweep."""
        return {"name": self.name, "method": self.method, "metric": self.metric, "direction": self.direction,
                "trials": self.n_trials, "seeds": list(self.seeds), "seed": self.seed,
                "prune": copy.deepcopy(self.prune),
                **({"points": copy.deepcopy(self.points)} if self.method == "list" else
                   {"params": {p.path: p.spec() for p in self.params}}),
                "config": copy.deepcopy(self.base), **({"test": self.test} if self.test != "best" else {}),
                **({"role": self.role, "tags": copy.deepcopy(self.tags_extra)} if self.role != "sweep" else {})}

    def run_label(self, trial: int, seed: int) -> str:
        """The name of one run's config: <sweep>-t007, or a member's <ensemble>-m2 (its seed's index)."""
        if self.role == "members":
            return f"{self.name}-m{self.seeds.index(seed)}"
        return f"{self.name}-t{trial:03d}"

    def tags(self, trial, seed: int) -> dict:
        """What summary.json says of a run's place: its sweep, trial, seed and params (a member: its index)."""
        if self.role == "members":  # tags_extra names the ensemble's folder: {ensemble_member: {of: ...}}
            tags = copy.deepcopy(self.tags_extra)
            tags["ensemble_member"] = {**tags.get("ensemble_member", {}), "index": self.seeds.index(seed)}
            return tags
        return {**copy.deepcopy(self.tags_extra), "sweep": {"name": self.name, "trial": trial.number, "seed": seed,
                                                             "metric": self.metric, "params": dict(trial.params)}}

    def dump(self) -> str:
        head = (f"# nnlab sweep '{self.name}', resolved: the params, the search and the whole base config.\n"
                f"# Resume with: nnlab sweep --resume <this folder>\n")
        return head + yaml.safe_dump(self.as_dict(), sort_keys=False, default_flow_style=None, width=100)

    # -- points -> configs -----------------------------------------------------------
    def raw_point(self, values: dict) -> dict:
        """The base config mapping with the params set (a component switch drops options it lacks)."""
        return point_mapping(self.base, values)

    def config(self, values: dict, seed: int, name: str):
        """The validated Config of one point and seed (ConfigError if the combination is invalid)."""
        raw = self.raw_point(values)
        raw["seed"], raw["name"] = seed, name
        return validate(raw, source=f"{self.source}: params ({point_text(values)})")


# ------------------------------------------------------------------ the points of a plan


def grid_points(params: list[Param]):
    """Every combination, the first param varying slowest (itertools.product order)."""
    names = [p.path for p in params]
    for combo in itertools.product(*(p.grid_values() for p in params)):
        yield dict(zip(names, combo))


def random_point(params: list[Param], seed: int, number: int) -> dict:
    """Point ``number`` of a random sweep with sampler seed ``seed`` (independent of the others)."""
    import numpy as np

    rng = np.random.default_rng([seed, number])
    return {p.path: p.sample(rng) for p in params}


def planned_points(spec: SweepSpec):
    """The points a grid, list or random sweep will run, in order (nothing for tpe: they depend on results)."""
    if spec.method == "grid":
        yield from grid_points(spec.params)
    elif spec.method == "list":
        yield from (dict(p) for p in spec.points or ())
    elif spec.method == "random":
        for i in range(spec.trials):
            yield random_point(spec.params, spec.seed, i)


def point_text(values: dict) -> str:
    return ", ".join(f"{k}={setting(v)}" for k, v in values.items())


def point_mapping(base: dict, values: dict) -> dict:
    """``base`` with each dotted key of ``values`` set.  A point that switches a component by its ``name``
    keeps of the old component's options only those the new one accepts and that were chosen: a value equal
    to the old component's default was filled in by validation, not set (the base is a resolved config), so
    the new component's own default takes its place - switching sgd to momentum must not carry sgd's
    momentum 0 along.  The rate (lr) is always kept, and so are the options the point sets itself."""
    raw = copy.deepcopy(base)
    before = {}
    for path in values:
        if path.endswith(".name"):
            owner = path[: -len(".name")]
            node = _get(raw, owner)
            before[owner] = copy.deepcopy(node) if isinstance(node, dict) else None
    for path, value in values.items():
        set_key(raw, path, copy.deepcopy(value), where=f"params: {path}")
    for owner, old in before.items():
        reg = registry_for_key(owner)
        node = _get(raw, owner)
        if reg is None or not isinstance(node, dict) or node.get("name") not in reg:
            continue
        accepted = set(reg.get(node["name"]).options)
        if owner == "data":  # the data section's own keys (val_fraction, preprocess, augment) stay
            accepted |= set(SCHEMAS["data"])
        defaults = {}
        if old is not None and old.get("name") in reg and old.get("name") != node["name"]:
            defaults = reg.get(old["name"]).defaults()
        explicit = {p.rsplit(".", 1)[1] for p in values if p.rsplit(".", 1)[0] == owner}
        for k in list(node):
            if k == "name" or k in explicit:
                continue
            filled = k in defaults and k != "lr" and _same_value(node[k], defaults[k])
            if k not in accepted or filled:
                del node[k]
    return raw


def _get(d: dict, path: str):
    for part in path.split("."):
        if not isinstance(d, dict):
            return None
        d = d.get(part)
    return d


# ------------------------------------------------------------------ reading sweep files


def is_sweep_file(data: dict) -> bool:
    """A sweep file has params/points/method/config keys and no config sections of its own."""
    return bool(set(data) & {"params", "points", "method", "config", "seeds", "trials", "prune"}) \
        and not set(data) & {"data", "model", "train", "extends", "dtype"}


def load_sweep(path: str | os.PathLike, *, params: tuple | dict = (), overrides: tuple = (), method: str | None = None,
               trials: int | None = None, seeds: str | None = None, metric: str | None = None,
               prune: str | None = None, seed: int | None = None, name: str | None = None) -> SweepSpec:
    """A sweep file, or a config file plus ``-p`` params (the short form); command-line values win.  ``params``:
    ``-p`` texts, or a mapping in the sweep file's form ({key: [choices]} or {key: {low, high, ...}})."""
    path = Path(path)
    data = read_yaml_file(path)
    errors: list[str] = []
    if is_sweep_file(data):
        raw = data
        for key in raw:
            if key not in SWEEP_KEYS:
                errors.append(f"{path}: {printable(key)}: " + unknown_key_message(key, SWEEP_KEYS)
                              + (" (a sweep file puts config keys under config:)" if key in _CONFIG_KEYS else ""))
        base_raw = base_config(raw.get("config"), path, errors)
        file_params = raw.get("params")
    else:  # the short form: the file is the base config
        raw = {}
        base_raw = load_with_extends(path)
        base_raw.setdefault("name", path.stem)
        file_params = {}
    for item in overrides:
        apply_override(base_raw, item)
    given = {"name": name, "method": method, "trials": trials, "metric": metric, "seed": seed}
    for k, v in given.items():
        if v is not None:
            raw[k] = v
    if seeds is not None:
        raw["seeds"] = _seeds_text(seeds, errors)
    if prune is not None:
        raw["prune"] = None if prune == "none" else prune
    plist = params_from(file_params, path, errors)
    if "points" in raw:
        raw["points"], plist = points_from(raw.get("points"), path, errors, plist)
    given = params_from(plain(params), path, errors) if isinstance(params, dict) else \
        [_short_param(item, errors) for item in params]
    for p in given:
        if p is not None:
            plist = [q for q in plist if q.path != p.path] + [p]
    return build_spec(raw, base_raw, plist, str(path), errors)


def build_spec(raw: dict, base_raw: dict, plist: list[Param], source: str, errors: list[str] | None = None
               ) -> SweepSpec:
    """Check the sweep settings, the base config, each param, and then the points; one ConfigError
    with every problem (``errors``: those found while reading)."""
    errors = list(errors or [])
    notes: list[str] = []
    base_cfg = None
    try:
        base_cfg = validate(copy.deepcopy(base_raw), source=f"{source}: config")
    except ConfigError as exc:
        errors.extend(exc.lines)
    name = raw.get("name", base_raw.get("name") or Path(source).stem)
    if run_name_problem(name):
        errors.append(f"{source}: name: {run_name_problem(name)}")
    points = raw.get("points")
    method = raw.get("method", "list" if points is not None else
                     "grid" if plist and all(not p.is_range or p.num for p in plist) else "random")
    if method not in METHODS:
        errors.append(f"{source}: method: unknown method {shown(method)}; choose from {', '.join(METHODS)}"
                      f"{did_you_mean(method, METHODS)}")
    if method == "list" and points is None:
        errors.append(f"{source}: points: method list runs the points of a points: list (mappings of dotted keys to "
                      "values); give them, or use method: grid with params:")
    elif method != "list" and points is not None and method in METHODS:
        errors.append(f"{source}: points: only method list runs a list of points; remove method: {method}, or give "
                      "params: instead")
    metric = raw.get("metric", "val_acc")
    if metric not in METRICS:
        errors.append(f"{source}: metric: unknown metric {shown(metric)}; choose from {', '.join(METRICS)}"
                      f"{did_you_mean(metric, METRICS)}")
    trials = raw.get("trials")
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
        errors.append(f"{source}: trials: must be a whole number >= 1, got {shown(trials)}")
        trials = None
    if method in ("grid", "list") and trials is not None:
        notes.append(f"{source}: trials: {trials} is not used by a {method} sweep, which runs every point once")
    trials = trials or DEFAULT_TRIALS
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        errors.append(f"{source}: seed: the sampler's seed must be a whole number >= 0, got {shown(seed)}")
        seed = 0
    seeds = raw.get("seeds")
    if seeds is None:
        seeds = [base_cfg.seed if base_cfg else 0]
    elif not isinstance(seeds, list) or not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0
                                                         for s in seeds):
        errors.append(f"{source}: seeds: must be a list of whole numbers >= 0 such as [0, 1, 2], got {shown(seeds)}")
        seeds = [0]
    elif len(set(seeds)) != len(seeds):
        errors.append(f"{source}: seeds: {shown(seeds)} repeats a seed; each seed trains the point once")
    elif len(seeds) > MAX_SEEDS:
        errors.append(f"{source}: seeds: {len(seeds)} seeds; at most {MAX_SEEDS}")
    test = raw.get("test", "best")
    if test not in TEST_MODES:
        errors.append(f"{source}: test: must be best (only the chosen point sees the test set), all (every run) or "
                      f"none (no run), got {shown(test)}")
        test = "best"
    prune = _prune(raw.get("prune"), source, errors)
    if prune is not None and prune["warmup"] is None:  # early epochs are noisy: never prune in the first tenth
        prune["warmup"] = max(1, (base_cfg.train["epochs"] if base_cfg else 10) // 10)
    role = raw.get("role", "sweep")
    if role not in ("sweep", "members"):
        errors.append(f"{source}: role: must be sweep or members, got {shown(role)}")
    if not plist and not errors and role != "members" and method != "list":
        errors.append(f"{source}: params: nothing to search; give params: in the sweep file or -p KEY=VALUES, "
                      "e.g. -p train.optimizer.lr=log:1e-4:1e-1")
    if method == "grid":
        for p in plist:
            if p.is_range and p.num is None:
                errors.append(f"{source}: params: {p.path}: a grid needs a list of values or a range with num "
                              f"(e.g. {{low: {p.low:g}, high: {p.high:g}, num: 5}}); or use method: random or tpe")
    if base_cfg is None or (method == "list" and points is None):
        raise ConfigError(lines=errors)
    spec = SweepSpec(name=name, method=method if method in METHODS else "random",
                     metric=metric if metric in METRICS else "val_acc", trials=trials, seeds=list(seeds),
                     seed=seed, params=plist, prune=prune, base=base_cfg.as_dict(), source=source, notes=notes,
                     test=test, role=role, tags_extra=dict(raw.get("tags") or {}),
                     points=list(points) if method == "list" and points is not None else None)
    longest = spec.run_label(max(spec.n_trials - 1, 0), spec.seeds[-1]) if not errors else name
    if not errors and len(longest) > MAX_NAME_LENGTH:
        errors.append(f"{source}: name: at most {MAX_NAME_LENGTH - (len(longest) - len(name))} characters for a sweep "
                      f"of {spec.n_trials} trials (its runs are named {longest[:12]}...{longest[-8:]}), got {len(name)}")
    if not errors and spec.n_trials * len(spec.seeds) > MAX_TRIALS:
        errors.append(f"{source}: {spec.n_trials} points x {len(spec.seeds)} seeds = "
                      f"{spec.n_trials * len(spec.seeds)} runs; at most {MAX_TRIALS}")
    check_params(spec, errors)
    return spec


def base_config(value, path: Path, errors: list[str]) -> dict:
    if value is None:
        return {"name": path.stem}
    if isinstance(value, str):
        base_path = (path.parent / os.path.expanduser(value))
        if not base_path.exists():
            errors.append(f"{path}: config: file not found: {base_path}")
            return {}
        try:
            out = load_with_extends(base_path)
        except ConfigError as exc:
            errors.extend(exc.lines)
            return {}
        out.setdefault("name", path.stem)
        return out
    if isinstance(value, dict):
        out = copy.deepcopy(value)
        if "extends" in out:  # inline keys may extend a config file, relative to the sweep file
            parent = out.pop("extends")
            try:
                out = deep_merge(load_with_extends(path.parent / str(parent)), out)
            except ConfigError as exc:
                errors.extend(exc.lines)
        out.setdefault("name", path.stem)
        return out
    errors.append(f"{path}: config: must be a path to a config file or a mapping of config keys, "
                  f"got {shown(value)}")
    return {}


def _seeds_text(text: str, errors: list[str]):
    try:
        return [int(s) for s in str(text).split(",") if s.strip()]
    except ValueError:
        errors.append(f"--seeds {printable(text)}: expected whole numbers separated by commas, e.g. --seeds 0,1,2")
        return None


def _prune(value, source: str, errors: list[str]) -> dict | None:
    if value is None or value is False:
        return None
    if isinstance(value, str):
        value = {"rule": value}
    if not isinstance(value, dict):
        errors.append(f"{source}: prune: must be median, null, or {{rule: median, startup: 5, warmup: 10}}, "
                      f"got {shown(value)}")
        return None
    out = dict(PRUNE_DEFAULTS)
    for k, v in value.items():
        if k not in PRUNE_DEFAULTS:
            errors.append(f"{source}: prune: {printable(k)}: " + unknown_key_message(k, PRUNE_DEFAULTS))
        elif k == "rule":
            if v not in PRUNE_RULES:
                errors.append(f"{source}: prune: unknown rule {shown(v)}; choose from {', '.join(PRUNE_RULES)}"
                              f"{did_you_mean(v, PRUNE_RULES)}")
            out[k] = v
        elif k == "warmup" and v is None:
            continue
        elif isinstance(v, bool) or not isinstance(v, int) or v < (1 if k == "startup" else 0):
            errors.append(f"{source}: prune: {k}: must be a whole number >= {1 if k == 'startup' else 0}, "
                          f"got {shown(v)}")
        else:
            out[k] = v
    return out


# ------------------------------------------------------------------ params

_RANGE_KEYS = ("low", "high", "log", "int", "num")


def points_from(value, path, errors: list[str], plist: list[Param] | None = None) -> tuple[list | None, list[Param]]:
    """A list sweep's points (each a mapping of dotted keys to values; a key a point leaves out keeps the base
    config's value, and {} is the base config itself), and the params they imply (per key, its distinct values in order of appearance: the columns
    of trials.csv, blank where a point does not set the key)."""
    where = f"{path}: points"
    if plist:
        errors.append(f"{where}: a list sweep runs its points; it takes no params: as well (put every key in each point)")
    if not isinstance(value, list) or not value or not all(isinstance(p, dict) for p in value):
        errors.append(f"{where}: must be a list of mappings of dotted config keys to values such as "
                      f"[{{model.activation: tanh}}, {{model.activation: relu}}], got {shown(value)}")
        return None, []
    if len(value) > MAX_TRIALS:
        errors.append(f"{where}: {len(value)} points; at most {MAX_TRIALS}")
        return None, []
    keys: list[str] = []  # every key any point sets, in order of appearance: the columns of trials.csv
    points, ok = [], True
    for i, point in enumerate(value, start=1):
        for k in point:
            ok = _dotted(str(k), f"{where}: point {i}", errors) and ok
            if str(k) in NOT_PARAMS:
                errors.append(f"{where}: point {i}: {k}: {NOT_PARAMS[str(k)]}")
                ok = False
            if str(k) not in keys:
                keys.append(str(k))
        points.append({str(k): copy.deepcopy(v) for k, v in point.items()})
    if not ok:
        return None, []
    seen = [repr(sorted(p.items(), key=lambda kv: kv[0])) for p in points]
    if len(set(seen)) != len(seen):
        errors.append(f"{where}: a point appears twice; each point is trained once per seed")
    derived = []
    for k in keys:
        values: list = []
        for p in points:
            if k in p and not any(_same_value(p[k], v) for v in values):
                values.append(p[k])
        derived.append(Param(k, choices=values, where=where))
    return points, derived


def _same_value(a, b) -> bool:
    return type(a) is type(b) and a == b


def params_from(value, path: Path, errors: list[str]) -> list[Param]:
    if value is None:
        return []
    if not isinstance(value, dict):
        errors.append(f"{path}: params: must be a mapping of config keys to values, e.g. "
                      "'model.activation: [relu, elu]', got " + shown(value))
        return []
    out = []
    for key, v in value.items():
        p = param_from(str(key), v, f"{path}: params: {printable(key)}", errors)
        if p is not None:
            p.where = f"{path}: params"
            out.append(p)
    return out


def _dotted(key: str, where: str, errors: list[str]) -> bool:
    if not key or any(not part for part in key.split(".")):
        errors.append(f"{where}: the key must be a dotted config path such as train.optimizer.lr")
        return False
    return True


NOT_PARAMS = {
    "seed": "a sweep trains every point once per seed: list them under seeds: (e.g. seeds: [1, 2], or --seeds 1,2)",
    "name": "the sweep names its runs (<sweep name>-t<trial>); name the sweep with name: or --name",
    "extends": "extends: names the file a config builds on; put it in the base config",
}


def param_from(key: str, v, where: str, errors: list[str]) -> Param | None:
    """A Param from its sweep-file form: a list of choices, a {low, high, ...} range,
    {choices: [...]}, or one value (fixed)."""
    if not _dotted(key, where, errors):
        return None
    if key in NOT_PARAMS:
        errors.append(f"{where}: {key} is not a param: {NOT_PARAMS[key]}")
        return None
    if isinstance(v, list):
        return _choices(key, v, where, errors)
    if isinstance(v, dict):
        if set(v) == {"choices"}:
            return _choices(key, v["choices"], where, errors)
        if "low" in v or "high" in v:
            return _range(key, v, where, errors)
        errors.append(f"{where}: a mapping must be a range {{low: a, high: b}} (with optional log, int, num) or "
                      f"{{choices: [...]}}; got keys {', '.join(printable(k) for k in v)}")
        return None
    return Param(key, choices=[v])


def _choices(key, values, where, errors) -> Param | None:
    if not isinstance(values, list) or not values:
        errors.append(f"{where}: needs at least one value to choose from, got {shown(values)}")
        return None
    seen = []
    for c in values:
        if c in seen:
            errors.append(f"{where}: the value {shown(c)} is listed twice")
            return None
        seen.append(c)
    return Param(key, choices=list(values))


def _range(key, v: dict, where, errors) -> Param | None:
    bad = [k for k in v if k not in _RANGE_KEYS]
    for k in bad:
        errors.append(f"{where}: " + unknown_key_message(k, _RANGE_KEYS, "range key"))
    if bad:
        return None
    if "low" not in v or "high" not in v:
        errors.append(f"{where}: a range needs both low and high, e.g. {{low: 1.0e-4, high: 0.1, log: true}}")
        return None
    low, high = v["low"], v["high"]
    for name, x in (("low", low), ("high", high)):
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            errors.append(f"{where}: {name}: must be a finite number, got {shown(x)}"
                          + (" (text; write it without quotes)" if isinstance(x, str) and is_number(x) else ""))
            return None
    log, is_int, num = v.get("log", False), v.get("int", False), v.get("num")
    for name, x in (("log", log), ("int", is_int)):
        if not isinstance(x, bool):
            errors.append(f"{where}: {name}: must be true or false, got {shown(x)}")
            return None
    if num is not None and (isinstance(num, bool) or not isinstance(num, int) or not 1 <= num <= MAX_TRIALS):
        errors.append(f"{where}: num: the number of grid points must be a whole number from 1 to {MAX_TRIALS:,}, "
                      f"got {shown(num)}")
        return None
    if not low < high:
        errors.append(f"{where}: low ({low:g}) must be below high ({high:g})")
        return None
    if log and low <= 0:
        errors.append(f"{where}: a log range needs low > 0, got {low:g}")
        return None
    if is_int and not (float(low).is_integer() and float(high).is_integer()):
        errors.append(f"{where}: an int range needs whole-number ends, got {low:g} and {high:g}")
        return None
    if is_int:
        low, high = int(low), int(high)
    else:
        low, high = float(low), float(high)
    return Param(key, low=low, high=high, log=log, int=is_int, num=num)


def _short_param(item: str, errors: list[str]) -> Param | None:
    """``-p KEY=SPEC``: ``log:1e-4:1e-1``, ``int:16:256``, ``0:0.5`` (ranges, optional ``:num``),
    ``relu,elu`` or ``[[64],[100,100]]`` (choices), or one value."""
    where = f"-p {printable(item)}"
    if "=" not in item:
        errors.append(f"{where}: expected KEY=VALUES, e.g. -p train.optimizer.lr=log:1e-4:1e-1 or "
                      "-p model.activation=relu,elu")
        return None
    key, _, text = item.partition("=")
    key, text = key.strip(), text.strip()
    if not _dotted(key, where, errors):
        return None
    if not text:
        errors.append(f"{where}: no values after '='")
        return None
    if key in NOT_PARAMS:
        errors.append(f"{where}: {key} is not a param: {NOT_PARAMS[key]}")
        return None
    p = _short_values(key, text, where, errors)
    if p is not None:
        p.where = "-p"
    return p


def _short_values(key: str, text: str, where: str, errors: list[str]) -> Param | None:
    parts = text.split(":")
    kind = parts[0] if parts[0] in ("log", "int", "intlog", "logint") else ""
    nums = parts[1:] if kind else parts
    if 2 <= len(nums) <= 3 and all(is_number(n) for n in nums):
        spec: dict = {"low": float(nums[0]), "high": float(nums[1]), "log": "log" in kind, "int": "int" in kind}
        if len(nums) == 3:
            n = float(nums[2])
            spec["num"] = int(n) if n.is_integer() else n
        return _range(key, spec, where, errors)
    if kind:
        errors.append(f"{where}: expected {kind}:LOW:HIGH with numbers, e.g. {kind}:1e-4:1e-1")
        return None
    try:
        if text.startswith("["):
            values = parse_yaml(text, where)
            if not isinstance(values, list):
                raise ConfigError(f"{where}: expected a YAML list")
        else:
            values = [parse_yaml(v, where) for v in text.split(",")]
    except ConfigError as exc:
        errors.extend(exc.lines)
        return None
    return _choices(key, values, where, errors)


# ------------------------------------------------------------------ checking


MAX_CHECKED = 2000  # points validated up front; a bigger grid is checked param by param only


def check_params(spec: SweepSpec, errors: list[str] | None = None) -> None:
    """Every param value on its own (choices, both ends of ranges), then every planned point.

    Raises one ConfigError with every problem (``errors``: those found before); the messages
    are those of ``nnlab validate``.
    """
    errors = list(errors or [])
    if spec.method == "list":  # the points are all there is: each one validated as a whole
        _check_points(spec, planned_points(spec), errors)
        return
    planned = list(itertools.islice(planned_points(spec), MAX_CHECKED)) if len(spec.params) > 1 else []
    # a value that is invalid with the base config alone may be valid with another param's value (lbfgs with
    # batch_size full): TPE's points are not known in advance, so every combination of choices and range ends
    combos = list(itertools.islice(_combinations(spec.params), MAX_CHECKED)) if len(spec.params) > 1 else []
    for p in spec.params:
        values = p.choices if not p.is_range else [p.low, p.high]
        for v in values:
            try:
                validate(point_mapping(spec.base, {p.path: v}), source=p.where)
            except ConfigError as exc:
                if not _valid_somewhere(spec, p.path, v, planned + combos):  # e.g. a rate per layer, for 2-layer points
                    errors.extend(_dedupe(exc.lines, errors))
    if errors:
        raise ConfigError(lines=errors)
    _check_points(spec, planned, errors)


def _check_points(spec: SweepSpec, points, errors: list) -> None:
    """Each planned point's config validated as a whole: ConfigError with the first ten problems."""
    for values in points:
        try:
            spec.config(values, spec.seeds[0], spec.name)
        except ConfigError as exc:
            errors.extend(_dedupe(exc.lines, errors))
            if len(errors) >= 10:
                break
    if errors:
        raise ConfigError(lines=errors)


def _combinations(params: list[Param]):
    """Every combination of the params' choices and of their ranges' ends."""
    names = [p.path for p in params]
    for combo in itertools.product(*(p.choices if not p.is_range else [p.low, p.high] for p in params)):
        yield dict(zip(names, combo))


def _valid_somewhere(spec: SweepSpec, path: str, value, planned: list[dict]) -> bool:
    """Whether some planned point, with ``path`` set to ``value``, is a valid config."""
    seen = set()
    for point in planned:
        values = {**point, path: value}
        key = repr(values)
        if key in seen:
            continue
        seen.add(key)
        try:
            validate(point_mapping(spec.base, values))
            return True
        except ConfigError:
            continue
    return False


def _dedupe(lines: list[str], seen: list[str]) -> list[str]:
    return [ln for ln in lines if ln not in seen]
