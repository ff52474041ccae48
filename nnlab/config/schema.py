"""YAML -> validated, fully resolved Config.

``load_config(path, overrides)`` reads a YAML file safely (``1e-3`` is a float,
duplicate keys are errors), follows ``extends:``, applies ``--set`` overrides,
and validates everything at once.  Every problem becomes one line naming the
file, the dotted key, the bad value and what is allowed; they are raised
together as one ConfigError before anything is written.

The resolved config has every default filled in; dumping it and loading it back
gives the same config, which is how a run folder's config.yaml replays a run.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

import yaml

from nnlab import data
from nnlab.components import activations, averaging, initializers, optimizers, schedules
from nnlab.config.loader import load_with_extends, parse_yaml
from nnlab.data.augment import check_spec
from nnlab.errors import ConfigError
from nnlab.metrics import METRICS
from nnlab.options import (Fraction, Gt, Invalid, Le, NonNegative, NonNegativeInt, Positive, PositiveInt, check_options,
                           check_value, is_number, schema, unknown_key_message)
from nnlab.text import printable, shown

# ---------------------------------------------------------------- schema of the plain fields
# Each section is a function whose keyword-only parameters are its keys, like a component:
# the signature is the schema (nnlab.options.check_options reads it).

Metric = Literal[METRICS]  # the four recorded metrics (nnlab.metrics)

# Upper bounds where a bigger value would not fail but hang or exhaust memory without a word.
MAX_EPOCHS = 1_000_000
MAX_WIDTH = 100_000  # units in one hidden layer
MAX_NAME_LENGTH = 200  # the run folder is '<YYYY-MM-DD_HH-MM-SS>_<name>[-NNNN]': under 255 bytes
Epochs = Annotated[int, Gt(0), Le(MAX_EPOCHS)]
Width = Annotated[int, Gt(0), Le(MAX_WIDTH)]


def data_section(*, name: str = "mnist1d", val_fraction: Fraction = 0.1, preprocess: Any = "standardize",
                 augment: Any = None, task: Literal["auto", "classification", "regression"] = "auto"):
    """data: (plus the data set's own options, checked by its loader's signature; task: auto reads it from the
    labels, classification or regression says it, kept in the resolved config only when not auto)"""


def augment_section(*, noise: Optional[NonNegative] = None, shift: Optional[NonNegativeInt] = None,
                    scale: Optional[list[Positive]] = None, mixup: Optional[NonNegative] = None):
    """data.augment: training batches only (nnlab.data.augment); null or 0 = off"""


def model_section(*, hidden: list[Width] = (100, 100), activation: Any = "relu", init: Any = "he_normal",
                  dropout: Any = 0.0, batch_norm: Any = False):
    """model:"""


def train_section(*, epochs: Epochs = 100, batch_size: Any = 100, shuffle: bool = True,
                  optimizer: Any = {"name": "adam", "lr": 1e-3}, schedule: Any = "constant",  # noqa: B006
                  regularization: Any = None, grad_clip: Any = None, early_stopping: Any = None,
                  ensemble: Any = None, averaging: Any = None):
    """train: (batch_size: an integer >= 1 or 'full', checked in validate() for a clearer message;
    averaging: null or {method: ema|swa, ...}, the options of nnlab.components.averaging's EMA and SWA)"""


def regularization_section(*, l1: NonNegative = 0.0, l2: NonNegative = 0.0, decay: NonNegative = 0.0,
                           biases: bool = False, max_norm: Optional[Positive] = None):
    """train.regularization: on the Dense weights (nnlab.components.regularizers)

    l1        adds l1 sum|w| to the loss: gradient l1 sign(w)
    l2        adds (l2/2) sum w^2 to the loss: gradient l2 w (Hung-yi Lee's convention; for plain SGD
              the step is w <- (1 - lr l2) w - lr dL/dw, the same as decay: l2)
    decay     decoupled weight decay for any optimizer, as torch.optim.AdamW: w <- w - lr_t decay w before
              the optimizer's update, lr_t the scheduled rate; not a loss term, so for adaptive optimizers
              (adam, rmsprop, ...) it is not L2 (Loshchilov & Hutter 2019).  An optimizer with its own
              weight_decay (adamw) takes one or the other, not both
    biases    true: l1, l2 and decay reach the Dense biases too (CS224n 2.2: they need not); batch-norm
              gamma/beta and PReLU slopes are never regularized, and neither are the biases by an
              optimizer's own weight_decay
    max_norm  rescales each unit's incoming weight vector to norm <= max_norm after every step
    """


def grad_clip_section(*, norm: Optional[Positive] = None, value: Optional[Positive] = None):
    """train.grad_clip: exactly one of norm or value"""


def early_stopping_section(*, metric: Metric = "val_loss", patience: PositiveInt = 10,
                           min_delta: NonNegative = 0.0, restore_best: bool = True):
    """train.early_stopping:"""


MAX_MEMBERS = 100


def ensemble_section(*, members: Optional[Annotated[int, Gt(1), Le(MAX_MEMBERS)]] = None,
                     snapshots: Optional[Annotated[int, Gt(1), Le(MAX_MEMBERS)]] = None):
    """train.ensemble: exactly one of members (independent runs, seeds seed, seed+1, ...) or snapshots
    (the weights at the ends of the last cycles of a warm_restart or cyclic schedule)"""


def dropout_section(*, rate: Union[float, list[float]] = 0.0,
                    mode: Literal["inverted", "classic", "unscaled"] = "inverted"):
    """model.dropout: rate = drop probability p (one, or one per hidden layer)

    inverted  training x mask / (1-p), test x (CS231n; the default)
    classic   training x mask, test (1-p) x (Hung-yi Lee's notes); either way E[training out] = test out
    unscaled  training x mask, test x: a deliberately WRONG mode for the gallery, the mistake CS224n 2.3
              warns about (the test-time output must match the training-time expectation)
    """


def batch_norm_section(*, momentum: Fraction = 0.9, eps: Positive = 1e-5):
    """model.batch_norm:"""


SCHEMAS = {name: schema(fn) for name, fn in {
    "data": data_section, "model": model_section, "train": train_section,
    "train.regularization": regularization_section, "train.grad_clip": grad_clip_section,
    "train.early_stopping": early_stopping_section, "train.ensemble": ensemble_section,
    "model.dropout": dropout_section, "model.batch_norm": batch_norm_section, "data.augment": augment_section}.items()}
_TOP_KEYS = {"name", "seed", "dtype", "data", "model", "train"}


def component_defaults() -> dict[str, Any]:
    """Dotted key -> default component of every section key that names a component.

    Read from the section signatures: an untyped key whose default is a component name
    or a {name: ...} mapping, e.g. {'train.optimizer': {'name': 'adam', 'lr': 0.001},
    'train.schedule': 'constant', 'model.init': 'he_normal', ...}.
    """
    out = {}
    for sec, options in SCHEMAS.items():
        for key, opt in options.items():
            d = opt.default
            if opt.annotation is Any and (isinstance(d, str) or (isinstance(d, dict) and "name" in d)):
                out[f"{sec}.{key}"] = d
    return out


# ---------------------------------------------------------------- --set overrides


def apply_override(data: dict, assignment: str, defaults: dict | None = None) -> None:
    """Apply one ``--set a.b.c=value`` (value parsed as YAML) to the raw config mapping.

    A missing intermediate key that names a component (train.optimizer, train.schedule,
    model.init, model.activation, data.preprocess) starts from the section's default
    component, so ``--set train.schedule.warmup=2`` on a config without a schedule means
    the default schedule with warmup 2.  ``defaults`` maps such dotted keys to
    their defaults (component_defaults() when not given).
    """
    if "=" not in assignment:
        raise ConfigError(f"--set {printable(assignment)}: expected KEY=VALUE, e.g. --set train.optimizer.lr=0.01")
    key, _, text = assignment.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {printable(assignment)}: the key must be a dotted path such as train.epochs")
    value = parse_yaml(text, f"--set {assignment}") if text.strip() else None
    if key == "data.path" and isinstance(value, str) and value:
        value = str(Path(os.path.expanduser(value)).resolve())
    set_key(data, key, value, defaults, f"--set {printable(assignment)}")


def apply_overrides(data: dict, overrides: list[str] | tuple | dict) -> None:
    """Apply ``--set`` texts, or a mapping of dotted keys to values (a value as it is, not parsed: the Python
    API's ``overrides={"train.optimizer.lr": 0.01}``), to a raw config mapping; data.path made absolute."""
    defaults = component_defaults()
    if not isinstance(overrides, dict):
        for item in overrides:
            apply_override(data, item, defaults)
        return
    for key, value in overrides.items():
        where = f"overrides: {printable(str(key))}"
        if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"{where}: a key must be a dotted path such as train.optimizer.lr")
        if key == "data.path" and isinstance(value, (str, os.PathLike)) and str(value):
            value = str(Path(os.path.expanduser(value)).resolve())
        set_key(data, key, plain(value), defaults, where)


def plain(value: Any) -> Any:
    """A value as a config holds it: tuples as lists, numpy numbers and arrays as Python numbers and lists,
    mappings and lists copied (the Python API takes ``hidden=(64, 64)`` or ``lr=np.float32(0.01)``)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if type(value).__module__ == "numpy":
        return plain(value.tolist()) if hasattr(value, "tolist") else value
    return copy.deepcopy(value)


def set_key(data: dict, key: str, value: Any, defaults: dict | None = None, where: str = "") -> None:
    """Set the dotted ``key`` of a raw config mapping to ``value``, creating the mappings on the way.

    A bare component name on the way gains options (adam -> {name: adam}); a missing component
    starts from its section default (see apply_override).  A non-mapping on the way is one
    ConfigError line starting with ``where``.
    """
    if defaults is None:
        defaults = component_defaults()
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part)
        if isinstance(nxt, str):  # a bare component name gains options: adam -> {name: adam, ...}
            nxt = node[part] = {"name": nxt}
        elif nxt is None:
            default = defaults.get(".".join(parts[: i + 1]))
            nxt = node[part] = {"name": default} if isinstance(default, str) else copy.deepcopy(default or {})
        elif not isinstance(nxt, dict):
            raise ConfigError(
                f"{where}: '{printable('.'.join(parts[: i + 1]))}' is {nxt!r}, not a mapping with keys"
            )
        node = nxt
    node[parts[-1]] = value


@dataclass
class Config:
    """A validated config with every default filled in (plain dicts inside)."""

    name: str
    seed: int
    dtype: str
    data: dict
    model: dict
    train: dict
    source: str = ""
    notes: list = field(default_factory=list)  # one-line remarks for the user, e.g. "x.yaml is empty"

    def as_dict(self) -> dict:
        return {"name": self.name, "seed": self.seed, "dtype": self.dtype,
                "data": self.data, "model": self.model, "train": self.train}

    def dump(self) -> str:
        return yaml.safe_dump(self.as_dict(), sort_keys=False, default_flow_style=None)


def load_config(path: str | os.PathLike, overrides: list[str] | tuple | dict = ()) -> Config:
    """Read, merge, override and validate one config file.  ``overrides``: ``--set`` texts ('KEY=VALUE', the value
    YAML), or a mapping of dotted keys to values (the Python API's)."""
    path = Path(path)
    notes: list[str] = []
    raw = load_with_extends(path, notes=notes)
    if notes:  # named as the user wrote it, not resolved
        notes = [f"{path} is empty; all defaults are used" + (" except the --set values" if overrides else "")]
    apply_overrides(raw, overrides)
    raw.setdefault("name", path.stem)
    cfg = validate(raw, source=str(path))
    cfg.notes.extend(notes)
    return cfg


def validate(raw: dict, source: str = "config") -> Config:
    """Validate a raw mapping; raise one ConfigError listing every problem."""
    errors: list[str] = []
    name, seed, dtype = _top_level(raw, source, errors)
    sections = {sec: _plain_section(raw, sec, errors) for sec in ("data", "model", "train")}
    d = _resolve_data(sections["data"], errors) if sections["data"] is not None else None
    m = _resolve_model(sections["model"], errors) if sections["model"] is not None else None
    t = _resolve_train(sections["train"], d, m, errors) if sections["train"] is not None else None
    if errors:
        raise ConfigError(lines=[f"{source}: {e}" for e in errors])
    return Config(name=name, seed=seed, dtype=dtype, data=d, model=m, train=t, source=source)


def _top_level(raw: dict, source: str, errors: list[str]):
    for key in raw:
        if key == "extends":  # the loader took the file's own; this one came from --set
            errors.append("extends: names the file a config builds on, so it belongs in the config file "
                          "itself (its top level); it cannot be given with --set")
        elif key not in _TOP_KEYS:
            errors.append(f"{printable(key)}: " + unknown_key_message(key, _TOP_KEYS | {"extends"}))
    name = raw.get("name", Path(source).stem)
    problem = run_name_problem(name)
    if problem:
        errors.append(f"name: {problem}")
    seed = raw.get("seed", 0)
    try:  # the same number rule as every other whole-number option (1.0 -> 1, '1' is text)
        seed = check_value(seed, NonNegativeInt)
    except Invalid as exc:
        errors.append(f"seed: must be a whole number >= 0, got {shown(seed)}{exc.hint}")
    dtype = raw.get("dtype", "float32")
    if dtype not in ("float32", "float64"):
        errors.append(f"dtype: must be float32 or float64, got {dtype!r}")
    return name, seed, dtype


def _plain_section(raw: dict, sec: str, errors: list[str]) -> dict | None:
    """The plain keys of data/model/train checked against their schema (components come later)."""
    value = raw.get(sec, {})
    if value is None:
        value = {}
    if not isinstance(value, dict):
        errors.append(f"{sec}: must be a mapping of keys, got {value!r}")
        return None
    known = SCHEMAS[sec]
    extra = {}
    if sec == "data":  # the loader's own options are checked by its registry
        extra = {k: v for k, v in value.items() if k not in known}
        value = {k: v for k, v in value.items() if k in known}
    # a bad plain value is reported, and the rest of the section (its components) is still checked
    n_before = len(errors)
    out = check_options(known, value, sec, errors)
    if out is None:
        bad = {e.split(":", 1)[0].split(".")[1] for e in errors[n_before:]}
        out = check_options(known, {k: v for k, v in value.items() if k not in bad}, sec, [])
    if out is not None:
        out.update(extra)
    return out


def _resolve_data(d: dict, errors: list[str]) -> dict:
    known = set(SCHEMAS["data"])
    loader_spec = {"name": d["name"], **{k: v for k, v in d.items() if k not in known}}
    resolved = data.datasets.resolve(loader_spec, "data", errors)
    if resolved is None:
        return d
    out = {"name": d["name"], **{k: v for k, v in resolved.items() if k != "name"}, "val_fraction": d["val_fraction"]}
    if d["task"] != "auto":  # configs that leave it alone resolve as they always did
        out["task"] = d["task"]
    out["preprocess"] = data.preprocessors.resolve(d["preprocess"], "data.preprocess", errors)
    out["augment"] = _resolve_augment(d["augment"], out["preprocess"], errors)
    return out


def _resolve_augment(value, preprocess: dict | None, errors: list[str]) -> dict | None:
    if value is None:
        return None
    spec = _sub(value, "data.augment", errors, "null or a mapping {noise, shift, scale, mixup}")
    if spec is not None:
        errors.extend(check_spec(spec, (preprocess or {}).get("name")))
    return spec


def _resolve_model(m: dict, errors: list[str]) -> dict:
    m["activation"] = activations.activations.resolve(m["activation"], "model.activation", errors)
    m["init"] = initializers.initializers.resolve(m["init"], "model.init", errors)
    m["dropout"] = _resolve_dropout(m["dropout"], len(m["hidden"]), errors)
    m["batch_norm"] = _resolve_batch_norm(m["batch_norm"], errors)
    return m


def _resolve_train(t: dict, d: dict | None, m: dict | None, errors: list[str]) -> dict:
    bs = t["batch_size"]
    if isinstance(bs, float) and bs.is_integer():  # the number rule: 128.0 -> 128
        bs = t["batch_size"] = int(bs)
    if bs != "full" and (isinstance(bs, bool) or not isinstance(bs, int) or bs < 1):
        errors.append(f"train.batch_size: must be an integer >= 1 (1 is pure SGD) or 'full' "
                      f"(batch gradient descent), got {shown(bs)}"
                      + (" (text; write it without quotes)" if isinstance(bs, str) and is_number(bs) else ""))
    elif bs == 1 and m is not None and m.get("batch_norm"):
        errors.append("train.batch_size: batch normalization needs batches of at least 2 rows (a single row's "
                      "variance is 0), got 1; raise batch_size or set model.batch_norm: false")
    t["optimizer"] = optimizers.optimizers.resolve(t["optimizer"], "train.optimizer", errors)
    t["schedule"] = schedules.schedules.resolve(t["schedule"], "train.schedule", errors)
    t["regularization"] = _sub(t["regularization"] or {}, "train.regularization", errors, "a mapping")
    if t["optimizer"] is not None and t["regularization"] is not None:
        errors.extend(_decay_conflicts(t["optimizer"], t["regularization"]))
    gc = t["grad_clip"]
    if gc is not None:
        gc = t["grad_clip"] = _sub(gc, "train.grad_clip", errors, "null, {norm: c} or {value: v}")
        if gc is not None and (gc["norm"] is None) == (gc["value"] is None):
            errors.append("train.grad_clip: give exactly one of 'norm' (global norm) or 'value' (per entry)")
    es = t["early_stopping"]
    if es is True:
        es = {}
    t["early_stopping"] = None if es is None or es is False else \
        _sub(es, "train.early_stopping", errors, "true, false or {metric, patience, min_delta, restore_best}")
    en = t["ensemble"]
    if en is not None:
        en = t["ensemble"] = _sub(en, "train.ensemble", errors, "null, {members: n} or {snapshots: n}")
        if en is not None and (en["members"] is None) == (en["snapshots"] is None):
            errors.append("train.ensemble: give exactly one of 'members' (independent runs) or 'snapshots' "
                          "(the ends of one run's learning-rate cycles)")
            en = None
        elif en is not None and en["snapshots"] is not None and t["schedule"] is not None \
                and not schedules.schedules.get(t["schedule"]["name"]).obj.cyclic:
            cyclic = [c.name for c in schedules.schedules if c.obj.cyclic]
            errors.append(f"train.ensemble.snapshots: a snapshot ensemble takes the weights at the ends of "
                          f"learning-rate cycles; use a cyclic train.schedule ({' or '.join(cyclic)}), not "
                          f"{t['schedule']['name']}")
    if t["early_stopping"] and d is not None and d.get("val_fraction", 0) == 0 \
            and t["early_stopping"]["metric"].startswith("val_"):
        errors.append(f"train.early_stopping.metric: {t['early_stopping']['metric']} needs a validation "
                      "split, but data.val_fraction is 0; use a train_ metric or set val_fraction > 0")

    t["averaging"] = averaging.resolve(t["averaging"], "train.averaging", errors)
    if t["optimizer"] is not None:  # rules an optimizer sets for the rest of the config (lbfgs: full batch, ...)
        opt = optimizers.optimizers.get(t["optimizer"]["name"]).obj
        rules = getattr(opt, "config_problems", None)
        errors.extend(rules(t, m) if rules else [])
        if opt.needs_closure:
            errors.extend(_closure_conflicts(t["optimizer"]["name"], t, d))
    return t


def _decay_conflicts(opt: dict, reg: dict) -> list[str]:
    """An optimizer's own weight_decay (adamw's) beside train.regularization's decay or biases: two decays of
    the weights, or biases the optimizer's decay would not reach."""
    own = opt.get("weight_decay") or 0.0
    if not own:
        return []
    default = optimizers.optimizers.get(opt["name"]).defaults().get("weight_decay")
    said = f"train.optimizer.weight_decay is {own}" + (f", {opt['name']}'s default" if own == default else "")
    if reg["decay"]:
        return [f"train.regularization.decay: two decoupled weight decays: {opt['name']} decays the weights itself "
                f"({said}); set one of them to 0, got decay: {reg['decay']}"]
    if reg["biases"]:
        return [f"train.regularization.biases: true reaches l1, l2 and decay, not {opt['name']}'s own weight decay "
                f"(weights only; {said}); to decay the biases too use optimizer adam with "
                f"train.regularization.decay: {own}"]
    return []


def _closure_conflicts(name: str, t: dict, d: dict | None) -> list[str]:
    """What an optimizer that evaluates one full-batch function many times per step (``needs_closure``, as
    L-BFGS) rules out besides its own rules."""
    out = []
    if t.get("averaging"):
        out.append(f"train.averaging: {name} takes few steps of its own length, not the small noisy ones weight "
                   "averaging smooths; set averaging: null")
    if (t.get("ensemble") or {}).get("snapshots"):
        out.append(f"train.ensemble.snapshots: {name} has no learning-rate cycles to snapshot; use members")
    decay = (t.get("regularization") or {}).get("decay")
    if decay:
        out.append(f"train.regularization.decay: {name} follows the gradient of one loss, and decoupled decay "
                   f"moves the weights outside it; use l2 (the same decay as a loss term), got decay: {decay}")
    aug = (d or {}).get("augment")
    if aug:
        out.append(f"data.augment: {name} needs the same batch at every evaluation of its loss, but "
                   "augmentation draws new noise each time; set augment: null")
    return out


def run_name_problem(name) -> str | None:
    """What is wrong with a run name (config ``name:`` or ``nnlab train --name``), or None if it is fine."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.+-]+", name or ""):
        return (f"must be ASCII letters, digits, '_', '-', '.' or '+' (it names the run folder), got "
                f"{shown(name)}")
    if len(name) > MAX_NAME_LENGTH:
        return (f"must be at most {MAX_NAME_LENGTH} characters (it names the run folder), "
                f"got {len(name)}: {name[:20]}...")
    return None


def _sub(value, where: str, errors: list[str], allowed: str):
    """Validate a nested mapping (regularization, grad_clip, ...) against its section schema."""
    if not isinstance(value, dict):
        errors.append(f"{where}: must be {allowed}, got {value!r}")
        return None
    return check_options(SCHEMAS[where], value, where, errors)


def _resolve_dropout(value, n_hidden: int, errors: list[str]) -> dict:
    if isinstance(value, (int, float, list)) and not isinstance(value, bool):
        value = {"rate": value}
    if value is None or value is False:
        value = {"rate": 0.0}
    if not isinstance(value, dict):
        errors.append(f"model.dropout: must be a drop probability, a list (one per hidden layer) "
                      f"or {{rate, mode}}, got {value!r}")
        return None
    out = check_options(SCHEMAS["model.dropout"], value, "model.dropout", errors)
    if out is None:
        return None
    rates = out["rate"] if isinstance(out["rate"], list) else [out["rate"]]
    if isinstance(out["rate"], list) and len(rates) != n_hidden:
        errors.append(f"model.dropout.rate: give one rate per hidden layer ({n_hidden}), got {len(rates)}")
    if any(not 0 <= r < 1 for r in rates):
        errors.append(f"model.dropout.rate: each drop probability must be in [0, 1), got {out['rate']}")
    return out


def _resolve_batch_norm(value, errors: list[str]):
    if value is None or value is False:
        return False
    if value is True:
        value = {}
    if not isinstance(value, dict):
        errors.append(f"model.batch_norm: must be true, false or {{momentum, eps}}, got {value!r}")
        return False
    return check_options(SCHEMAS["model.batch_norm"], value, "model.batch_norm", errors) or False

