"""Claim files: a claim of the course notes, the sweep that tests it, and what would confirm it.

``claims/<id>.yaml``::

    claim:
      title: Deep sigmoid nets lose their gradient
      source: {note: 003_....md, section: "Vanishing gradients"}
      quote: In a deep sigmoid net the first layer's gradient is orders of magnitude below the last's.
      expect: {metric: first_layer_grad_ratio, by: model.activation, below: 0.01, for: sigmoid}
    quick: {train.epochs: 5}          # dotted config overrides for --quick (which also uses 1 seed)
    sweep:                            # an ordinary sweep file body (nnlab.sweep.spec); method: grid
      config: ../configs/base.yaml
      method: grid
      seeds: [0, 1, 2, 3, 4]
      params: {model.activation: [sigmoid, relu]}

``expect``: ``metric`` (nnlab.claims.claim_metrics: val_acc, test_acc, epochs_to_target, ...), ``by`` (a param path, or a list of them: a variant is then
the values joined by ``+``), and one of ``order: [v1, v2, ...]`` (v1 best), ``better: v, than:
w`` (``better: [v1, v2]``: each of them better than w), ``below: x, for: v``, ``above: x,
for: v`` or ``same: [v, w], within: t``.  The metric
``epochs_to_target`` also takes ``target`` (a validation accuracy in (0, 1]).

Two optional keys of the ``claim`` block compare variants at a tuned setting:

- ``tune: <param path>``: a param of the sweep that is not in ``by`` (typically
  train.optimizer.lr).  Each variant is judged at its own best value of it: the one whose runs
  score best on the sweep's metric (validation data, mean over the seeds); the test set plays no
  part in the choice.
- ``range_test: true`` (or ``{start, end, steps}``, the ``nnlab lr-find`` options): ``by`` must
  be train.optimizer.lr.  Before the sweep, one learning-rate range test runs on the base config
  (its seed) and its recommended rate is added to the rates of the grid.  ``expect`` can then
  name the variant ``range_test`` (that rate) and ``best`` (the grid rate with the best mean
  validation score; the test set plays no part in the choice).

Every problem is one line, all at once.
"""

from __future__ import annotations

import copy
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from nnlab.claims.claim_metrics import higher_is_better, metrics
from nnlab.config.loader import read_yaml_file
from nnlab.config.schema import set_key
from nnlab.errors import ConfigError
from nnlab.options import check_options, did_you_mean, unknown_key_message
from nnlab.sweep.spec import SWEEP_KEYS, base_config, build_spec, grid_points, params_from, round_significant
from nnlab.text import printable, setting, shown

TOP_KEYS = ("claim", "quick", "sweep")
CLAIM_KEYS = ("title", "source", "quote", "expect", "tune", "range_test")
RANGE_TEST_KEYS = ("start", "end", "steps")
RANGE_TEST = {"start": 1e-7, "end": 10.0, "steps": 100}  # nnlab lr-find's defaults
ALIASES = ("range_test", "best")  # variant names of a range_test claim's expect
SOURCE_KEYS = ("note", "section")
EXPECT_FORMS = (("order",), ("better", "than"), ("below", "for"), ("above", "for"), ("same", "within"))
EXPECT_KEYS = ("metric", "by", "order", "better", "than", "below", "above", "for", "same", "within")  # + the metric's options
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*")


@dataclass
class Claim:
    id: str
    path: str
    title: str
    note: str
    section: str
    quote: str
    expect: dict  # metric, by (list of paths), and one form: order | better+than | below/above+for
    quick: dict
    raw_sweep: dict
    variants: list  # the variant labels, in grid order
    tune: str | None = None  # a param judged at each variant's best value
    range_test: dict | None = None  # {start, end, steps}; after the test also suggested, label, in_grid

    def as_json(self, quick: bool) -> dict:
        """What the report needs, written into the sweep folder as claim.json."""
        out = {"id": self.id, "file": self.path, "title": self.title, "note": self.note, "section": self.section,
               "quote": self.quote, "expect": self.expect, "variants": self.variants,
               "mode": "quick" if quick else "full"}
        if self.tune:
            out["tune"] = self.tune
        if self.range_test:
            out["range_test"] = self.range_test
        return out

    @property
    def metric(self) -> str:
        return self.expect["metric"]

    @property
    def higher_is_better(self) -> bool:
        return higher_is_better(self.metric)

    def expectation_text(self) -> str:
        e = self.expect
        m = self.metric
        if "order" in e:
            return f"{m}: " + " > ".join(e["order"]) + " (best first)"
        if "better" in e:
            better = e["better"] if isinstance(e["better"], list) else [e["better"]]
            return f"{m}: each of {', '.join(better)} better than {e['than']}" if len(better) > 1 \
                else f"{m}: {better[0]} better than {e['than']}"
        if "same" in e:
            return f"{m}: {e['same'][0]} the same as {e['same'][1]}, within {e['within']:g}"
        side = "below" if "below" in e else "above"
        return f"{m} {side} {e[side]:g} for {e['for']}"


def variant_label(values: dict, by: list[str]) -> str:
    return "+".join(setting(values[p]) for p in by)


def load_claim(path, quick: bool = False, suggested: float | None = None):
    """The Claim and its SweepSpec (seeds cut to the first and the quick overrides applied when ``quick``).

    ``suggested``: a range_test claim's recommended rate, added to the grid's rates (nnlab.claims.run).
    """
    return _load(path, quick, suggested)


def _load(path, quick: bool, suggested: float | None = None):
    path = Path(path)
    src = str(path)
    data = read_yaml_file(path)
    errors: list[str] = []
    cid = path.stem
    if not ID_PATTERN.fullmatch(cid):
        errors.append(f"{src}: the file name must be the claim's id: lower-case letters, digits, _ and -")
    for k in data:
        if k not in TOP_KEYS:
            errors.append(f"{src}: {printable(k)}: " + unknown_key_message(k, TOP_KEYS))
    block = data.get("claim")
    if not isinstance(block, dict):
        errors.append(f"{src}: claim: must be a mapping with title, source, quote and expect, got {shown(block)}")
        block = {}
    for k in block:
        if k not in CLAIM_KEYS:
            errors.append(f"{src}: claim: {printable(k)}: " + unknown_key_message(k, CLAIM_KEYS))
    texts = {}
    for k in ("title", "quote"):
        v = block.get(k)
        if not isinstance(v, str) or not v.strip():
            errors.append(f"{src}: claim: {k}: must be a line of text, got {shown(v)}")
        elif "\n" in v.strip():
            errors.append(f"{src}: claim: {k}: must be one line")
        texts[k] = str(v or "").strip()
    source = block.get("source")
    if not isinstance(source, dict):
        errors.append(f"{src}: claim: source: must be {{note: <file in shared/seeds>, section: <its section>}}, "
                      f"got {shown(source)}")
        source = {}
    for k in source:
        if k not in SOURCE_KEYS:
            errors.append(f"{src}: claim: source: {printable(k)}: " + unknown_key_message(k, SOURCE_KEYS))
    for k in SOURCE_KEYS:
        if not isinstance(source.get(k), str) or not source.get(k).strip():
            errors.append(f"{src}: claim: source: {k}: must be text, got {shown(source.get(k))}")
    qk = data.get("quick") or {}
    if not isinstance(qk, dict):
        errors.append(f"{src}: quick: must be a mapping of dotted config keys to values such as "
                      f"'train.epochs: 5', got {shown(qk)}")
        qk = {}
    raw = data.get("sweep")
    if not isinstance(raw, dict):
        errors.append(f"{src}: sweep: must be a sweep file's body (config, method: grid, params, seeds), "
                      f"got {shown(raw)}")
        raise ConfigError(lines=errors)
    raw = copy.deepcopy(raw)
    where = f"{src}: sweep"
    for k in raw:
        if k not in SWEEP_KEYS:
            errors.append(f"{where}: {printable(k)}: " + unknown_key_message(k, SWEEP_KEYS))
    if raw.get("method", "grid") != "grid":
        errors.append(f"{where}: method: a claim compares every variant: use method: grid, got {shown(raw['method'])}")
    for k in ("test", "trials", "prune", "name"):
        if k in raw:
            errors.append(f"{where}: {k}: set by nnlab claims (name: the claim's id, test: all, no pruning); remove it")
    seeds = raw.get("seeds")
    if not quick and isinstance(seeds, list) and len(seeds) < 5:
        errors.append(f"{where}: seeds: a claim needs at least 5 seeds for its full run, got {len(seeds)}")
    base = base_config(raw.get("config"), path, errors)
    if quick:
        for k, v in qk.items():
            try:
                set_key(base, str(k), copy.deepcopy(v), where=f"{src}: quick: {printable(k)}")
            except ConfigError as exc:
                errors.extend(exc.lines)
        if isinstance(seeds, list) and seeds:
            raw["seeds"] = seeds[:1]
    plist = params_from(raw.get("params"), path, errors)
    raw.update(name=cid, method="grid", test="all")
    tune = _tune(block.get("tune"), plist, src, errors)
    rtest = _range_test(block.get("range_test"), src, errors)
    if rtest is not None and suggested is not None:
        rtest = _add_suggestion(rtest, suggested, plist)
    expect, variants = _expect(block.get("expect"), plist, src, errors, tune=tune, range_test=rtest)
    spec = build_spec(raw, base, plist, where, errors)  # raises with every problem found so far
    claim = Claim(id=cid, path=src, title=texts["title"], note=str(source.get("note", "")).strip(),
                  section=str(source.get("section", "")).strip(), quote=texts["quote"], expect=expect,
                  quick=dict(qk), raw_sweep=data.get("sweep"), variants=variants, tune=tune, range_test=rtest)
    return claim, spec


LR = "train.optimizer.lr"


def _tune(value, plist, src: str, errors: list[str]) -> str | None:
    if value is None:
        return None
    where = f"{src}: claim: tune"
    paths = [p.path for p in plist]
    if not isinstance(value, str):
        errors.append(f"{where}: must be the path of a sweep param (e.g. {LR}), got {shown(value)}")
        return None
    if value not in paths:
        errors.append(f"{where}: {printable(value)} is not a param of the sweep; choose from "
                      f"{', '.join(paths) or '(no params)'}{did_you_mean(value, paths)}")
        return None
    p = plist[paths.index(value)]
    if p.is_range or len(p.choices) < 2:
        errors.append(f"{where}: {value} must be a list of at least two values to choose from, got "
                      f"{shown(p.spec())}")
    return value


def _range_test(value, src: str, errors: list[str]) -> dict | None:
    where = f"{src}: claim: range_test"
    if value is None or value is False:
        return None
    if value is True:
        return dict(RANGE_TEST)
    if not isinstance(value, dict):
        errors.append(f"{where}: must be true or {{start: 1.0e-7, end: 10, steps: 100}} (nnlab lr-find's "
                      f"options), got {shown(value)}")
        return None
    out = dict(RANGE_TEST)
    for k, v in value.items():
        if k not in RANGE_TEST_KEYS:
            errors.append(f"{where}: {printable(k)}: " + unknown_key_message(k, RANGE_TEST_KEYS))
        elif k == "steps":
            if isinstance(v, bool) or not isinstance(v, int) or not 2 <= v <= 100_000:
                errors.append(f"{where}: steps: must be a whole number from 2 to 100000, got {shown(v)}")
            else:
                out[k] = v
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            errors.append(f"{where}: {k}: must be a rate > 0, got {shown(v)}")
        else:
            out[k] = float(v)
    if out["start"] >= out["end"]:
        errors.append(f"{where}: start {out['start']:g} must be below end {out['end']:g}")
    return out


def _add_suggestion(rtest: dict, suggested: float, plist) -> dict:
    """The range test's rate added to the learning rates of the grid; the claim records where it went."""
    rate = round_significant(float(suggested), 3)
    for p in plist:
        if p.path == LR and not p.is_range:
            in_grid = any(isinstance(c, (int, float)) and not isinstance(c, bool) and math.isclose(c, rate)
                          for c in p.choices)
            if not in_grid:
                p.choices = [*p.choices, rate]
            return {**rtest, "suggested": rate, "label": variant_label({LR: rate}, [LR]), "in_grid": in_grid}
    return rtest


def _expect(e, plist, src: str, errors: list[str], tune: str | None = None, range_test: dict | None = None):
    where = f"{src}: claim: expect"
    if not isinstance(e, dict):
        errors.append(f"{where}: must be a mapping such as {{metric: test_acc, by: model.activation, "
                      f"better: relu, than: sigmoid}}, got {shown(e)}")
        return {}, []
    out = {}
    m = e.get("metric")
    comp = metrics.get(m) if isinstance(m, str) and m in metrics else None
    own = set(comp.options) if comp else set()  # the metric's options (its signature) sit beside metric:
    for k in e:
        if k not in EXPECT_KEYS and k not in own:
            takes = [k2 for k2 in metrics.names() if k in metrics.get(k2).options]
            hint = f" (only the metric{'s' if len(takes) > 1 else ''} {', '.join(takes)} take{'' if len(takes) > 1 else 's'} " \
                   f"a {k})" if takes else ""
            errors.append(f"{where}: {printable(k)}: " + unknown_key_message(k, [*EXPECT_KEYS, *own]) + hint)
    if comp is None:
        errors.append(f"{where}: metric: unknown metric {shown(m)}; choose from {', '.join(metrics.names())}"
                      f"{did_you_mean(m, metrics.names()) if isinstance(m, str) else ''}")
    else:
        opts = check_options(comp.options, {k: e[k] for k in own if k in e}, where, errors, what="option",
                             owner=f"claim metric '{m}'")
        out.update(opts or {})
    out["metric"] = m
    by = e.get("by")
    by = [by] if isinstance(by, str) else by
    paths = [p.path for p in plist]
    variants: list = []
    if not isinstance(by, list) or not by or not all(isinstance(b, str) for b in by):
        errors.append(f"{where}: by: must be the param path whose values are the variants (or a list of them), "
                      f"got {shown(e.get('by'))}")
        by = []
    else:
        for b in by:
            if b not in paths:
                errors.append(f"{where}: by: {printable(b)} is not a param of the sweep; choose from "
                              f"{', '.join(paths) or '(no params)'}{did_you_mean(b, paths)}")
        for p in plist:
            if p.path in by or p.path == tune:
                continue
            if p.is_range or len(p.choices) > 1:
                errors.append(f"{where}: by: the sweep also varies {p.path}; put it in by (a list), tune it "
                              "(claim: tune), or fix it")
        if tune in by:
            errors.append(f"{src}: claim: tune: {tune} is also in expect: by; a param is either the variants or "
                          "tuned for each of them")
        if range_test is not None and by != [LR]:
            errors.append(f"{src}: claim: range_test: compares the range test's rate with the grid's rates, so "
                          f"expect: by must be {LR}, got {', '.join(by)}")
        if range_test is not None and tune:
            errors.append(f"{src}: claim: range_test and tune cannot be combined")
        if not errors and plist:
            variants = list(dict.fromkeys(variant_label(v, by) for v in grid_points(plist)))
    out["by"] = by
    forms = [f for f in EXPECT_FORMS if f[0] in e]
    if len(forms) != 1:
        errors.append(f"{where}: give exactly one of order: [v1, v2, ...], better: v with than: w, below: x with "
                      "for: v, above: x with for: v, same: [v, w] with within: x")
        return out, variants
    form = forms[0]
    missing = [k for k in form if k not in e]
    if missing:
        errors.append(f"{where}: {form[0]} needs {', '.join(missing)}")
        return out, variants

    names = [*variants, *(ALIASES if range_test is not None else ())]

    def known(v, key):
        if not isinstance(v, str):
            v = variant_label({"x": v}, ["x"])
        if variants and v not in names:
            errors.append(f"{where}: {key}: {printable(v)} is not a variant; the variants are "
                          f"{', '.join(names)}{did_you_mean(v, names)}")
        return v

    if form == ("order",):
        order = e["order"]
        if not isinstance(order, list) or len(order) < 2:
            errors.append(f"{where}: order: must list at least two variants, best first, got {shown(order)}")
        else:
            out["order"] = [known(v, "order") for v in order]
            if len(set(out["order"])) != len(out["order"]):
                errors.append(f"{where}: order: lists a variant twice")
    elif form == ("same", "within"):
        same, tol = e["same"], e["within"]
        if not isinstance(same, list) or len(same) != 2:
            errors.append(f"{where}: same: must list the two variants that should score the same, got {shown(same)}")
        else:
            out["same"] = [known(v, "same") for v in same]
            if out["same"][0] == out["same"][1]:
                errors.append(f"{where}: same names one variant twice")
        if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not math.isfinite(tol) or tol <= 0:
            errors.append(f"{where}: within: must be a number > 0 (the largest difference that counts as the "
                          f"same), got {shown(tol)}")
        out["within"] = tol
    elif form == ("better", "than"):
        if isinstance(e["better"], list):  # several variants, each better than the one of than
            if not e["better"]:
                errors.append(f"{where}: better: an empty list; name the variants that should beat {e['than']}")
            out["better"] = [known(v, "better") for v in e["better"]]
        else:
            out["better"] = known(e["better"], "better")
        out["than"] = known(e["than"], "than")
        if out["than"] in (out["better"] if isinstance(out["better"], list) else [out["better"]]):
            errors.append(f"{where}: better and than name the same variant")
    else:
        side = form[0]
        x = e[side]
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            errors.append(f"{where}: {side}: must be a finite number, got {shown(x)}")
        out[side] = float(x) if isinstance(x, (int, float)) else x
        out["for"] = known(e["for"], "for")
    return out, variants


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
