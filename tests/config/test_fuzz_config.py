"""Hostile configs: any value under any key gives a Config or ConfigError lines, never another exception."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlab.config import validate
from nnlab.config.loader import parse_yaml
from nnlab.config.schema import apply_override
from nnlab.errors import ConfigError, NnlabError

BASE = {
    "name": "f", "seed": 0,
    "data": {"name": "spiral", "n_samples": 60, "val_fraction": 0.2},
    "model": {"hidden": [4], "activation": {"name": "leaky_relu", "slope": 0.1}, "init": "he_normal",
              "dropout": {"rate": 0.1, "mode": "inverted"}, "batch_norm": {"momentum": 0.9}},
    "train": {"epochs": 2, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.01},
              "schedule": {"name": "plateau", "patience": 1, "metric": "val_loss"},
              "regularization": {"l2": 0.001}, "grad_clip": {"norm": 1.0},
              "early_stopping": {"metric": "val_loss", "patience": 3}},
}

values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12) | st.sampled_from(["full", "relu", "adam", "val_acc", "1e-3", "", "[", "nan"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


def paths(d, prefix=()):
    """Every key path of a nested mapping."""
    for k, v in d.items():
        yield (*prefix, k)
        if isinstance(v, dict):
            yield from paths(v, (*prefix, k))


PATHS = list(paths(BASE))


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(st.tuples(st.sampled_from(PATHS), values), min_size=1, max_size=3))
def test_any_value_under_any_key_is_a_config_or_one_line_errors(changes):
    raw = copy.deepcopy(BASE)
    for path, value in changes:
        node = raw
        for k in path[:-1]:
            if not isinstance(node.get(k), dict):
                break
            node = node[k]
        else:
            node[path[-1]] = value
    try:
        validate(raw, source="fuzz.yaml")
    except ConfigError as exc:
        assert exc.lines and all(line.startswith("fuzz.yaml: ") and "\n" not in line for line in exc.lines)


@settings(max_examples=200, deadline=None)
@given(key=st.sampled_from([".".join(p) for p in PATHS] + ["train.optimizer.beta1", "model.init.std",
                                                             "a.b.c", "train..x"]),
       text=st.text(max_size=20))
def test_any_set_override_is_a_config_or_one_line_errors(key, text):
    raw = copy.deepcopy(BASE)
    try:
        apply_override(raw, f"{key}={text}")
        validate(raw, source="fuzz.yaml")
    except NnlabError as exc:
        assert exc.lines and all("\n" not in line for line in exc.lines)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80))
def test_any_yaml_text_parses_or_gives_one_line(text):
    try:
        parse_yaml(text, "fuzz.yaml")
    except ConfigError as exc:
        assert len(exc.lines) == 1 and exc.lines[0].startswith("fuzz.yaml")


@pytest.mark.parametrize("text", ["a: &x [*x]", "a: !!python/object:os.system x", "? [a, b]\n: 1", "a: !!binary x"])
def test_yaml_tricks_are_refused_in_one_line(text):
    try:
        data = parse_yaml(text, "t.yaml")
    except ConfigError as exc:
        assert len(exc.lines) == 1
    else:  # parsed safely; then validation turns it into errors, never an exception
        with pytest.raises(ConfigError):
            validate(data if isinstance(data, dict) else {"data": data}, source="t.yaml")


def _plausible(annotation):
    """Mostly values of the option's own type (so that many configs validate), sometimes anything."""
    import typing

    base = annotation
    while typing.get_origin(base) is typing.Annotated:
        base = typing.get_args(base)[0]
    if typing.get_origin(base) is typing.Literal:
        typed = st.sampled_from(typing.get_args(base))
    elif base is bool:
        typed = st.booleans()
    elif typing.get_origin(base) in (list, tuple):
        typed = st.lists(st.integers(0, 6), min_size=1, max_size=3)
    elif base is int:
        typed = st.sampled_from([1, 2, 3])
    else:  # inside every bound the options use: > 0, >= 0, < 1
        typed = st.sampled_from([0.05, 0.5, 0.9])
    junk = st.none() | st.integers(-3, 50) | st.text(max_size=3)
    return st.sampled_from([False] * 19 + [True]).flatmap(lambda bad: junk if bad else typed)


def _component(registry):
    """A component of a registry with random values for a random subset of its options."""
    names = registry.names()

    @st.composite
    def build(draw):
        comp = registry.get(draw(st.sampled_from(names)))
        spec = {"name": comp.name}
        for name, opt in comp.options.items():
            if opt.required or draw(st.integers(0, 2)) == 0:
                spec[name] = draw(_plausible(opt.annotation))
        return spec

    return build()


TRAINED: list = []


def _registries():
    from nnlab.components.activations import activations
    from nnlab.components.initializers import initializers
    from nnlab.components.optimizers import optimizers
    from nnlab.components.schedules import schedules

    return activations, initializers, optimizers, schedules


@pytest.mark.slow
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_config_that_validates_trains_without_an_exception(data):
    """Random components with random options: either ConfigError lines, or a run that ends with a status."""
    from nnlab.data import load_dataset
    from nnlab.train.trainer import train

    act, init, opt, sched = _registries()
    raw = {"name": "f", "seed": 0, "data": {"name": "spiral", "n_samples": 40, "val_fraction": 0.25},
           "model": {"hidden": data.draw(st.lists(st.integers(1, 4), max_size=2)),
                     "activation": data.draw(_component(act)), "init": data.draw(_component(init)),
                     "dropout": data.draw(st.sampled_from([0.0, 0.3])),
                     "batch_norm": data.draw(st.booleans())},
           "train": {"epochs": 2, "batch_size": data.draw(st.sampled_from([1, 7, 7, "full"])),
                     "optimizer": data.draw(_component(opt)), "schedule": data.draw(_component(sched)),
                     "grad_clip": data.draw(st.sampled_from([None, {"norm": 1.0}, {"value": 0.5}])),
                     "regularization": {"l1": data.draw(st.sampled_from([0.0, 0.01])), "max_norm": None}}}
    try:
        cfg = validate(raw, source="fuzz.yaml")
    except ConfigError:
        return
    TRAINED.append(cfg.name)
    result = train(cfg, load_dataset(cfg.data, cfg.dtype))
    assert result.status in ("completed", "diverged")


@pytest.mark.slow
def test_the_random_configs_did_train_some_runs():
    """Guard the fuzz test above against validating nothing (it runs first, in file order)."""
    assert len(TRAINED) >= 20, len(TRAINED)
