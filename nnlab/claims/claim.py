"""Claim files: a claim of the course notes in the note's own words, the design that tests it, and its checks.

``claims/<id>.yaml``::

    # (free comments)
    claim:
      title: Tanh converges faster than sigmoid
      source:                         # the notes' words: the file in claims/notes/, its section, and the
        note: 001_420b0b58f66c9722.txt  # sentence(s) copied verbatim (only whitespace may differ)
        section: "2.4 神经单元 (neuron units)"
        original: "Tanh函数可以替代Sigmoid函数,实践中,它通常能够更快速的收敛。"
      # extension: "Huang et al. 2017, Snapshot Ensembles (ICLR)"   # a claim the notes do not make: its source
      quote: The tanh function can replace the sigmoid; in practice it usually converges faster.
      design: Why this design tests what the note says (shown on the page).
      expect:                         # the checks, judged together (Holm's correction)
        - {metric: epochs_to_target, target: 0.5, better: tanh, than: sigmoid}
      curve: val_acc                  # the metrics.csv column the figure draws (default val_acc)
    config: ../configs/claims/mnist1d.yaml   # the base config (or an inline mapping, with extends:)
    variants:                         # what is compared: name -> dotted overrides of the config
      tanh: {model.activation: tanh, model.init: xavier_uniform}
      sigmoid: {model.activation: sigmoid, model.init: xavier_uniform}
    tune: {train.optimizer.lr: [0.003, 0.01, 0.03, 0.1, 0.3]}   # each variant at its own best value
    regimes:                          # where the note's reasoning applies: name -> dotted overrides
      mnist1d: {}
      digits: {data.name: digits}
    seeds: 10                         # judging seeds 0..9 (or a list)
    tune_seeds: [100, 101]            # the default; never a judging seed
    quick: {train.epochs: 2}          # --quick: these overrides, 2 judging seeds, 1 tuning seed, no widening

A tuning grid may name several keys (every combination is tried).  A variant may also hold ``tune:`` (its own
grid; ``null``: not tuned), ``widen: false`` (its grid is the choice itself: never widened), ``relative: {to: tuned, factor: 10}`` (another variant's chosen values, the first
key times the factor: "ten times the best rate"), ``range_test: {rule: steepest}`` (its rate is the
learning-rate range test's, run on the variant's config) or ``search: grid | random | tpe`` (each judging seed
runs a whole sweep of the claim's ``search: {trials, params}``; note 004's search claim).  A variant that sets
a tuned key itself is not tuned over it.  A regime may hold ``tune:`` (its own grid).

Checks (``expect``), each with ``metric`` (nnlab.claims.claim_metrics) and the metric's options beside it:
``better: a (or [a, b]), than: c``; ``order: [a, b, c]`` (best first); ``same: [a, b], within: t``;
``gain: [a, b], near: c, within: t`` (a - b, in the better direction, is c ± t); ``gain: [a1, a0], exceeds:
[b1, b0]`` (a1 - a0 beats b1 - b0); ``below: x, for: v`` / ``above: x, for: v``; ``near: x, within: t, for: v``.

Every problem is one line, all at once.
"""

from __future__ import annotations

import copy
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from nnlab.claims.claim_metrics import column_key, higher_is_better, is_percent, label, metrics
from nnlab.claims.notes import missing_passages, notes_dir, read_note
from nnlab.config.loader import read_yaml_file
from nnlab.config.schema import set_key, validate
from nnlab.errors import ConfigError
from nnlab.options import check_options, did_you_mean, is_number, unknown_key_message
from nnlab.sweep.spec import base_config, point_mapping, round_significant
from nnlab.text import printable, setting, shown

TOP_KEYS = ("claim", "config", "variants", "tune", "regimes", "seeds", "tune_seeds", "quick", "search")
CLAIM_KEYS = ("title", "source", "extension", "quote", "design", "expect", "curve")
SOURCE_KEYS = ("note", "section", "original")
VARIANT_KEYS = ("tune", "range_test", "search", "relative", "widen")  # the keys of a variant that are not config keys
REGIME_KEYS = ("tune", "variants")  # the keys of a regime that are not config keys
SEARCH_KEYS = ("trials", "params", "metric")
RANGE_TEST_KEYS = ("rule", "start", "end", "steps")
RANGE_TEST = {"rule": "steepest", "start": 1e-7, "end": 10.0, "steps": 100}
RANGE_RULES = ("steepest", "valley", "min_over_10")
NAME = re.compile(r"[a-z0-9][a-z0-9_]*")  # claim ids, variant and regime names: folder and column names
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*")
MIN_SEEDS, MIN_REGIMES = 10, 2  # a full run's judging seeds and regimes (the gallery's rule)
TUNE_SEEDS = [100, 101]
QUICK_SEEDS = 2
MAX_WIDEN = 3  # extra rounds of tuning values when the best lies at the grid's edge
FORMS = {  # check form -> its keys besides metric (and the metric's options)
    "better": ("better", "than"), "order": ("order",), "same": ("same", "within"),
    "gain_near": ("gain", "near", "within"), "contrast": ("gain", "exceeds"),
    "below": ("below", "for"), "above": ("above", "for"), "near": ("near", "within", "for"),
}
CHECK_KEYS = ("metric", "better", "than", "order", "same", "within", "gain", "near", "exceeds", "below", "above", "for")


@dataclass
class Check:
    """One expectation of a claim: a metric (with its options) and a form (see the module docstring)."""

    metric: str
    options: dict
    form: str
    args: dict  # the form's keys, variant names checked

    @property
    def key(self) -> str:
        """The values.csv column this check reads."""
        return column_key(self.metric, self.options)

    @property
    def higher(self) -> bool:
        return higher_is_better(self.metric)

    def variants(self) -> list[str]:
        a = self.args
        names = {"better": lambda: [*_listed(a["better"]), a["than"]], "order": lambda: list(a["order"]),
                 "same": lambda: list(a["same"]), "gain_near": lambda: list(a["gain"]),
                 "contrast": lambda: [*a["gain"], *a["exceeds"]], "below": lambda: [a["for"]],
                 "above": lambda: [a["for"]], "near": lambda: [a["for"]]}
        return names[self.form]()

    def text(self) -> str:
        """The check in words, as the page shows it."""
        a, m = self.args, label(self.metric, self.options)
        word = "higher" if self.higher else "lower"

        def amount(x):
            return f"{round_significant(100 * x, 4):g} points" if is_percent(self.metric) else f"{x:g}"

        if self.form == "better":
            return f"{m}: {' and '.join(_listed(a['better']))} better than {a['than']} ({word} is better)"
        if self.form == "order":
            return f"{m}: " + " better than ".join(a["order"]) + f" ({word} is better)"
        if self.form == "same":
            return f"{m}: {a['same'][0]} the same as {a['same'][1]}, within ±{amount(a['within'])}"
        if self.form == "gain_near":
            return (f"{m}: {a['gain'][0]} better than {a['gain'][1]} by {amount(a['near'])} ± {amount(a['within'])} "
                    f"({word} is better)")
        if self.form == "contrast":
            return (f"{m}: the gain of {a['gain'][0]} over {a['gain'][1]} exceeds that of {a['exceeds'][0]} over "
                    f"{a['exceeds'][1]} ({word} is better)")
        if self.form == "near":
            return f"{m} of {a['for']}: {_value(self.metric, a['near'])} ± {amount(a['within'])}"
        side = self.form
        return f"{m} of {a['for']}: {side} {_value(self.metric, a[side])}"


def _value(metric: str, x: float) -> str:
    return f"{round_significant(100 * x, 4):g}%" if is_percent(metric) else f"{x:g}"


def _listed(x) -> list:
    return list(x) if isinstance(x, list) else [x]


@dataclass
class Variant:
    name: str
    overrides: dict  # dotted key -> value
    tune: dict | None = None  # its own grid (None: the regime's or the claim's); {} : not tuned
    range_test: dict | None = None
    search: str | None = None  # a sweep method: each judging seed runs a whole sweep
    relative: dict | None = None  # {to: variant, factor: x}: the other variant's tuned values, the first times x
    widen: bool = True  # false: its grid is the choice itself (a note's "0.01 or 0.001"), never widened


@dataclass
class Regime:
    name: str
    overrides: dict
    tune: dict | None = None  # its own grid; {}: nothing is tuned in this regime
    variants: dict = field(default_factory=dict)  # variant -> more overrides in this regime only


@dataclass
class Claim:
    id: str
    path: str
    title: str
    quote: str
    design: str
    checks: list
    variants: list  # Variant, in file order
    regimes: list  # Regime, in file order
    base: dict  # the base config mapping (quick overrides applied when quick)
    seeds: list
    tune_seeds: list
    tune: dict = field(default_factory=dict)  # dotted key -> values (the claim's grid)
    note: str = ""
    section: str = ""
    original: list = field(default_factory=list)  # the note's passages, verbatim
    extension: str | None = None
    curve: str = "val_acc"
    quick: bool = False
    quick_overrides: dict = field(default_factory=dict)
    search: dict | None = None  # {trials, params, metric}: for variants with search:

    @property
    def max_widen(self) -> int:
        return 0 if self.quick else MAX_WIDEN

    def variant(self, name: str) -> Variant:
        return next(v for v in self.variants if v.name == name)

    def regime_base(self, regime: Regime) -> dict:
        """The regime's config mapping: the claim's base with the regime's overrides."""
        return point_mapping(self.base, regime.overrides)

    def overrides(self, regime: Regime, variant: Variant) -> dict:
        """The variant's config overrides in ``regime`` (its own, then the regime's for it)."""
        return {**variant.overrides, **regime.variants.get(variant.name, {})}

    def grid(self, regime: Regime, variant: Variant) -> dict:
        """The values ``variant`` is tuned over in ``regime`` (dotted key -> list): {} when it is not tuned."""
        if variant.range_test is not None or variant.search is not None or variant.relative is not None:
            return {}
        grid = variant.tune if variant.tune is not None else regime.tune if regime.tune is not None else self.tune
        return {k: list(v) for k, v in (grid or {}).items() if k not in self.overrides(regime, variant)}

    def metric_keys(self) -> list[str]:
        """The values.csv columns: every check's metric, then test_acc and the curve's final value."""
        keys = [c.key for c in self.checks]
        return list(dict.fromkeys([*keys, "test_acc", "val_acc"]))

    def as_json(self) -> dict:
        """What the report needs (written into the claim's folder as claim.json)."""
        return {"id": self.id, "file": self.path, "title": self.title, "quote": self.quote, "design": self.design,
                "note": self.note, "section": self.section, "original": list(self.original),
                "extension": self.extension, "curve": self.curve, "mode": "quick" if self.quick else "full",
                "checks": [{"metric": c.metric, "options": c.options, "form": c.form, "args": c.args, "key": c.key,
                            "text": c.text(), "label": label(c.metric, c.options), "higher": c.higher,
                            "percent": is_percent(c.metric)}
                           for c in self.checks],
                "variants": [v.name for v in self.variants], "regimes": [r.name for r in self.regimes],
                "seeds": list(self.seeds), "tune_seeds": list(self.tune_seeds),
                "tune": {r.name: {v.name: self.grid(r, v) for v in self.variants} for r in self.regimes},
                "range_test": {v.name: v.range_test for v in self.variants if v.range_test is not None},
                "relative": {v.name: v.relative for v in self.variants if v.relative is not None},
                "search": ({**self.search, "methods": {v.name: v.search for v in self.variants if v.search}}
                           if self.search else None),
                "overrides": {v.name: v.overrides for v in self.variants},
                "regime_overrides": {r.name: r.overrides for r in self.regimes},
                "regime_variants": {r.name: r.variants for r in self.regimes if r.variants}}


def load_claim(path, quick: bool = False) -> Claim:
    """The claim file at ``path``, every config it implies validated (one ConfigError with every problem)."""
    path = Path(path)
    src = str(path)
    data = read_yaml_file(path)
    errors: list[str] = []
    cid = path.stem
    if not ID_PATTERN.fullmatch(cid):
        errors.append(f"{src}: the file name must be the claim's id: lower-case letters, digits, _ and -")
    for k in data:
        if k == "sweep":
            errors.append(f"{src}: sweep: the claim format changed: variants:, tune:, regimes: and seeds: replace "
                          "sweep: (docs/claims-guide.md)")
        elif k not in TOP_KEYS:
            errors.append(f"{src}: {printable(k)}: " + unknown_key_message(k, TOP_KEYS))
    block = data.get("claim")
    if not isinstance(block, dict):
        errors.append(f"{src}: claim: must be a mapping with title, source (or extension), quote, design and "
                      f"expect, got {shown(block)}")
        block = {}
    for k in block:
        if k not in CLAIM_KEYS:
            errors.append(f"{src}: claim: {printable(k)}: " + unknown_key_message(k, CLAIM_KEYS))
    texts = {k: _line(block.get(k), f"{src}: claim: {k}", errors, one_line=k == "title") for k in
             ("title", "quote", "design")}
    note, section, original, extension = _source(block, src, errors)
    if original and note:
        _verbatim(path, note, original, errors)
    curve = block.get("curve", "val_acc")
    if curve not in ("val_acc", "val_loss", "train_acc", "train_loss", "lr"):
        errors.append(f"{src}: claim: curve: the metrics.csv column the figure draws: val_acc, val_loss, train_acc, "
                      f"train_loss or lr, got {shown(curve)}")
    base = base_config(data.get("config"), path, errors)
    quick_overrides = data.get("quick") or {}
    if not isinstance(quick_overrides, dict):
        errors.append(f"{src}: quick: must be a mapping of dotted config keys to values such as 'train.epochs: 2', "
                      f"got {shown(quick_overrides)}")
        quick_overrides = {}
    if quick:
        for k, v in quick_overrides.items():
            try:
                set_key(base, str(k), copy.deepcopy(v), where=f"{src}: quick: {printable(k)}")
            except ConfigError as exc:
                errors.extend(exc.lines)
    seeds = _seeds(data.get("seeds"), f"{src}: seeds", errors, full_minimum=None if quick else MIN_SEEDS)
    tune_seeds = _seeds(data.get("tune_seeds", TUNE_SEEDS), f"{src}: tune_seeds", errors)
    if set(seeds) & set(tune_seeds):
        errors.append(f"{src}: tune_seeds: {shown(sorted(set(seeds) & set(tune_seeds)))} also judge; the seeds that "
                      "choose a setting must not be the seeds that judge it")
    if quick:
        seeds, tune_seeds = seeds[:QUICK_SEEDS], tune_seeds[:1]
    tune = _grid(data.get("tune"), f"{src}: tune", errors) or {}
    search = _search(data.get("search"), src, errors)
    variants = _variants(data.get("variants"), src, errors, search)
    regimes = _regimes(data.get("regimes"), src, errors, quick)
    checks = _checks(block.get("expect"), [v.name for v in variants], src, errors)
    names = [v.name for v in variants]
    for r in regimes:
        for k in r.variants:
            if k not in names:
                errors.append(f"{src}: regimes: {r.name}: variants: {printable(k)} is not a variant; the variants are "
                              f"{', '.join(names)}{did_you_mean(k, names)}")
    if errors:
        raise ConfigError(lines=errors)
    claim = Claim(id=cid, path=src, title=texts["title"], quote=texts["quote"], design=texts["design"],
                  checks=checks, variants=variants, regimes=regimes, base=base, seeds=seeds, tune_seeds=tune_seeds,
                  tune=tune, note=note, section=section, original=original, extension=extension, curve=curve,
                  quick=quick, quick_overrides=dict(quick_overrides), search=search)
    _check_configs(claim, errors)
    if errors:
        raise ConfigError(lines=errors)
    return claim


def _line(v, where: str, errors: list[str], one_line: bool = False) -> str:
    if not isinstance(v, str) or not v.strip():
        errors.append(f"{where}: must be text, got {shown(v)}")
        return ""
    text = " ".join(v.split())
    if one_line and "\n" in v.strip():
        errors.append(f"{where}: must be one line")
    return text


def _source(block: dict, src: str, errors: list[str]) -> tuple[str, str, list, str | None]:
    """(note, section, original passages, extension): a claim quotes its note, or is an extension with a source."""
    source, extension = block.get("source"), block.get("extension")
    if source is None and extension is None:
        errors.append(f"{src}: claim: source: give the note's own words ({{note, section, original}}), or extension: "
                      "<its reference> for a claim the notes do not make")
        return "", "", [], None
    if extension is not None:
        ext = _line(extension, f"{src}: claim: extension", errors)
        if source is None:
            return "", "", [], ext
    else:
        ext = None
    if not isinstance(source, dict):
        errors.append(f"{src}: claim: source: must be {{note: <file in claims/notes>, section: <its section>, "
                      f"original: <its words, verbatim>}}, got {shown(source)}")
        return "", "", [], ext
    for k in source:
        if k not in SOURCE_KEYS:
            errors.append(f"{src}: claim: source: {printable(k)}: " + unknown_key_message(k, SOURCE_KEYS))
    note = _line(source.get("note"), f"{src}: claim: source: note", errors)
    section = _line(source.get("section"), f"{src}: claim: source: section", errors)
    original = source.get("original")
    passages = original if isinstance(original, list) else [original] if original is not None else []
    if ext is None and not passages:
        errors.append(f"{src}: claim: source: original: the note's own sentence(s), copied verbatim; a claim the "
                      "notes do not make is an extension: (with its reference)")
    out = []
    for i, p in enumerate(passages, start=1):
        where = f"{src}: claim: source: original" + (f" {i}" if len(passages) > 1 else "")
        if not isinstance(p, str) or not p.strip():
            errors.append(f"{where}: must be the note's text, got {shown(p)}")
        else:
            out.append(" ".join(p.split()))
    return note, section, out, ext


def _verbatim(path: Path, note: str, original: list[str], errors: list[str]) -> None:
    """Every passage of ``original`` is in the note, word for word (whitespace aside)."""
    folder = notes_dir(path)
    f = folder / note
    if "/" in note or "\\" in note or note.startswith("."):
        errors.append(f"{path}: claim: source: note: the file name of a note in {folder}, got {shown(note)}")
        return
    try:
        text = read_note(f)
    except (OSError, ValueError) as exc:
        known = sorted(p.name for p in folder.glob("*.txt")) if folder.is_dir() else []
        errors.append(f"{path}: claim: source: note: cannot read {f} ({getattr(exc, 'strerror', None) or exc})"
                      + (f"; the notes are {', '.join(known)}{did_you_mean(note, known)}" if known else ""))
        return
    for i in missing_passages(original, text):
        which = f" {i}" if len(original) > 1 else ""
        errors.append(f"{path}: claim: source: original{which}: not found word for word in {f} (only whitespace may "
                      f"differ); copy the note's own sentence")


def _seeds(value, where: str, errors: list[str], full_minimum: int | None = None) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= 1000:
            errors.append(f"{where}: a number of seeds from 1 to 1000 (seeds 0, 1, ...), or a list, got {value}")
            return [0]
        value = list(range(value))
    if not isinstance(value, list) or not value or any(isinstance(s, bool) or not isinstance(s, int) or s < 0
                                                       for s in value):
        errors.append(f"{where}: must be a number of seeds (10: seeds 0 to 9) or a list of whole numbers >= 0, "
                      f"got {shown(value)}")
        return [0]
    if len(set(value)) != len(value):
        errors.append(f"{where}: {shown(value)} repeats a seed")
    if full_minimum is not None and len(value) < full_minimum:
        errors.append(f"{where}: a claim is judged on at least {full_minimum} seeds, got {len(value)}")
    return list(value)


def _grid(value, where: str, errors: list[str]) -> dict | None:
    """A tuning grid: {dotted key: [values...], ...} (several keys: every combination); None when absent."""
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        errors.append(f"{where}: must map dotted config keys to the values to choose from, such as "
                      f"{{train.optimizer.lr: [0.001, 0.01, 0.1]}}, got {shown(value)}")
        return None
    out = {}
    for k, v in value.items():
        if not isinstance(v, list) or len(v) < 2:
            errors.append(f"{where}: {printable(k)}: at least two values to choose from, got {shown(v)}")
            continue
        if len({repr(x) for x in v}) != len(v):
            errors.append(f"{where}: {printable(k)}: {shown(v)} repeats a value")
        out[str(k)] = list(v)
    if math.prod(len(v) for v in out.values()) > 200:
        errors.append(f"{where}: {math.prod(len(v) for v in out.values())} combinations; at most 200 (tune fewer "
                      "keys or values)")
    return out


def _search(value, src: str, errors: list[str]) -> dict | None:
    if value is None:
        return None
    where = f"{src}: search"
    if not isinstance(value, dict):
        errors.append(f"{where}: must be {{trials: <budget>, params: <a sweep's params>}}, got {shown(value)}")
        return None
    for k in value:
        if k not in SEARCH_KEYS:
            errors.append(f"{where}: {printable(k)}: " + unknown_key_message(k, SEARCH_KEYS))
    trials = value.get("trials")
    if isinstance(trials, bool) or not isinstance(trials, int) or not 2 <= trials <= 1000:
        errors.append(f"{where}: trials: the budget of each search, a whole number from 2 to 1000, got {shown(trials)}")
    if not isinstance(value.get("params"), dict) or not value["params"]:
        errors.append(f"{where}: params: the space every method searches, as a sweep's params (ranges), got "
                      f"{shown(value.get('params'))}")
    return {"trials": trials, "params": value.get("params"), "metric": value.get("metric", "val_acc")}


def _variants(value, src: str, errors: list[str], search: dict | None) -> list[Variant]:
    where = f"{src}: variants"
    if not isinstance(value, dict) or len(value) < 1:
        errors.append(f"{where}: must map each variant's name to its config overrides, such as {{tanh: "
                      f"{{model.activation: tanh}}, sigmoid: {{model.activation: sigmoid}}}}, got {shown(value)}")
        return []
    out = []
    for name, body in value.items():
        w = f"{where}: {printable(name)}"
        if not isinstance(name, str) or not NAME.fullmatch(name):
            errors.append(f"{w}: a variant's name is lower-case letters, digits and _ (it names folders and columns)")
            continue
        if body is None:
            body = {}
        if not isinstance(body, dict):
            errors.append(f"{w}: must be a mapping of dotted config keys to values ({{}}: the base config), got "
                          f"{shown(body)}")
            continue
        overrides = {str(k): copy.deepcopy(v) for k, v in body.items() if k not in VARIANT_KEYS}
        for k in overrides:
            if "." not in k and k not in ("seed", "dtype"):
                errors.append(f"{w}: {printable(k)}: a dotted config key such as model.activation, or one of "
                              f"{', '.join(VARIANT_KEYS)}{did_you_mean(k, VARIANT_KEYS)}")
        if "seed" in overrides or "name" in overrides:
            errors.append(f"{w}: seed and name are set by the claim (variants share the judging seeds)")
        v = Variant(name, overrides)
        if "tune" in body:
            v.tune = {} if body["tune"] is None else _grid(body["tune"], f"{w}: tune", errors) or {}
        if "range_test" in body:
            v.range_test = _range_test(body["range_test"], f"{w}: range_test", errors)
        if "relative" in body:
            v.relative = _relative(body["relative"], f"{w}: relative", errors)
        if "widen" in body:
            if not isinstance(body["widen"], bool):
                errors.append(f"{w}: widen: true (a best value at the grid's edge adds values beyond it) or false, "
                              f"got {shown(body['widen'])}")
            else:
                v.widen = body["widen"]
        if "search" in body:
            if body["search"] not in ("grid", "random", "tpe"):
                errors.append(f"{w}: search: the sweep method this variant searches with: grid, random or tpe, got "
                              f"{shown(body['search'])}")
            elif search is None:
                errors.append(f"{w}: search: needs the claim's search: {{trials, params}} (the space and the budget)")
            v.search = body["search"]
        out.append(v)
    kinds = {bool(v.search) for v in out}
    if len(kinds) > 1:
        errors.append(f"{where}: either every variant is a search method (search: ...) or none is")
    names = [v.name for v in out]
    for v in out:
        if v.relative and v.relative["to"] not in names:
            errors.append(f"{where}: {v.name}: relative: to: {shown(v.relative['to'])} is not a variant; the variants "
                          f"are {', '.join(names)}{did_you_mean(str(v.relative['to']), names)}")
        elif v.relative and (v.relative["to"] == v.name or out[names.index(v.relative["to"])].relative):
            errors.append(f"{where}: {v.name}: relative: to: must name a tuned variant other than itself")
    return out


def _relative(value, where: str, errors: list[str]) -> dict | None:
    """{to: <a tuned variant>, factor: x}: that variant's chosen values, its first tuned key times x."""
    if not isinstance(value, dict) or set(value) != {"to", "factor"}:
        errors.append(f"{where}: must be {{to: <a tuned variant>, factor: <a number>}} (e.g. ten times its best "
                      f"rate), got {shown(value)}")
        return None
    if not is_number(value["factor"]) or not math.isfinite(value["factor"]) or value["factor"] <= 0:
        errors.append(f"{where}: factor: must be a number > 0, got {shown(value['factor'])}")
        return None
    return {"to": value["to"], "factor": float(value["factor"])}


def _range_test(value, where: str, errors: list[str]) -> dict | None:
    if value is True or value is None:
        return dict(RANGE_TEST)
    if not isinstance(value, dict):
        errors.append(f"{where}: must be true or {{rule: steepest, start: 1.0e-7, end: 10, steps: 100}}, got "
                      f"{shown(value)}")
        return None
    out = dict(RANGE_TEST)
    for k, v in value.items():
        if k not in RANGE_TEST_KEYS:
            errors.append(f"{where}: {printable(k)}: " + unknown_key_message(k, RANGE_TEST_KEYS))
        elif k == "rule":
            if v not in RANGE_RULES:
                errors.append(f"{where}: rule: one of {', '.join(RANGE_RULES)} (nnlab lr-find's), got {shown(v)}")
            out[k] = v
        elif k == "steps":
            if isinstance(v, bool) or not isinstance(v, int) or not 2 <= v <= 100_000:
                errors.append(f"{where}: steps: must be a whole number from 2 to 100000, got {shown(v)}")
            else:
                out[k] = v
        elif not is_number(v) or not math.isfinite(v) or v <= 0:
            errors.append(f"{where}: {k}: must be a rate > 0, got {shown(v)}")
        else:
            out[k] = float(v)
    if out["start"] >= out["end"]:
        errors.append(f"{where}: start {out['start']:g} must be below end {out['end']:g}")
    return out


def _regimes(value, src: str, errors: list[str], quick: bool) -> list[Regime]:
    where = f"{src}: regimes"
    if not isinstance(value, dict) or not value:
        errors.append(f"{where}: must map each regime's name to its config overrides, such as {{mnist1d: {{}}, "
                      f"digits: {{data.name: digits}}}}, got {shown(value)}")
        return []
    if not quick and len(value) < MIN_REGIMES:
        errors.append(f"{where}: a claim is judged in at least {MIN_REGIMES} regimes where the note's reasoning "
                      f"applies, got {len(value)}")
    out = []
    for name, body in value.items():
        w = f"{where}: {printable(name)}"
        if not isinstance(name, str) or not NAME.fullmatch(name):
            errors.append(f"{w}: a regime's name is lower-case letters, digits and _ (it names a folder)")
            continue
        body = {} if body is None else body
        if not isinstance(body, dict):
            errors.append(f"{w}: must be a mapping of dotted config keys to values, got {shown(body)}")
            continue
        r = Regime(name, {str(k): copy.deepcopy(v) for k, v in body.items() if k not in REGIME_KEYS})
        if "tune" in body:
            r.tune = {} if body["tune"] is None else _grid(body["tune"], f"{w}: tune", errors) or {}
        if "variants" in body:
            more = body["variants"]
            if not isinstance(more, dict) or not all(isinstance(v, dict) for v in more.values()):
                errors.append(f"{w}: variants: must map variant names to more config overrides for this regime, got "
                              f"{shown(more)}")
            else:
                r.variants = {str(k): {str(kk): copy.deepcopy(vv) for kk, vv in v.items()} for k, v in more.items()}
        out.append(r)
    return out


def _checks(value, names: list[str], src: str, errors: list[str]) -> list[Check]:
    where = f"{src}: claim: expect"
    items = value if isinstance(value, list) else [value] if isinstance(value, dict) else None
    if not items or not all(isinstance(e, dict) for e in items):
        errors.append(f"{where}: must be a list of checks such as [{{metric: test_acc, better: tanh, than: sigmoid}}], "
                      f"got {shown(value)}")
        return []
    out = []
    for i, e in enumerate(items, start=1):
        c = _check(e, names, f"{where}" + (f" {i}" if len(items) > 1 else ""), errors)
        if c is not None:
            out.append(c)
    return out


def _check(e: dict, names: list[str], where: str, errors: list[str]) -> Check | None:
    m = e.get("metric")
    comp = metrics.get(m) if isinstance(m, str) and m in metrics else None
    own = set(comp.options) if comp else set()
    for k in e:
        if k not in CHECK_KEYS and k not in own:
            errors.append(f"{where}: {printable(k)}: " + unknown_key_message(k, [*CHECK_KEYS, *sorted(own)]))
    if comp is None:
        errors.append(f"{where}: metric: unknown metric {shown(m)}; choose from {', '.join(metrics.names())}"
                      f"{did_you_mean(m, metrics.names()) if isinstance(m, str) else ''}")
        return None
    options = check_options(comp.options, {k: e[k] for k in own if k in e}, where, errors, what="option",
                            owner=f"claim metric '{m}'") or {}
    present = {k for k in e if k in CHECK_KEYS and k != "metric"}
    form = next((f for f, keys in FORMS.items() if set(keys) == present), None)
    if form is None:
        errors.append(f"{where}: give one form: better + than, order, same + within, gain + near + within, gain + "
                      f"exceeds, below + for, above + for, or near + within + for; got {', '.join(sorted(present)) or 'none'}")
        return None
    args = {k: e[k] for k in FORMS[form]}

    def known(v, key):
        if v not in names:
            errors.append(f"{where}: {key}: {shown(v)} is not a variant; the variants are {', '.join(names)}"
                          f"{did_you_mean(str(v), names)}")

    def pair(key, n=2):
        v = args[key]
        if not isinstance(v, list) or len(v) != n or len(set(map(str, v))) != n:
            errors.append(f"{where}: {key}: {n} different variants, got {shown(v)}")
            return
        for x in v:
            known(x, key)

    def number(key, positive=False):
        v = args[key]
        if not is_number(v) or not math.isfinite(v) or (positive and v <= 0):
            errors.append(f"{where}: {key}: must be a {'positive ' if positive else ''}number, got {shown(v)}")
        else:
            args[key] = float(v)

    if form == "better":
        for x in _listed(args["better"]):
            known(x, "better")
        known(args["than"], "than")
        if args["than"] in _listed(args["better"]):
            errors.append(f"{where}: better and than name the same variant")
    elif form == "order":
        if not isinstance(args["order"], list) or len(args["order"]) < 2 or len(set(args["order"])) != len(args["order"]):
            errors.append(f"{where}: order: at least two different variants, best first, got {shown(args['order'])}")
        else:
            for x in args["order"]:
                known(x, "order")
    elif form == "same":
        pair("same")
        number("within", positive=True)
    elif form == "gain_near":
        pair("gain")
        number("near")
        number("within", positive=True)
    elif form == "contrast":
        pair("gain")
        pair("exceeds")
    else:
        known(args["for"], "for")
        for k in ("below", "above", "near", "within"):
            if k in args:
                number(k, positive=k == "within")
    return Check(m, options, form, args)


def _check_configs(claim: Claim, errors: list[str]) -> None:
    """Every config the claim will train, validated now: each regime with each variant at each tuning value."""
    for r in claim.regimes:
        try:
            regime_base = claim.regime_base(r)
        except ConfigError as exc:
            errors.extend(f"{claim.path}: regimes: {r.name}: {ln}" for ln in exc.lines)
            continue
        for v in claim.variants:
            grid = claim.grid(r, v)
            own = claim.overrides(r, v)
            points = [{**own, **combo} for combo in combinations(grid)] if grid else [own]
            for p in points:
                try:
                    validate(point_mapping(regime_base, p), source=f"{claim.path}: regime {r.name}, variant {v.name}")
                except ConfigError as exc:
                    errors.extend(ln for ln in exc.lines if ln not in errors)
                    break
            if len(errors) > 20:
                return
        if claim.search is not None:
            for k in claim.search["params"] or {}:
                if "." not in str(k):
                    errors.append(f"{claim.path}: search: params: {printable(k)}: a dotted config key")


def claim_files(items, folder="claims") -> list[Path]:
    """The claim files named by ``items`` (paths, or ids in ``folder``); every claim in ``folder`` if none."""
    folder = Path(folder)
    if not items:
        files = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
        if not files:
            raise ConfigError(f"{folder}: no claim files (claims/<id>.yaml); name some, or run in the repository")
        return files
    out, errors = [], []
    for it in items:
        p = Path(os.path.expanduser(it))
        if not p.suffix and not p.exists():
            p = folder / f"{it}.yaml"
        if not p.is_file():
            known = sorted(f.stem for f in folder.glob("*.yaml")) if folder.is_dir() else []
            errors.append(f"{it}: no such claim file or claim id"
                          + (f"; the claims are {', '.join(known)}{did_you_mean(it, known)}" if known else ""))
        else:
            out.append(p)
    if errors:
        raise ConfigError(lines=errors)
    return out


def combinations(grid: dict) -> list[dict]:
    """Every combination of a tuning grid's values, the first key varying slowest."""
    import itertools

    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def point_label(values: dict) -> str:
    return ", ".join(f"{k}={setting(v)}" for k, v in values.items())
