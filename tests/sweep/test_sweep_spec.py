"""Sweep files and the samplers: expansion, draws, validation (no training here)."""

from __future__ import annotations

import itertools
import math
import re
import tempfile

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from nnlab.cli import main
from nnlab.errors import ConfigError
from nnlab.sweep.space import GridSampler, RandomSampler, TPESampler
from nnlab.sweep.spec import Param, SweepSpec, grid_points, load_sweep, point_mapping, random_point
from nnlab.text import setting as value_text

BASE = {"name": "b", "data": {"name": "spiral", "n_samples": 120},
        "model": {"hidden": [8], "activation": "relu"},
        "train": {"epochs": 3, "batch_size": "full", "optimizer": {"name": "adam", "lr": 0.01, "beta1": 0.8}}}


def write(tmp_path, sweep: dict, name="s.yaml"):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    p = tmp_path / name
    p.write_text(yaml.safe_dump({"config": "base.yaml", **sweep}, sort_keys=False))
    return p


def test_grid_is_exactly_the_product_of_the_lists_first_param_slowest(tmp_path):
    p = write(tmp_path, {"method": "grid", "params": {"train.optimizer.lr": [0.1, 0.01],
                                                      "model.activation": ["relu", "elu", "tanh"],
                                                      "model.hidden": [[4], [8, 8]]}})
    spec = load_sweep(p)
    pts = list(grid_points(spec.params))
    expected = [{"train.optimizer.lr": a, "model.activation": b, "model.hidden": c}
                for a, b, c in itertools.product([0.1, 0.01], ["relu", "elu", "tanh"], [[4], [8, 8]])]
    assert pts == expected and spec.n_trials == 12
    assert GridSampler(spec).total == 12


def test_grid_points_of_a_range_with_num_log_linear_and_int():
    assert Param("a", low=1e-4, high=1e-1, log=True, num=4).grid_values() == [1e-4, 1e-3, 1e-2, 1e-1]
    assert Param("a", low=0.0, high=0.5, num=3).grid_values() == [0.0, 0.25, 0.5]
    assert Param("a", low=16, high=64, int=True, log=True, num=3).grid_values() == [16, 32, 64]
    assert Param("a", low=1, high=2, int=True, num=5).grid_values() == [1, 2]  # repeats dropped


def test_random_draws_are_reproducible_from_the_seed_and_independent_of_the_trial_count():
    params = [Param("lr", low=1e-5, high=1.0, log=True), Param("act", choices=["relu", "elu"])]
    a = [random_point(params, 7, i) for i in range(20)]
    b = [random_point(params, 7, i) for i in range(20)]
    assert a == b
    assert a != [random_point(params, 8, i) for i in range(20)]
    spec = SweepSpec("s", "random", "val_acc", 5, [0], 7, params, None, {})
    s = RandomSampler(spec)
    got = [s.next()[1] for _ in range(5)]
    assert got == a[:5] and s.next() is None


def test_random_draws_respect_ranges_and_the_log_scale():
    log = Param("lr", low=1e-4, high=1e-1, log=True)
    lin = Param("d", low=0.0, high=0.5)
    whole = Param("n", low=2, high=5, int=True)
    rng = np.random.default_rng(0)
    lv = np.array([log.sample(rng) for _ in range(4000)])
    dv = np.array([lin.sample(rng) for _ in range(4000)])
    nv = [whole.sample(rng) for _ in range(2000)]
    assert lv.min() >= 1e-4 and lv.max() <= 1e-1 and dv.min() >= 0 and dv.max() <= 0.5
    # log-uniform: each decade holds a third of the draws; uniform: 10^-2.5 splits them 0.3% / 99.7%
    for lo, hi in ((1e-4, 1e-3), (1e-3, 1e-2), (1e-2, 1e-1)):
        assert abs(np.mean((lv >= lo) & (lv < hi)) - 1 / 3) < 0.03
    assert abs(np.mean(dv < 0.25) - 0.5) < 0.03
    assert set(nv) == {2, 3, 4, 5} and all(isinstance(v, int) for v in nv)
    assert all(v == float(f"{v:.4g}") for v in lv[:100])  # 4 significant digits


def test_the_short_form_parses_ranges_and_choices(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    spec = load_sweep(tmp_path / "base.yaml", params=(
        "train.optimizer.lr=log:1e-4:1e-1", "model.activation=relu,elu", "model.hidden=[[4],[8,8]]",
        "train.epochs=int:2:5", "model.dropout=0:0.5", "train.batch_size=32"), method="random", trials=3,
        seeds="0,1")
    p = {q.path: q for q in spec.params}
    assert (p["train.optimizer.lr"].low, p["train.optimizer.lr"].high, p["train.optimizer.lr"].log) == (1e-4, 0.1, True)
    assert p["model.activation"].choices == ["relu", "elu"]
    assert p["model.hidden"].choices == [[4], [8, 8]]
    assert p["train.epochs"].int and (p["train.epochs"].low, p["train.epochs"].high) == (2, 5)
    assert p["model.dropout"].is_range and not p["model.dropout"].log
    assert p["train.batch_size"].choices == [32]
    assert spec.seeds == [0, 1] and spec.trials == 3 and spec.name == "b"
    grid = load_sweep(tmp_path / "base.yaml", params=("train.optimizer.lr=log:1e-3:1e-1:3",))
    assert grid.method == "grid" and grid.params[0].grid_values() == [1e-3, 1e-2, 1e-1]


def test_every_problem_is_reported_at_once_with_did_you_mean(tmp_path):
    p = write(tmp_path, {"methd": "grid", "metric": "val_acc", "params": {
        "train.optimizer.lr": {"low": -1.0, "high": 0.1},
        "model.activaton": ["relu"],
        "model.activation": ["relu", "relux"],
        "model.hidden": [[4], [0]]}})
    with pytest.raises(ConfigError) as e:
        load_sweep(p)
    lines = e.value.lines
    assert f"{p}: methd: unknown key 'methd'; choose from config, method, metric, name, params, points, prune, seed, seeds, " \
           "test, trials (did you mean 'method'?)" in lines
    assert f"{p}: params: train.optimizer.lr: must be greater than 0, got -1" in lines
    assert any(ln.startswith(f"{p}: params: model.activaton: unknown key 'activaton'") and "did you mean 'activation'"
               in ln for ln in lines)
    assert any("model.activation: unknown activation 'relux'" in ln for ln in lines)
    assert f"{p}: params: model.hidden: item 1 must be greater than 0, got [0]" in lines


@pytest.mark.parametrize("sweep, message", [
    ({"method": "grid", "params": {"train.optimizer.lr": {"low": 0.001, "high": 0.1}}},
     "params: train.optimizer.lr: a grid needs a list of values or a range with num"),
    ({"method": "bayes", "params": {"model.activation": ["relu"]}},
     "method: unknown method 'bayes'; choose from grid, random, tpe"),
    ({"metric": "val_accuracy", "params": {"model.activation": ["relu"]}},
     "metric: unknown metric 'val_accuracy'; choose from val_acc, val_loss, train_acc, train_loss (did you mean"),
    ({"params": {"train.optimizer.lr": {"low": 0.1, "high": 0.01}}}, "low (0.1) must be below high (0.01)"),
    ({"params": {"train.optimizer.lr": {"low": 0, "high": 0.1, "log": True}}}, "a log range needs low > 0"),
    ({"params": {"train.optimizer.lr": {"low": 0.001, "high": 0.1, "step": 2}}}, "unknown range key 'step'"),
    ({"params": {"model.activation": []}}, "needs at least one value to choose from"),
    ({"params": {"model.activation": ["relu", "relu"]}}, "the value 'relu' is listed twice"),
    ({"seeds": [0, 0], "params": {"model.activation": ["relu"]}}, "seeds: [0, 0] repeats a seed"),
    ({"seeds": 3, "params": {"model.activation": ["relu"]}}, "seeds: must be a list of whole numbers"),
    ({"trials": 0, "params": {"model.activation": ["relu"]}}, "trials: must be a whole number >= 1, got 0"),
    ({"prune": "hyperband", "params": {"model.activation": ["relu"]}}, "prune: unknown rule 'hyperband'"),
    ({"params": {}}, "params: nothing to search"),
    ({"data": {"name": "spiral"}, "params": {"model.activation": ["relu"]}}, None),  # a config, not a sweep file
])
def test_one_clear_line_per_problem(tmp_path, sweep, message):
    p = write(tmp_path, sweep)
    if message is None:
        with pytest.raises(ConfigError):
            load_sweep(p)
        return
    with pytest.raises(ConfigError) as e:
        load_sweep(p)
    assert any(message in ln for ln in e.value.lines), e.value.lines


def test_a_combination_that_is_invalid_is_found_before_anything_runs(tmp_path):
    # dropout as a per-layer list must match the number of hidden layers: [4] with two rates is invalid
    p = write(tmp_path, {"method": "grid", "params": {"model.hidden": [[4, 4], [4]],
                                                      "model.dropout.rate": [[0.1, 0.2]]}})
    with pytest.raises(ConfigError) as e:
        load_sweep(p)
    assert any("model.hidden=[4]" in ln and "dropout" in ln for ln in e.value.lines), e.value.lines


def test_switching_a_component_keeps_only_the_options_the_new_one_accepts():
    raw = point_mapping(BASE, {"train.optimizer.name": "sgd"})
    assert raw["train"]["optimizer"] == {"name": "sgd", "lr": 0.01}  # beta1 dropped, lr kept
    raw = point_mapping(BASE, {"train.optimizer.name": "momentum", "train.optimizer.momentum": 0.5})
    assert raw["train"]["optimizer"] == {"name": "momentum", "lr": 0.01, "momentum": 0.5}
    assert BASE["train"]["optimizer"]["beta1"] == 0.8  # the base is not touched


def test_cli_reports_bad_sweeps_in_one_line_each_and_writes_nothing(tmp_path):
    p = write(tmp_path, {"params": {"model.activaton": ["relu"]}})
    res = CliRunner().invoke(main, ["sweep", str(p), "--runs-dir", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert res.output.startswith("error: ") and "did you mean 'activation'" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "out").exists()
    res = CliRunner().invoke(main, ["sweep", str(tmp_path / "base.yaml"), "-p", "model.activation"])
    assert res.exit_code == 2 and "expected KEY=VALUES" in res.output
    res = CliRunner().invoke(main, ["sweep"])
    assert res.exit_code == 2 and "needs a sweep file or a config with -p params" in res.output
    res = CliRunner().invoke(main, ["sweep", "--resume", str(tmp_path / "nope")])
    assert res.exit_code == 1 and "no such sweep folder" in res.output


def test_a_val_metric_needs_a_validation_split(tmp_path):
    base = {**BASE, "data": {"name": "spiral", "n_samples": 120, "val_fraction": 0}}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    res = CliRunner().invoke(main, ["sweep", str(tmp_path / "base.yaml"), "-p", "model.activation=relu,elu",
                                    "--runs-dir", str(tmp_path / "out")])
    assert res.exit_code == 2 and "metric: val_acc needs a validation split" in res.output
    assert not (tmp_path / "out").exists()


def test_value_text_is_yaml_flow():
    assert [value_text(v) for v in ([100, 100], 0.001, "relu", True, 3)] == ["[100, 100]", "0.001", "relu", "true",
                                                                              "3"]


def _objective(v):
    """A cheap loss with a known optimum: lr 10^-2.5, dropout 0.1, activation elu."""
    return ((math.log10(v["lr"]) + 2.5) ** 2 + 4 * (v["dropout"] - 0.1) ** 2
            + {"relu": 0.3, "elu": 0.0, "tanh": 0.6, "sigmoid": 1.0}[v["act"]])


def _best_found(sampler_cls, seed: int, n: int = 30) -> float:
    params = [Param("lr", low=1e-5, high=1.0, log=True), Param("dropout", low=0.0, high=0.5),
              Param("act", choices=["relu", "elu", "tanh", "sigmoid"])]
    spec = SweepSpec("t", "tpe", "val_loss", n, [0], seed, params, None, {})
    with tempfile.TemporaryDirectory() as d:
        s = TPESampler(spec, d) if sampler_cls is TPESampler else sampler_cls(spec)
        best = math.inf
        while (nxt := s.next()) is not None:
            number, values = nxt
            y = _objective(values)
            best = min(best, y)
            s.tell(number, y, "completed")
    return best


@pytest.mark.slow
def test_tpe_finds_better_points_than_random_search_in_the_same_number_of_trials():
    seeds = range(8)
    rand = [_best_found(RandomSampler, s) for s in seeds]
    tpe = [_best_found(TPESampler, s) for s in seeds]
    # measured: random 0.206, tpe 0.070 on average over 10 seeds (30 trials each)
    assert sum(tpe) / len(tpe) < 0.6 * sum(rand) / len(rand), (tpe, rand)
    assert sum(t < r for t, r in zip(tpe, rand)) >= 5
    assert _best_found(TPESampler, 3) == _best_found(TPESampler, 3)  # reproducible from its seed


def test_the_test_key_is_best_or_all_and_all_reaches_sweep_yaml(tmp_path):
    p = write(tmp_path, {"method": "grid", "params": {"model.activation": ["relu", "tanh"]}})
    spec = load_sweep(p)
    assert spec.test == "best" and "test" not in spec.as_dict()
    p = write(tmp_path, {"method": "grid", "test": "all", "params": {"model.activation": ["relu", "tanh"]}})
    spec = load_sweep(p)
    assert spec.test == "all" and spec.as_dict()["test"] == "all"
    p = write(tmp_path, {"method": "grid", "test": "every", "params": {"model.activation": ["relu"]}})
    with pytest.raises(ConfigError) as e:
        load_sweep(p)
    assert e.value.lines == [f"{p}: test: must be best (only the chosen point sees the test set), all (every "
                             "run) or none (no run), got 'every'"]


POINTS = [{"model.activation": "tanh", "model.init": "xavier_uniform", "train.optimizer.lr": 0.01},
          {"model.activation": "relu", "model.init": "he_normal", "train.optimizer.lr": 0.003}]


def test_a_list_sweep_runs_its_points_in_order_and_writes_them_to_sweep_yaml(tmp_path):
    spec = load_sweep(write(tmp_path, {"points": POINTS, "test": "none"}))
    assert spec.method == "list" and spec.n_trials == 2 and spec.test == "none"
    assert [p.path for p in spec.params] == ["model.activation", "model.init", "train.optimizer.lr"]
    assert spec.params[0].choices == ["tanh", "relu"]  # the columns of trials.csv
    s = GridSampler(spec)
    assert [s.next(), s.next(), s.next()] == [(0, POINTS[0]), (1, POINTS[1]), None]
    d = yaml.safe_load(spec.dump())
    assert d["points"] == POINTS and "params" not in d and d["test"] == "none"
    cfg = spec.config(POINTS[1], 3, "x")
    assert (cfg.model["activation"]["name"], cfg.model["init"]["name"], cfg.train["optimizer"]["lr"], cfg.seed) == \
        ("relu", "he_normal", 0.003, 3)


@pytest.mark.parametrize("sweep, message", [
    ({"points": []}, "points: must be a list of mappings of dotted config keys to values such as "
                     "[{model.activation: tanh}, {model.activation: relu}], got []"),
    ({"points": [{"model.activation": "tanh"}, {"model.activation": "tanh"}]},
     "points: a point appears twice; each point is trained once per seed"),
    ({"points": [{"seed": 1}]}, "points: point 1: seed: a sweep trains every point once per seed: list them under "
                                "seeds: (e.g. seeds: [1, 2], or --seeds 1,2)"),
    ({"method": "list", "params": {"model.activation": ["relu"]}},
     "points: method list runs the points of a points: list (mappings of dotted keys to values); give them, or use "
     "method: grid with params:"),
    ({"method": "grid", "points": [{"model.activation": "tanh"}]},
     "points: only method list runs a list of points; remove method: grid, or give params: instead"),
    ({"points": [{"model.activation": "tanh"}], "params": {"model.hidden": [[4]]}},
     "points: a list sweep runs its points; it takes no params: as well (put every key in each point)"),
])
def test_a_bad_list_sweep_is_one_line_naming_the_point(tmp_path, sweep, message):
    p = write(tmp_path, sweep)
    with pytest.raises(ConfigError) as e:
        load_sweep(p)
    assert f"{p}: {message}" in e.value.lines


def test_a_list_point_that_is_not_a_valid_config_is_found_before_anything_runs(tmp_path):
    p = write(tmp_path, {"points": [{"model.activation": "tanh", "train.optimizer.lr": 0.01},
                                    {"model.activation": "relux", "train.optimizer.lr": 0.01}]})
    with pytest.raises(ConfigError) as e:
        load_sweep(p)
    assert any("relux" in ln and "did you mean" in ln for ln in e.value.lines)


def test_switching_a_component_drops_the_old_ones_filled_in_defaults_but_keeps_its_choices():
    from nnlab.config.schema import validate

    base = validate({"name": "x", "data": {"name": "spiral"},
                     "train": {"optimizer": {"name": "sgd", "lr": 0.05}}}).as_dict()
    assert base["train"]["optimizer"]["momentum"] == 0  # the resolved base holds sgd's default momentum 0
    # momentum must not inherit sgd's momentum 0 (it would silently be plain SGD): its own default 0.9 applies
    cfg = validate(point_mapping(base, {"train.optimizer.name": "momentum"}))
    assert cfg.train["optimizer"]["momentum"] == 0.9 and cfg.train["optimizer"]["lr"] == 0.05
    chosen = validate({"name": "x", "data": {"name": "spiral"},
                       "train": {"optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.5}}}).as_dict()
    cfg = validate(point_mapping(chosen, {"train.optimizer.name": "nesterov"}))
    assert cfg.train["optimizer"]["momentum"] == 0.5  # a value that is not sgd's default was chosen: it stays


# --- every problem of a sweep file, line by line (the documented rules: nnlab.sweep.spec's docstring) ---------

LR2 = "params: {train.optimizer.lr: [0.1, 0.01]}\n"
LR = "params: {train.optimizer.lr: "
LINES = [
    (LR2 + "prune: 3\n", ["prune: must be median, null, or {rule: median, startup: 5, warmup: 10}, got 3"]),
    (LR2 + "prune: true\n", ["prune: must be median, null, or {rule: median, startup: 5, warmup: 10}, got true"]),
    (LR2 + "prune: {warmup: null, startup: 0}\n", ["prune: startup: must be a whole number >= 1, got 0"]),
    (LR2 + "prune: median\nconfig: {train: {epochs: 0}}\n",
     ["config: train.epochs: must be greater than 0, got 0"]),
    (LR2 + "prune: {rule: median, startp: 2}\n",
     ["prune: startp: unknown key 'startp'; choose from rule, startup, warmup (did you mean 'startup'?)"]),
    (LR2 + "prune: medain\n", ["prune: unknown rule 'medain'; choose from median (did you mean 'median'?)"]),
    (LR2 + "prune: {startup: 0, warmup: -1}\n", ["prune: startup: must be a whole number >= 1, got 0",
                                                "prune: warmup: must be a whole number >= 0, got -1"]),
    (LR2 + "prune: {startup: true, warmup: 1.5}\n", ["prune: startup: must be a whole number >= 1, got true",
                                                    "prune: warmup: must be a whole number >= 0, got 1.5"]),
    (LR + "{low: 0.1}}\n",
     ["params: train.optimizer.lr: a range needs both low and high, e.g. {low: 1.0e-4, high: 0.1, log: true}"]),
    (LR + "{high: 0.1}}\n",
     ["params: train.optimizer.lr: a range needs both low and high, e.g. {low: 1.0e-4, high: 0.1, log: true}"]),
    (LR + "{low: '0.1', high: 1}}\n",
     ["params: train.optimizer.lr: low: must be a finite number, got '0.1' (text; write it without quotes)"]),
    (LR + "{low: 0.1, high: .inf}}\n", ["params: train.optimizer.lr: high: must be a finite number, got inf"]),
    (LR + "{low: 0.1, high: true}}\n", ["params: train.optimizer.lr: high: must be a finite number, got true"]),
    (LR + "{low: 0.1, high: abc}}\n", ["params: train.optimizer.lr: high: must be a finite number, got 'abc'"]),
    (LR + "{low: 0.1, high: 1, log: 'yes'}}\n", ["params: train.optimizer.lr: log: must be true or false, got 'yes'"]),
    (LR + "{low: 0.1, high: 1, int: 1}}\n", ["params: train.optimizer.lr: int: must be true or false, got 1"]),
    *[(LR + f"{{low: 0.1, high: 1, num: {n}}}}}\n",
       [f"params: train.optimizer.lr: num: the number of grid points must be a whole number from 1 to 100,000, "
        f"got {n}"]) for n in ("0", "2.5", "100001", "true")],
    (LR + "{low: 0.1, high: 0.1}}\n", ["params: train.optimizer.lr: low (0.1) must be below high (0.1)"]),
    (LR + "{low: 0, high: 1, log: true}}\n", ["params: train.optimizer.lr: a log range needs low > 0, got 0"]),
    ("params: {train.epochs: {low: 1, high: 2.5, int: true}}\n",
     ["params: train.epochs: an int range needs whole-number ends, got 1 and 2.5"]),
    ("params: {train.epochs: {low: 1.5, high: 3, int: true}}\n",
     ["params: train.epochs: an int range needs whole-number ends, got 1.5 and 3"]),
    (LR + "{low: 0.1, hi: 1}}\n", ["params: train.optimizer.lr: unknown range key 'hi'; choose from high, int, log, "
                                   "low, num (did you mean 'high'?)"]),
    (LR + "{lo: 0.1, hi: 1}}\n", ["params: train.optimizer.lr: a mapping must be a range {low: a, high: b} (with "
                                  "optional log, int, num) or {choices: [...]}; got keys lo, hi"]),
    (LR + "{choices: []}}\n", ["params: train.optimizer.lr: needs at least one value to choose from, got []"]),
    (LR + "{choices: 0.1}}\n", ["params: train.optimizer.lr: needs at least one value to choose from, got 0.1"]),
    (LR + "[0.1, 0.1]}\n", ["params: train.optimizer.lr: the value 0.1 is listed twice"]),
    ("params: {seed: [1, 2]}\n", ["params: seed: seed is not a param: a sweep trains every point once per seed: list "
                                  "them under seeds: (e.g. seeds: [1, 2], or --seeds 1,2)"]),
    ("params: {'train..lr': [1, 2]}\n",
     ["params: train..lr: the key must be a dotted config path such as train.optimizer.lr"]),
    ("params: {'train.': [1, 2]}\n",
     ["params: train.: the key must be a dotted config path such as train.optimizer.lr"]),
    ("params: [1, 2]\n", ["params: must be a mapping of config keys to values, e.g. 'model.activation: [relu, elu]', "
                          "got [1, 2]"]),
    (LR2 + "method: random\ntrials: 0\n", ["trials: must be a whole number >= 1, got 0"]),
    (LR2 + "method: random\ntrials: true\n", ["trials: must be a whole number >= 1, got true"]),
    (LR2 + "seed: -1\n", ["seed: the sampler's seed must be a whole number >= 0, got -1"]),
    (LR2 + "seed: true\n", ["seed: the sampler's seed must be a whole number >= 0, got true"]),
    *[(LR2 + f"seeds: {s}\n", [f"seeds: must be a list of whole numbers >= 0 such as [0, 1, 2], got {s}"])
      for s in ("[0, -1]", "[0, true]", "[]", "[0, 1.5]", "3")],
    (LR2 + "seeds: [1, 1]\n", ["seeds: [1, 1] repeats a seed; each seed trains the point once"]),
    (LR2 + "seeds: [" + ", ".join(str(i) for i in range(1001)) + "]\n", ["seeds: 1001 seeds; at most 1000"]),
    (LR2 + "test: some\n", ["test: must be best (only the chosen point sees the test set), all (every run) or none "
                            "(no run), got 'some'"]),
    (LR2 + "method: gird\n",
     ["method: unknown method 'gird'; choose from grid, random, tpe, list (did you mean 'grid'?)"]),
    (LR2 + "metric: val_accc\n", ["metric: unknown metric 'val_accc'; choose from val_acc, val_loss, train_acc, "
                                  "train_loss (did you mean 'val_acc'?)"]),
    (LR2 + "name: 'a b'\n", ["name: must be ASCII letters, digits, '_', '-', '.' or '+' (it names the run folder), "
                             "got 'a b'"]),
    (LR2 + "method: grid\nfoo: 1\n", ["foo: unknown key 'foo'; choose from config, method, metric, name, params, "
                                      "points, prune, seed, seeds, test, trials"]),
    ("method: random\n", ["params: nothing to search; give params: in the sweep file or -p KEY=VALUES, e.g. -p "
                          "train.optimizer.lr=log:1e-4:1e-1"]),
    ("method: grid\n" + LR + "{low: 0.1, high: 1}}\n",
     ["params: train.optimizer.lr: a grid needs a list of values or a range with num (e.g. {low: 0.1, high: 1, num: "
      "5}); or use method: random or tpe"]),
    ("method: list\n", ["points: method list runs the points of a points: list (mappings of dotted keys to values); "
                        "give them, or use method: grid with params:"]),
    ("method: grid\npoints: [{train.optimizer.lr: 0.1}]\n",
     ["points: only method list runs a list of points; remove method: grid, or give params: instead"]),
    (LR2 + "points: [{train.optimizer.lr: 0.1}]\n",
     ["points: a list sweep runs its points; it takes no params: as well (put every key in each point)"]),
    ("points: [{train.optimizer.lr: 0.1, model.init: xavier_uniform}, {model.init: xavier_uniform, "
     "train.optimizer.lr: 0.1}]\n", ["points: a point appears twice; each point is trained once per seed"]),
    ("points: [1]\n", ["points: must be a list of mappings of dotted config keys to values such as "
                       "[{model.activation: tanh}, {model.activation: relu}], got [1]"]),
    ("points: [{'a..b': 2}]\n", ["points: point 1: the key must be a dotted config path such as train.optimizer.lr"]),
    ("points: [{seed: 1}, {'a..b': 2}]\n",
     ["points: point 1: seed: a sweep trains every point once per seed: list them under seeds: (e.g. seeds: [1, 2], "
      "or --seeds 1,2)", "points: point 2: the key must be a dotted config path such as train.optimizer.lr"]),
    (LR2 + "config: 3\n", ["config: must be a path to a config file or a mapping of config keys, got 3"]),
]


# ids from the case (not its index, which shifts when a case is added: mutmut maps tests to functions by id), in
# letters and digits only so that a node id can be passed on the command line
@pytest.mark.parametrize("text, expected", LINES, ids=[re.sub(r"\W+", "-", text).strip("-") for text, _ in LINES])
def test_every_problem_of_a_sweep_file_is_its_own_exact_line(tmp_path, text, expected):
    f = tmp_path / "s.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_sweep(f)
    assert info.value.lines == [f"{f}: {line}" for line in expected]


def test_a_file_of_points_alone_is_a_list_sweep(tmp_path):
    """Fixed: a file with points: and no method: was taken for a plain config ('points: unknown key'), though a
    points: list alone means method list."""
    f = tmp_path / "s.yaml"
    f.write_text("points: [{train.optimizer.lr: 0.1}, {}]\n")
    spec = load_sweep(f)
    assert spec.method == "list" and spec.points == [{"train.optimizer.lr": 0.1}, {}] and spec.n_trials == 2


SHORT = [
    ("train.optimizer.lr", "-p train.optimizer.lr: expected KEY=VALUES, e.g. -p train.optimizer.lr=log:1e-4:1e-1 or "
                           "-p model.activation=relu,elu"),
    ("train.optimizer.lr= ", "-p train.optimizer.lr= : no values after '='"),
    ("seed=1,2", "-p seed=1,2: seed is not a param: a sweep trains every point once per seed: list them under seeds: "
                 "(e.g. seeds: [1, 2], or --seeds 1,2)"),
    ("a..b=1", "-p a..b=1: the key must be a dotted config path such as train.optimizer.lr"),
    ("train.optimizer.lr=log:a:b", "-p train.optimizer.lr=log:a:b: expected log:LOW:HIGH with numbers, e.g. "
                                   "log:1e-4:1e-1"),
    ("train.optimizer.lr=0:1:3.5", "-p train.optimizer.lr=0:1:3.5: num: the number of grid points must be a whole "
                                   "number from 1 to 100,000, got 3.5"),
    ("train.optimizer.lr=1:0", "-p train.optimizer.lr=1:0: low (1) must be below high (0)"),
    ("train.optimizer.lr=relu,relu", "-p train.optimizer.lr=relu,relu: the value 'relu' is listed twice"),
    ("train.optimizer.lr=[1", "-p train.optimizer.lr=[1:1: expected ',' or ']', but got '<stream end>'"),
    ("model.activation=relu,[x", "-p model.activation=relu,[x:1: expected ',' or ']', but got '<stream end>'"),
]


@pytest.mark.parametrize("item, message", SHORT)
def test_each_bad_short_param_is_its_own_line(tmp_path, item, message):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    with pytest.raises(ConfigError) as e:
        load_sweep(tmp_path / "base.yaml", params=(item,))
    assert e.value.lines == [message]


def test_short_params_their_kinds_and_a_later_param_replaces_an_earlier_one(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    spec = load_sweep(tmp_path / "base.yaml", params=(
        "train.epochs=intlog:1:100", "train.batch_size=logint:4:64:5", "model.hidden=[[4], [8]]",
        "train.optimizer.lr=a=b", "train.optimizer.lr=0.001:0.1:3"), method="tpe")
    p = {q.path: q.spec() for q in spec.params}
    assert [q.where for q in spec.params] == ["-p"] * 4
    assert p == {"train.epochs": {"low": 1, "high": 100, "log": True, "int": True},
                 "train.batch_size": {"low": 4, "high": 64, "log": True, "int": True, "num": 5},
                 "model.hidden": {"choices": [[4], [8]]},
                 "train.optimizer.lr": {"low": 0.001, "high": 0.1, "log": False, "int": False, "num": 3}}
    assert spec.params[-1].grid_values() == [0.001, 0.0505, 0.1]
    # four numbers are not a range: each is a choice
    from nnlab.sweep.spec import _short_param

    errors: list = []
    assert _short_param("x.y=0.1:0.2:3:4", errors).choices == ["0.1:0.2:3:4"] and errors == []


def test_a_mapping_of_params_in_the_sweep_files_form_replaces_the_files_own(tmp_path):
    p = write(tmp_path, {"method": "grid", "params": {"model.activation": ["relu", "tanh"],
                                                       "train.optimizer.lr": [0.1]}})
    spec = load_sweep(p, params={"train.optimizer.lr": (0.01, 0.02)})
    assert [(q.path, q.choices, q.where) for q in spec.params] == [
        ("model.activation", ["relu", "tanh"], f"{p}: params"), ("train.optimizer.lr", [0.01, 0.02], f"{p}: params")]
    with pytest.raises(ConfigError) as e:
        load_sweep(p, params={"train.optimizer.lr": {"low": 1}})
    assert e.value.lines == [f"{p}: params: train.optimizer.lr: a range needs both low and high, e.g. {{low: 1.0e-4, "
                             "high: 0.1, log: true}"]


def test_command_line_values_win_over_the_file(tmp_path):
    p = write(tmp_path, {"name": "f", "method": "grid", "metric": "val_acc", "seed": 1, "seeds": [0], "trials": 4,
                         "prune": "median", "params": {"model.activation": ["relu", "tanh"]}})
    spec = load_sweep(p, method="random", trials=3, seeds="3, 4,", metric="val_loss", prune="none", seed=7,
                      name="zz", overrides=("train.epochs=40",))
    assert (spec.name, spec.method, spec.trials, spec.seeds, spec.metric, spec.prune, spec.seed) == \
        ("zz", "random", 3, [3, 4], "val_loss", None, 7)
    assert spec.base["train"]["epochs"] == 40 and spec.base["name"] == "b"
    with pytest.raises(ConfigError) as e:
        load_sweep(p, seeds="0,x")
    assert e.value.lines == ["--seeds 0,x: expected whole numbers separated by commas, e.g. --seeds 0,1,2"]


def test_prune_fills_in_its_defaults_and_a_warmup_of_a_tenth_of_the_epochs(tmp_path):
    for epochs, warmup in ((30, 3), (5, 1), (100, 10)):
        p = write(tmp_path, {"prune": "median", "params": {"model.activation": ["relu", "tanh"]}})
        spec = load_sweep(p, overrides=(f"train.epochs={epochs}",))
        assert spec.prune == {"rule": "median", "startup": 5, "warmup": warmup} and type(spec.prune["warmup"]) is int
    p = write(tmp_path, {"params": {"model.activation": ["relu", "tanh"]}})
    assert load_sweep(p).prune is None and load_sweep(p, prune="median").prune == {"rule": "median", "startup": 5,
                                                                                   "warmup": 1}
    assert load_sweep(write(tmp_path, {"prune": {"startup": 1}, "params": {"model.activation": ["relu"]}})).prune == \
        {"rule": "median", "startup": 1, "warmup": 1}
    spec = load_sweep(write(tmp_path, {"prune": {"startup": 2, "warmup": None},
                                       "params": {"model.activation": ["relu"]}}))
    assert spec.prune == {"rule": "median", "startup": 2, "warmup": 1}  # BASE trains 3 epochs: 3 // 10, at least 1
    spec = load_sweep(write(tmp_path, {"prune": {"rule": "median", "warmup": 0},
                                       "params": {"model.activation": ["relu"]}}))
    assert spec.prune == {"rule": "median", "startup": 5, "warmup": 0}


def test_grid_values_rounding_and_the_number_of_points():
    from nnlab.sweep.spec import distinct_round, round_significant

    assert Param("x", low=0.1, high=0.3, num=2).grid_values() == [0.1, 0.3]
    assert Param("x", low=2.0, high=3.0, num=1).grid_values() == [2.0]
    assert Param("x", low=1, high=3, int=True, num=5).grid_values() == [1, 2, 3]  # repeats dropped
    assert Param("x", choices=["a", "b"]).grid_values() == ["a", "b"]
    with pytest.raises(ValueError, match="^a range needs num for a grid$"):
        Param("x", low=0.1, high=0.3).grid_values()
    # 4 significant digits, or as many more as keep the points distinct and inside [low, high]
    assert distinct_round([0.010001, 0.010002, 0.010003, 0.010004], 0.010001, 0.010004) == \
        [0.010001, 0.010002, 0.010003, 0.010004]
    # 6 significant digits keep these apart (and inside [low, high]): not the 7 they were given with
    assert distinct_round([0.01000011, 0.01000021], 0.0100001, 0.0100002) == [0.0100001, 0.0100002]
    third = distinct_round([1 / 3, 2 / 3], 1 / 3, 2 / 3)
    assert all(1 / 3 <= p <= 2 / 3 for p in third) and third == [1 / 3, 2 / 3]
    assert [round_significant(v) for v in (0.123456, -1234567.0, 0.0, 1.0)] == [0.1235, -1235000.0, 0.0, 1.0]
    assert round_significant(math.inf) == math.inf and round_significant(0.123456, 2) == 0.12


def test_a_random_draw_of_choices_is_a_copy_and_an_int_log_range_covers_its_ends():
    choices = [[[1]], [[2]]]
    p = Param("x", choices=choices)
    draws = [p.sample(np.random.default_rng(s)) for s in range(20)]
    assert {d[0][0] for d in draws} == {1, 2}
    draws[0][0].append(9)
    assert choices == [[[1]], [[2]]]  # the param's own lists are never handed out, nor lists inside them
    spec = p.spec()
    spec["choices"][0][0].append(9)
    assert choices == [[[1]], [[2]]]
    q = Param("x", low=1, high=4, int=True, log=True)
    rng = np.random.default_rng(0)
    got = [q.sample(rng) for _ in range(400)]
    assert set(got) == {1, 2, 3, 4} and all(type(v) is int for v in got)
    # log-uniform over [1, 5): P(1) = log 2 / log 5 = 0.43, P(4) = log(5/4) / log 5 = 0.14
    assert abs(got.count(1) / 400 - math.log(2) / math.log(5)) < 0.08
    assert abs(got.count(4) / 400 - math.log(5 / 4) / math.log(5)) < 0.06
    r = Param("x", low=0.5, high=0.6)
    got = [r.sample(rng) for _ in range(50)]
    assert all(0.5 <= v <= 0.6 and v == float(f"{v:.4g}") for v in got) and len(set(got)) > 40


def test_what_sweep_yaml_holds_and_a_runs_tags(tmp_path):
    p = write(tmp_path, {"name": "sw", "method": "grid", "metric": "val_loss", "seeds": [3, 5], "prune": "median",
                         "params": {"model.activation": ["relu", "tanh"],
                                    "train.optimizer.lr": {"low": 0.01, "high": 0.1, "log": True, "num": 2}}})
    spec = load_sweep(p)
    d = spec.as_dict()
    assert list(d) == ["name", "method", "metric", "direction", "trials", "seeds", "seed", "prune", "params", "config"]
    assert (d["name"], d["method"], d["metric"], d["direction"], d["trials"], d["seeds"], d["seed"], d["prune"]) == \
        ("sw", "grid", "val_loss", "minimize", 4, [3, 5], 0, {"rule": "median", "startup": 5, "warmup": 1})
    assert d["params"] == {"model.activation": {"choices": ["relu", "tanh"]},
                           "train.optimizer.lr": {"low": 0.01, "high": 0.1, "log": True, "int": False, "num": 2}}
    assert d["config"] == spec.base and d["config"]["train"]["epochs"] == 3
    d["params"]["model.activation"]["choices"].append("elu")
    d["prune"]["startup"] = 1
    d["config"]["train"]["epochs"] = 99
    assert spec.params[0].choices == ["relu", "tanh"] and spec.prune["startup"] == 5  # copies
    assert spec.base["train"]["epochs"] == 3 and not spec.better(0.5, 0.5)
    text = spec.dump()
    assert text.startswith("# nnlab sweep 'sw', resolved: the params, the search and the whole base config.\n"
                           "# Resume with: nnlab sweep --resume <this folder>\n")
    assert yaml.safe_load(text) == spec.as_dict()
    # in order, leaf lists and mappings inline, wrapped at 100 characters (not YAML's 80): the optimizer's
    # options stay on one line
    assert text.splitlines()[2] == "name: sw" and "    choices: [relu, tanh]" in text.splitlines()
    assert "    optimizer: {name: adam, lr: 0.01, beta1: 0.8, beta2: 0.999, eps: 1.0e-08, amsgrad: false, " \
           "bias_correction: true}" in text.splitlines()
    # lower is better for a loss: a diverged run scores +inf; higher for an accuracy: it scores 0
    assert spec.better(0.1, 0.2) and not spec.better(0.2, 0.1) and spec.worst == math.inf
    acc = load_sweep(write(tmp_path, {"params": {"model.activation": ["relu"]}}))
    assert acc.better(0.2, 0.1) and not acc.better(0.1, 0.2) and acc.worst == 0.0 and acc.direction == "maximize"
    assert not acc.better(0.5, 0.5)  # a tie is not better
    assert spec.run_label(7, 5) == "sw-t007" and spec.run_label(123, 3) == "sw-t123"

    class Trial:
        number, params = 7, {"model.activation": "tanh"}
    spec.tags_extra = {"outer": {"a": 1}}
    tags = spec.tags(Trial, 5)
    assert tags == {"outer": {"a": 1}, "sweep": {"name": "sw", "trial": 7, "seed": 5, "metric": "val_loss",
                                                  "params": {"model.activation": "tanh"}}}
    tags["outer"]["a"] = 2
    assert spec.tags_extra == {"outer": {"a": 1}}
    # the members of an ensemble: named and tagged by their seed's index
    spec.role, spec.tags_extra = "members", {"ensemble_member": {"of": "ens"}, "outer": {"a": 1}}
    tags = spec.tags(None, 5)
    assert spec.run_label(0, 5) == "sw-m1" and tags == {"ensemble_member": {"of": "ens", "index": 1},
                                                        "outer": {"a": 1}}
    tags["outer"]["a"] = 2
    assert spec.tags_extra == {"ensemble_member": {"of": "ens"}, "outer": {"a": 1}}
    d = spec.as_dict()
    assert (d["role"], d["tags"]) == ("members", {"ensemble_member": {"of": "ens"}, "outer": {"a": 1}})
    d["tags"]["outer"]["a"] = 3
    assert spec.tags_extra["outer"] == {"a": 1}


def test_a_sweep_too_big_or_named_too_long_for_its_run_folders_is_refused(tmp_path):
    p = write(tmp_path, {"name": "n" * 195, "method": "grid", "params": {"model.activation": ["relu", "tanh"]}})
    assert load_sweep(p).run_label(1, 0) == "n" * 195 + "-t001"  # 200 characters: the most a run name may have
    with pytest.raises(ConfigError) as e:
        load_sweep(write(tmp_path, {"name": "n" * 196, "method": "grid",
                                    "params": {"model.activation": ["relu", "tanh"]}}))
    assert e.value.lines == [f"{tmp_path / 's.yaml'}: name: at most 195 characters for a sweep of 2 trials (its runs "
                             f"are named nnnnnnnnnnnn...nnn-t001), got 196"]
    with pytest.raises(ConfigError) as e:
        load_sweep(write(tmp_path, {"method": "random", "trials": 50_001, "seeds": [0, 1],
                                    "params": {"model.activation": ["relu", "tanh"]}}))
    assert e.value.lines == [f"{tmp_path / 's.yaml'}: 50001 points x 2 seeds = 100002 runs; at most 100000"]
    assert load_sweep(write(tmp_path, {"method": "random", "trials": 50_000, "seeds": [0, 1],
                                       "params": {"model.activation": ["relu", "tanh"]}})).n_trials == 50_000


def test_point_mapping_keeps_the_rate_the_points_own_options_and_the_data_sections_keys():
    from nnlab.config.schema import validate

    base = validate({"name": "x", "data": {"name": "spiral", "n_samples": 200, "val_fraction": 0.2},
                     "train": {"optimizer": {"name": "sgd", "lr": 0.001}}}).as_dict()
    # sgd -> momentum: sgd's lr equals its default 0.001 but the rate is always kept; sgd's own momentum 0 is
    # dropped for momentum's 0.9 unless the point sets it; nesterov and form: only what momentum accepts
    raw = point_mapping(base, {"train.optimizer.name": "momentum"})
    assert raw["train"]["optimizer"] == {"name": "momentum", "lr": 0.001}
    raw = point_mapping(base, {"train.optimizer.name": "momentum", "train.optimizer.momentum": 0.0})
    assert raw["train"]["optimizer"] == {"name": "momentum", "lr": 0.001, "momentum": 0.0}
    # the same component again: nothing is dropped
    assert point_mapping(base, {"train.optimizer.name": "sgd"})["train"]["optimizer"] == base["train"]["optimizer"]
    # a data set switch keeps val_fraction, preprocess, augment and drops the old loader's options it filled in
    raw = point_mapping(base, {"data.name": "blobs"})
    assert raw["data"] == {"name": "blobs", "val_fraction": 0.2, "preprocess": base["data"]["preprocess"],
                           "augment": None, "n_samples": 200}
    # an unknown name is left for validation to report, and the next switch is still made
    raw = point_mapping(base, {"train.schedule.name": "cosinus", "train.optimizer.name": "adam"})
    assert raw["train"]["schedule"]["name"] == "cosinus" and raw["train"]["optimizer"] == {"name": "adam", "lr": 0.001}
    # the values are copied in, and a key through a number is one line naming the param
    values = {"model.hidden": [[4], 4]}
    raw = point_mapping(base, values)
    raw["model"]["hidden"][0].append(1)
    assert values == {"model.hidden": [[4], 4]} and base["model"]["hidden"] == [100, 100]
    # a .name of a key that names no component is set as it is (validation has the last word)
    assert point_mapping(base, {"model.name": "x"})["model"]["name"] == "x"
    with pytest.raises(ConfigError) as e:
        point_mapping(base, {"train.epochs.x": 1})
    assert e.value.lines == ["params: train.epochs.x: 'train.epochs' is 100, not a mapping with keys"]


def test_a_list_sweeps_params_are_each_keys_distinct_values_in_order(tmp_path):
    spec = load_sweep(write(tmp_path, {"points": [{"train.optimizer.lr": 0.1, "model.hidden": [4]},
                                                  {"train.optimizer.lr": 1}, {"model.hidden": [4]},
                                                  {"train.optimizer.lr": 0.1}]}))
    # 1 and 1.0 would be one value to ==; they are two settings (an int and a float)
    assert [(p.path, p.choices) for p in spec.params] == [("train.optimizer.lr", [0.1, 1]), ("model.hidden", [[4]])]
    assert spec.params[0].where == f"{tmp_path / 's.yaml'}: points"
    assert spec.points == [{"train.optimizer.lr": 0.1, "model.hidden": [4]}, {"train.optimizer.lr": 1},
                           {"model.hidden": [4]}, {"train.optimizer.lr": 0.1}]
    with pytest.raises(ConfigError) as e:
        load_sweep(write(tmp_path, {"points": [{"model.hidden": [4], "a..b": 1}, {"seed": 1}]}))
    assert e.value.lines == [f"{tmp_path / 's.yaml'}: points: point 1: the key must be a dotted config path such as "
                             "train.optimizer.lr", f"{tmp_path / 's.yaml'}: points: point 2: seed: a sweep trains "
                             "every point once per seed: list them under seeds: (e.g. seeds: [1, 2], or --seeds 1,2)"]


def test_the_base_config_a_file_a_mapping_or_a_mapping_that_extends_a_file(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    sub = tmp_path / "sub"
    sub.mkdir()
    params = {"params": {"model.activation": ["relu"]}}
    f = sub / "s.yaml"
    f.write_text(yaml.safe_dump({"config": {"extends": "../base.yaml", "train": {"epochs": 7}}, **params}))
    spec = load_sweep(f)
    assert spec.base["train"]["epochs"] == 7 and spec.base["data"]["name"] == "spiral" and spec.base["name"] == "b"
    f.write_text(yaml.safe_dump({"config": {"train": {"epochs": 7}}, **params}))
    assert load_sweep(f).base["name"] == "s"  # named after the sweep file when the config is not
    f.write_text(yaml.safe_dump(params))
    assert load_sweep(f).base["name"] == "s" and load_sweep(f).base["train"]["epochs"] == 100
    f.write_text(yaml.safe_dump({"config": "../base.yaml", "name": "sw", **params}))
    spec = load_sweep(f)
    assert spec.base["name"] == "b" and spec.name == "sw" and spec.base["train"]["epochs"] == 3
    (tmp_path / "nameless.yaml").write_text("train: {epochs: 2}\n")
    f.write_text(yaml.safe_dump({"config": "../nameless.yaml", **params}))
    assert load_sweep(f).base["name"] == "s" and load_sweep(f).name == "s"
    (tmp_path / "bad.yaml").write_text("train: [1\n")
    for config in ("../bad.yaml", {"extends": "../bad.yaml"}):
        f.write_text(yaml.safe_dump({"config": config, **params}))
        with pytest.raises(ConfigError) as e:
            load_sweep(f)
        assert len(e.value.lines) == 1 and e.value.lines[0].startswith(f"{tmp_path / 'bad.yaml'}:2: ")
    f.write_text(yaml.safe_dump({"config": "../none.yaml", **params}))
    with pytest.raises(ConfigError) as e:
        load_sweep(f)
    assert e.value.lines == [f"{f}: config: file not found: {sub / '../none.yaml'}"]


def test_a_grid_or_list_sweep_notes_that_it_ignores_trials(tmp_path):
    spec = load_sweep(write(tmp_path, {"trials": 5, "params": {"model.activation": ["relu", "tanh"]}}))
    assert spec.method == "grid" and spec.notes == [f"{tmp_path / 's.yaml'}: trials: 5 is not used by a grid sweep, "
                                                    "which runs every point once"]
    spec = load_sweep(write(tmp_path, {"trials": 5, "points": [{"model.hidden": [4]}]}))
    d = spec.as_dict()
    d["points"][0]["model.hidden"].append(4)
    assert spec.points == [{"model.hidden": [4]}]  # sweep.yaml's points are a copy, nested lists too
    spec = load_sweep(write(tmp_path, {"trials": 5, "points": [{"model.activation": "relu"}]}))
    assert spec.notes == [f"{tmp_path / 's.yaml'}: trials: 5 is not used by a list sweep, which runs every point once"]
    spec = load_sweep(write(tmp_path, {"trials": 5, "method": "random", "params": {"model.activation": ["relu"]}}))
    assert spec.notes == [] and spec.trials == 5 and spec.n_trials == 5
    spec = load_sweep(write(tmp_path, {"method": "tpe", "params": {"model.activation": ["relu"]}}))
    assert spec.trials == 20 and spec.seeds == [0]  # the defaults: 20 trials, the base config's seed
    spec = load_sweep(write(tmp_path, {"method": "random", "params": {"model.activation": ["relu"]}}),
                      overrides=("seed=4",))
    assert spec.seeds == [4] and spec.seed == 0
    # a range without num: random search; with num, or choices only: a grid
    assert load_sweep(write(tmp_path, {"params": {"train.optimizer.lr": {"low": 0.1, "high": 0.2}}})).method == "random"
    assert load_sweep(write(tmp_path, {"params": {"train.optimizer.lr": {"low": 0.1, "high": 0.2, "num": 2},
                                                  "model.activation": ["relu"]}})).method == "grid"


def test_at_most_ten_invalid_points_are_listed(tmp_path):
    points = [{"train.optimizer.lr": -0.1 * (i + 1)} for i in range(12)]
    with pytest.raises(ConfigError) as e:
        load_sweep(write(tmp_path, {"points": points}))
    assert len(e.value.lines) == 10
    with pytest.raises(ConfigError) as e:  # a grid: each value alone first, one line each
        load_sweep(write(tmp_path, {"params": {"train.optimizer.lr": [-0.1 * (i + 1) for i in range(12)],
                                               "model.activation": ["relu"]}}))
    assert len(e.value.lines) == 12


def test_a_value_invalid_with_the_base_alone_is_fine_when_another_params_value_makes_it_valid(tmp_path):
    """lbfgs needs batch_size full: with the base's 100 alone it is invalid, with the batch_size param's 'full' it is
    not.  TPE's points are unknown in advance, so every combination of choices is tried; the first one tried
    (batch 32) and its repeat must not end the search."""
    params = {"train.batch_size": [32, "full"], "train.optimizer.name": ["adam", "lbfgs"]}
    spec = load_sweep(write(tmp_path, {"method": "tpe", "params": params}), overrides=("train.batch_size=100",))
    assert [p.path for p in spec.params] == list(params)
    # a grid plans its points: the invalid combination (32, lbfgs) is then one line naming that point
    with pytest.raises(ConfigError) as e:
        load_sweep(write(tmp_path, {"method": "grid", "params": params}), overrides=("train.batch_size=100",))
    assert len(e.value.lines) == 1
    assert e.value.lines[0].startswith(f"{tmp_path / 's.yaml'}: params (train.batch_size=32, "
                                       "train.optimizer.name=lbfgs): train.batch_size: lbfgs needs batch_size: full")


def test_at_most_ten_invalid_planned_points_are_listed(tmp_path):
    # batch norm and batch size 1 are each valid alone, never together: every one of the 12 points is invalid
    p = write(tmp_path, {"params": {"model.batch_norm": [True], "train.batch_size": [1],
                                    "train.epochs": list(range(1, 13))}})
    with pytest.raises(ConfigError) as e:
        load_sweep(p)
    assert len(e.value.lines) == 10 and e.value.lines[0] == (
        f"{p}: params (model.batch_norm=true, train.batch_size=1, train.epochs=1): train.batch_size: batch "
        "normalization needs batches of at least 2 rows (a single row's variance is 0), got 1; raise batch_size or "
        "set model.batch_norm: false")
    assert Param("x", choices=[1]).label([0.5, "a"]) == value_text([0.5, "a"])


@pytest.mark.parametrize("keys, expected", [
    *[({k: 1}, True) for k in ("params", "points", "method", "config", "seeds", "trials", "prune")],
    *[({"params": 1, k: 1}, False) for k in ("data", "model", "train", "extends", "dtype")],
    ({"name": 1, "seed": 1, "metric": 1, "test": 1}, False), ({}, False)])
def test_what_makes_a_file_a_sweep_file(keys, expected):
    from nnlab.sweep.spec import is_sweep_file

    assert is_sweep_file(keys) is expected


def test_the_members_of_an_ensemble_are_a_sweep_of_one_point_with_its_own_role_and_tags():
    from nnlab.sweep.spec import build_spec

    settings = {"name": "ens", "method": "grid", "seeds": [4, 5, 6], "role": "members",
                "tags": {"ensemble_member": {"of": "folder"}}, "test": "all"}
    spec = build_spec(settings, dict(BASE), [], "c.yaml")
    assert (spec.role, spec.tags_extra, spec.test, spec.seeds, spec.n_trials, spec.source, spec.metric) == \
        ("members", {"ensemble_member": {"of": "folder"}}, "all", [4, 5, 6], 1, "c.yaml", "val_acc")
    assert spec.run_label(0, 6) == "ens-m2" and spec.tags(None, 4) == {"ensemble_member": {"of": "folder",
                                                                                         "index": 0}}
    spec.tags_extra = {}
    assert spec.tags(None, 5) == {"ensemble_member": {"index": 1}}
    with pytest.raises(ConfigError) as e:
        build_spec({**settings, "role": "leader"}, dict(BASE), [], "c.yaml")
    assert e.value.lines == ["c.yaml: role: must be sweep or members, got 'leader'"]
    spec = build_spec({"points": [{"model.activation": "tanh"}]}, dict(BASE), [], "c.yaml")
    assert (spec.role, spec.tags_extra, spec.test, spec.method) == ("sweep", {}, "best", "list")


def test_the_smallest_and_largest_accepted_values(tmp_path):
    from nnlab.sweep.spec import points_from

    p = write(tmp_path, {"method": "random", "trials": 1, "seeds": list(range(1000)),
                         "params": {"train.epochs": 5, "model.activation": {"choices": ["relu"]},
                                    "train.optimizer.lr": {"low": 0.1, "high": 0.2, "num": 1}}})
    spec = load_sweep(p)
    assert spec.trials == 1 and len(spec.seeds) == 1000
    assert [(q.path, q.spec()) for q in spec.params] == [
        ("train.epochs", {"choices": [5]}), ("model.activation", {"choices": ["relu"]}),
        ("train.optimizer.lr", {"low": 0.1, "high": 0.2, "log": False, "int": False, "num": 1})]
    # a list of just the base config: no params to show, nothing to complain of
    spec = load_sweep(write(tmp_path, {"points": [{}]}))
    assert spec.params == [] and spec.n_trials == 1
    # the short form names the base config after its file
    (tmp_path / "nameless.yaml").write_text("train: {epochs: 2}\n")
    spec = load_sweep(tmp_path / "nameless.yaml", params=("model.activation=relu,tanh",))
    assert spec.base["name"] == "nameless" and spec.name == "nameless"
    errors: list = []
    assert points_from([{}] * 100_001, "p", errors) == (None, []) and errors == ["p: points: 100001 points; at most 100000"]


def test_a_random_sweeps_drawn_points_are_checked_before_anything_runs(tmp_path):
    p = write(tmp_path, {"method": "random", "trials": 3, "params": {"model.batch_norm": [True],
                                                                   "train.batch_size": [1]}})
    with pytest.raises(ConfigError) as e:
        load_sweep(p)
    assert e.value.lines[0].startswith(f"{p}: params (model.batch_norm=true, train.batch_size=1): ")


@pytest.mark.slow
def test_a_grid_of_the_most_points_a_range_may_have(tmp_path):
    spec = load_sweep(write(tmp_path, {"params": {"train.optimizer.lr": {"low": 0.1, "high": 0.2, "num": 100_000}}}))
    assert spec.n_trials == 100_000
