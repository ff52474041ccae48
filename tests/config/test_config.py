"""Config loading and validation: YAML traps, extends, --set, and one clear line per error."""

from __future__ import annotations

import re

import pytest
import yaml

from nnlab.config import apply_override, load_config, parse_yaml, validate
from nnlab.errors import ConfigError


def write(tmp_path, text, name="c.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def errors_of(tmp_path, text, overrides=()):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), overrides)
    return info.value.lines


def test_defaults_are_filled_in(tmp_path):
    cfg = load_config(write(tmp_path, "seed: 3\n"))
    assert cfg.name == "c" and cfg.seed == 3 and cfg.dtype == "float32"
    assert cfg.data["name"] == "mnist1d" and cfg.data["val_fraction"] == 0.1
    assert cfg.model["hidden"] == [100, 100]
    assert cfg.model["activation"] == {"name": "relu"}
    assert cfg.train["optimizer"] == {"name": "adam", "lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
                                      "amsgrad": False, "bias_correction": True}
    assert cfg.train["schedule"] == {"name": "constant", "unit": "epoch", "warmup": 0}
    assert cfg.train["regularization"] == {"l1": 0.0, "l2": 0.0, "decay": 0.0, "biases": False, "max_norm": None}


def test_scientific_notation_without_dot_is_a_float():
    # PyYAML's YAML 1.1 resolver reads 1e-3 as the string '1e-3'
    assert yaml.safe_load("lr: 1e-3") == {"lr": "1e-3"}
    assert parse_yaml("lr: 1e-3\nb: 2E+2\nc: 1.5e-4\nd: .5\ne: 3", "x") == \
        {"lr": 0.001, "b": 200.0, "c": 1.5e-4, "d": 0.5, "e": 3}


def test_lr_written_1e_minus_3_is_accepted(tmp_path):
    cfg = load_config(write(tmp_path, "train:\n  optimizer: {name: sgd, lr: 1e-3}\n"))
    assert cfg.train["optimizer"]["lr"] == 0.001
    assert isinstance(cfg.train["optimizer"]["lr"], float)


def test_duplicate_key_is_an_error_with_line(tmp_path):
    lines = errors_of(tmp_path, "seed: 1\ntrain:\n  epochs: 3\n  epochs: 4\n")
    assert len(lines) == 1
    assert "c.yaml:4" in lines[0] and "duplicate key 'epochs'" in lines[0] and "line 3" in lines[0]


def test_malformed_yaml(tmp_path):
    lines = errors_of(tmp_path, "train: [unclosed\n")
    assert len(lines) == 1 and "c.yaml:" in lines[0]


def test_unknown_optimizer_with_did_you_mean(tmp_path):
    lines = errors_of(tmp_path, "train:\n  optimizer: {name: adamm}\n")
    assert len(lines) == 1
    line = lines[0]
    assert line.startswith(str(tmp_path / "c.yaml"))
    assert "train.optimizer.name: unknown optimizer 'adamm'; choose from" in line
    assert "adam, adamax" in line and "(did you mean 'adam'?)" in line


def test_typo_key_unknown_with_suggestion(tmp_path):
    lines = errors_of(tmp_path, "train:\n  epochs: 3\n  optimiser: adam\n")
    assert lines == [f"{tmp_path / 'c.yaml'}: train.optimiser: unknown key 'optimiser'; choose from "
                     "averaging, batch_size, early_stopping, ensemble, epochs, grad_clip, optimizer, regularization, "
                     "schedule, shuffle "
                     "(did you mean 'optimizer'?)"]


def test_unknown_component_option(tmp_path):
    lines = errors_of(tmp_path, "train:\n  optimizer: {name: adam, beta3: 0.9}\n")
    assert "train.optimizer.beta3: unknown option 'beta3' for optimizer 'adam'" in lines[0]
    assert "did you mean 'beta1'" in lines[0] or "did you mean 'beta2'" in lines[0]


def test_bad_values_all_reported_at_once(tmp_path):
    lines = errors_of(tmp_path, "seed: -1\ntrain:\n  epochs: 0\n  batch_size: big\n"
                                "  optimizer: {name: sgd, lr: -0.1}\nmodel:\n  activation: rleu\n")
    text = "\n".join(lines)
    assert len(lines) == 5, text
    assert "seed: must be a whole number >= 0, got -1" in text
    assert "train.epochs: must be greater than 0, got 0" in text
    assert "train.batch_size:" in text and "'big'" in text
    assert "train.optimizer.lr: must be greater than 0, got -0.1" in text
    assert "model.activation: unknown activation 'rleu'" in text and "did you mean 'relu'" in text


def test_string_lr_that_is_not_a_number(tmp_path):
    lines = errors_of(tmp_path, "train:\n  optimizer: {name: sgd, lr: fast}\n")
    assert "train.optimizer.lr: must be a valid number" in lines[0] and "'fast'" in lines[0]


def test_cross_option_rules(tmp_path):
    lines = errors_of(tmp_path, "train:\n  schedule: {name: inverse_time, k: 0.1, tau: 5}\n"
                                "  grad_clip: {norm: 1, value: 1}\n")
    text = "\n".join(lines)
    assert "train.schedule: give exactly one of k" in text
    assert "train.grad_clip: give exactly one of 'norm'" in text


def test_dropout_shapes(tmp_path):
    cfg = load_config(write(tmp_path, "model: {hidden: [4, 4], dropout: [0.1, 0.2]}\n"))
    assert cfg.model["dropout"] == {"rate": [0.1, 0.2], "mode": "inverted"}
    lines = errors_of(tmp_path, "model: {hidden: [4, 4], dropout: [0.1]}\n")
    assert "one rate per hidden layer (2), got 1" in lines[0]
    lines = errors_of(tmp_path, "model: {dropout: {rate: 1.0, mode: sideways}}\n")
    text = "\n".join(lines)
    assert "model.dropout.mode" in text and "'sideways'" in text


def test_regularization_decay_and_biases(tmp_path):
    cfg = load_config(write(tmp_path, "train: {optimizer: sgd, regularization: {decay: 0.01, biases: true}}\n"))
    assert cfg.train["regularization"] == {"l1": 0.0, "l2": 0.0, "decay": 0.01, "biases": True, "max_norm": None}
    src = str(tmp_path / "c.yaml")
    assert errors_of(tmp_path, "train: {regularization: {decay: -0.1}}\n") == [
        f"{src}: train.regularization.decay: must be greater than or equal to 0, got -0.1"]
    assert errors_of(tmp_path, "train: {regularization: {biases: yes please}}\n") == [
        f"{src}: train.regularization.biases: must be true or false, got 'yes please'"]


def test_two_decoupled_decays_are_one_error(tmp_path):
    # adamw's weight_decay (its default 0.01 too) and regularization.decay would decay the weights twice
    for optimizer, said in [("adamw", "train.optimizer.weight_decay is 0.01, adamw's default"),
                            ("{name: adamw, weight_decay: 0.2}", "train.optimizer.weight_decay is 0.2")]:
        lines = errors_of(tmp_path, f"train: {{optimizer: {optimizer}, regularization: {{decay: 0.05}}}}\n")
        assert lines == [f"{tmp_path / 'c.yaml'}: train.regularization.decay: two decoupled weight decays: adamw "
                         f"decays the weights itself ({said}); set one of them to 0, got decay: 0.05"]
    cfg = load_config(write(tmp_path, "train: {optimizer: {name: adamw, weight_decay: 0}, "
                                      "regularization: {decay: 0.05, biases: true}}\n"))
    assert cfg.train["regularization"]["decay"] == 0.05  # one decay, now regularization's: fine


def test_biases_do_not_reach_an_optimizers_own_weight_decay(tmp_path):
    lines = errors_of(tmp_path, "train: {optimizer: adamw, regularization: {l2: 0.001, biases: true}}\n")
    assert len(lines) == 1 and "train.regularization.biases: true reaches l1, l2 and decay, not adamw's own " \
                               "weight decay" in lines[0] and "use optimizer adam with train.regularization.decay: " \
                                                              "0.01" in lines[0]


def test_lbfgs_takes_no_decoupled_decay(tmp_path):
    lines = errors_of(tmp_path, "train: {optimizer: lbfgs, batch_size: full, regularization: {decay: 0.01}}\n")
    assert len(lines) == 1 and lines[0].endswith("train.regularization.decay: lbfgs follows the gradient of one "
                                                 "loss, and decoupled decay moves the weights outside it; use l2 "
                                                 "(the same decay as a loss term), got decay: 0.01")


def test_dropout_modes(tmp_path):
    for mode in ("inverted", "classic", "unscaled"):
        cfg = load_config(write(tmp_path, f"model: {{dropout: {{rate: 0.5, mode: {mode}}}}}\n"))
        assert cfg.model["dropout"] == {"rate": 0.5, "mode": mode}
    assert errors_of(tmp_path, "model: {dropout: {rate: 0.5, mode: scaled}}\n") == [
        f"{tmp_path / 'c.yaml'}: model.dropout.mode: must be one of inverted, classic, unscaled (did you mean "
        "'unscaled'?), got 'scaled'"]


def test_early_stopping_needs_validation(tmp_path):
    lines = errors_of(tmp_path, "data: {val_fraction: 0}\ntrain: {early_stopping: true}\n")
    assert "val_loss needs a validation split" in lines[0]


def test_data_options_come_from_the_loader(tmp_path):
    cfg = load_config(write(tmp_path, "data: {name: spiral, n_samples: 50}\n"))
    assert cfg.data["n_samples"] == 50 and cfg.data["classes"] == 3
    lines = errors_of(tmp_path, "data: {name: mnist1d, noise: 0.3}\n")
    assert "data.noise: unknown option 'noise': dataset 'mnist1d' takes no options" in lines[0]
    lines = errors_of(tmp_path, "data: {name: npz}\n")
    assert "data.path: missing required value" in lines[0]


def test_extends_merges_and_paths_are_relative_to_the_file(tmp_path):
    (tmp_path / "sub").mkdir()
    write(tmp_path, "seed: 5\nmodel: {hidden: [8], activation: tanh}\ntrain: {epochs: 7}\n", "base.yaml")
    child = write(tmp_path / "sub", "extends: ../base.yaml\nmodel: {hidden: [3]}\n"
                                    "data: {name: npz, path: x.npz}\n", "child.yaml")
    cfg = load_config(child)
    assert cfg.name == "child" and cfg.seed == 5 and cfg.train["epochs"] == 7
    assert cfg.model["hidden"] == [3] and cfg.model["activation"]["name"] == "tanh"
    assert cfg.data["path"] == str((tmp_path / "sub" / "x.npz").resolve())


def test_extends_cycle_and_missing(tmp_path):
    write(tmp_path, "extends: b.yaml\n", "a.yaml")
    write(tmp_path, "extends: a.yaml\n", "b.yaml")
    with pytest.raises(ConfigError, match="circular"):
        load_config(tmp_path / "a.yaml")
    with pytest.raises(ConfigError, match="extends: file not found"):
        load_config(write(tmp_path, "extends: nope.yaml\n"))


def test_set_overrides(tmp_path):
    p = write(tmp_path, "train:\n  optimizer: adam\n")
    cfg = load_config(p, ["train.optimizer.lr=0.01", "model.hidden=[64,64]", "train.batch_size=full"])
    assert cfg.train["optimizer"]["name"] == "adam" and cfg.train["optimizer"]["lr"] == 0.01
    assert cfg.model["hidden"] == [64, 64] and cfg.train["batch_size"] == "full"
    with pytest.raises(ConfigError) as info:
        load_config(p, ["train.optimizer.lr=-1"])
    assert "train.optimizer.lr: must be greater than 0, got -1" in info.value.lines[0]
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(p, ["train.epochs"])


def test_apply_override_creates_mappings():
    raw = {"train": {"schedule": "constant"}}
    apply_override(raw, "train.schedule.warmup=3")
    apply_override(raw, "train.early_stopping.patience=4")
    assert raw == {"train": {"schedule": {"name": "constant", "warmup": 3}, "early_stopping": {"patience": 4}}}


def test_missing_and_non_mapping_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))


def test_resolved_dump_round_trips(tmp_path):
    cfg = load_config(write(tmp_path, "name: x\ntrain:\n  optimizer: {name: rmsprop, centered: true}\n"
                                      "  schedule: {name: warm_restart, t_0: 5}\n  early_stopping: true\n"
                                      "model: {dropout: 0.2, batch_norm: true}\n"))
    again = validate(parse_yaml(cfg.dump(), "dump"), "dump.yaml")
    assert again.as_dict() == cfg.as_dict()


def test_empty_config_is_valid_with_a_note(tmp_path):
    for text in ("", "# only a comment\n\n"):
        cfg = load_config(write(tmp_path, text))
        assert cfg.notes == [f"{tmp_path / 'c.yaml'} is empty; all defaults are used"]
        assert cfg.train["epochs"] == 100 and cfg.model["hidden"] == [100, 100]
    cfg = load_config(write(tmp_path, ""), ["seed=4"])
    assert cfg.seed == 4
    assert cfg.notes == [f"{tmp_path / 'c.yaml'} is empty; all defaults are used except the --set values"]
    assert load_config(write(tmp_path, "seed: 1\n")).notes == []


def test_validate_prints_the_empty_config_note(tmp_path):
    from click.testing import CliRunner

    from nnlab.cli import main

    p = write(tmp_path, "# nothing yet\n", name="x.yaml")
    r = CliRunner().invoke(main, ["validate", str(p)], env={"COLUMNS": "300"})
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert lines[0] == f"note: {p} is empty; all defaults are used"
    assert lines[1].startswith(f"ok {p}")


@pytest.mark.parametrize("assignment,section,key,expected", [
    ("train.schedule.warmup=2", "train", "schedule", {"name": "constant", "unit": "epoch", "warmup": 2}),
    ("train.optimizer.lr=0.01", "train", "optimizer", {"name": "adam", "lr": 0.01, "beta1": 0.9, "beta2": 0.999,
                                                       "eps": 1e-8, "amsgrad": False, "bias_correction": True}),
])
def test_set_option_of_an_unnamed_component_uses_the_default_component(tmp_path, assignment, section, key,
                                                                        expected):
    cfg = load_config(write(tmp_path, "seed: 1\n"), [assignment])
    assert getattr(cfg, section)[key] == expected
    raw = {}
    apply_override(raw, assignment)
    assert raw[section][key]["name"] == expected["name"]


def test_set_option_of_unnamed_init_and_activation_merges_onto_the_default(tmp_path):
    # he_normal has no std and relu no slope: the error names the default component, not a missing 'name'
    lines = errors_of(tmp_path, "seed: 1\n", ["model.init.std=0.05", "model.activation.slope=0.2"])
    assert lines == [
        f"{tmp_path / 'c.yaml'}: model.activation.slope: unknown option 'slope': activation 'relu' "
        "takes no options",
        f"{tmp_path / 'c.yaml'}: model.init.std: unknown option 'std': initializer 'he_normal' "
        "takes no options",
    ]


def test_set_option_of_a_named_component_keeps_its_name(tmp_path):
    cfg = load_config(write(tmp_path, "model: {activation: leaky_relu, init: {name: normal}}\n"
                                      "train: {optimizer: {name: sgd, lr: 0.5}}\n"),
                      ["model.activation.slope=0.2", "model.init.std=0.05", "train.optimizer.momentum=0.9"])
    assert cfg.model["activation"] == {"name": "leaky_relu", "slope": 0.2}
    assert cfg.model["init"]["name"] == "normal" and cfg.model["init"]["std"] == 0.05
    assert cfg.train["optimizer"]["name"] == "sgd" and cfg.train["optimizer"]["lr"] == 0.5
    assert cfg.train["optimizer"]["momentum"] == 0.9


# ---------------------------------------------------------------- run name length (#13a)


def test_name_longer_than_200_characters_is_rejected(tmp_path):
    cfg = load_config(write(tmp_path, "name: " + "a" * 200 + "\n"))
    assert cfg.name == "a" * 200
    lines = errors_of(tmp_path, "name: " + "a" * 300 + "\n")
    assert lines == [f"{tmp_path / 'c.yaml'}: name: must be at most 200 characters (it names the run folder), "
                     f"got 300: {'a' * 20}..."]


def test_train_name_option_uses_the_same_rule(tmp_path):
    from click.testing import CliRunner

    from nnlab.cli import main

    p = write(tmp_path, "seed: 1\n")
    r = CliRunner().invoke(main, ["train", str(p), "--runs-dir", str(tmp_path / "runs"), "--name", "b" * 201])
    assert r.exit_code == 2
    assert r.output.splitlines() == [f"error: --name: must be at most 200 characters (it names the run folder), "
                                     f"got 201: {'b' * 20}..."]
    r = CliRunner().invoke(main, ["train", str(p), "--runs-dir", str(tmp_path / "runs"), "--name", "a/b"])
    assert r.exit_code == 2
    assert r.output.splitlines() == ["error: --name: must be ASCII letters, digits, '_', '-', '.' or '+' (it names the "
                                     "run folder), got 'a/b'"]
    assert not (tmp_path / "runs").exists()


def test_empty_runs_dir_is_rejected_before_training(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from nnlab.cli import main

    monkeypatch.chdir(tmp_path)
    p = write(tmp_path, "seed: 1\n")
    r = CliRunner().invoke(main, ["train", str(p), "--runs-dir", ""])
    assert r.exit_code == 2
    assert r.output.splitlines() == ["error: --runs-dir: must name a folder, got an empty string; use --runs-dir . "
                                     "for the current folder"]
    assert sorted(x.name for x in tmp_path.iterdir()) == ["c.yaml"]


# ---------------------------------------------------------------- one rule for numbers (#13d)


def test_whole_number_options_take_whole_floats_but_not_text(tmp_path):
    cfg = load_config(write(tmp_path, "seed: 1.0\ntrain: {epochs: 1e2, batch_size: 32.0}\n"
                                      "data: {name: spiral, n_samples: 3e2}\n"))
    assert (cfg.seed, cfg.train["epochs"], cfg.train["batch_size"], cfg.data["n_samples"]) == (1, 100, 32, 300)
    assert all(type(v) is int for v in (cfg.seed, cfg.train["epochs"], cfg.train["batch_size"],
                                        cfg.data["n_samples"]))
    src = tmp_path / "c.yaml"
    lines = errors_of(tmp_path, "seed: '3'\ndata: {name: spiral, n_samples: \"300\"}\n"
                                "train: {epochs: 2.5, batch_size: '64', optimizer: {name: sgd, lr: '0.01'}}\n")
    assert lines == [
        f"{src}: seed: must be a whole number >= 0, got '3' (text; write it without quotes)",
        f"{src}: train.epochs: must be a whole number, got 2.5",
        f"{src}: data.n_samples: must be a whole number, got '300' (text; write it without quotes)",
        f"{src}: train.batch_size: must be an integer >= 1 (1 is pure SGD) or 'full' (batch gradient descent), "
        "got '64' (text; write it without quotes)",
        f"{src}: train.optimizer.lr: must be a valid number, got '0.01' (text; write it without quotes)",
    ]


def test_float_options_take_ints_and_reject_booleans(tmp_path):
    cfg = load_config(write(tmp_path, "train: {optimizer: {name: sgd, lr: 1}}\n"))
    assert cfg.train["optimizer"]["lr"] == 1.0 and type(cfg.train["optimizer"]["lr"]) is float
    lines = errors_of(tmp_path, "train: {optimizer: {name: sgd, lr: true}}\n")
    assert lines == [f"{tmp_path / 'c.yaml'}: train.optimizer.lr: must be a valid number, got true"]


@pytest.mark.parametrize("text, shown", [(".inf", "inf"), ("-.inf", "-inf"), (".nan", "nan"), ("1e400", "inf")])
def test_infinite_and_nan_numbers_are_refused_for_every_float_option(tmp_path, text, shown):
    """YAML reads .inf, .nan and an overflowing 1e400 as floats; no option takes them.  Before, an
    infinite learning rate or slope passed the '> 0' bounds, and a NaN passed options with no bound
    (warm_restart's t_mult, whose own check 't_mult < 1' is false for NaN)."""
    src = tmp_path / "c.yaml"
    lines = errors_of(tmp_path, f"train: {{optimizer: {{name: sgd, lr: {text}}},\n"
                                f"        schedule: {{name: warm_restart, t_0: 5, t_mult: {text}}}}}\n"
                                f"model: {{activation: {{name: leaky_relu, slope: {text}}}, dropout: [{text}]}}\n")
    assert lines == [f"{src}: model.activation.slope: must be a finite number, got {shown}",
                     f"{src}: model.dropout.rate: item 1 must be a finite number, got [{shown}]",
                     f"{src}: train.optimizer.lr: must be a finite number, got {shown}",
                     f"{src}: train.schedule.t_mult: must be a finite number, got {shown}"]


def test_upper_bounds_on_epochs_samples_and_widths(tmp_path):
    src = tmp_path / "c.yaml"
    lines = errors_of(tmp_path, "train: {epochs: 1e9}\nmodel: {hidden: [64, 1000001]}\n"
                                "data: {name: blobs, n_samples: 1e9, n_features: 200000}\n")
    assert lines == [
        f"{src}: model.hidden: item 2 must be less than or equal to 100000, got [64, 1000001]",
        f"{src}: train.epochs: must be less than or equal to 1000000, got 1000000000",
        f"{src}: data.n_samples: must be less than or equal to 100000000, got 1000000000",
        f"{src}: data.n_features: must be less than or equal to 100000, got 200000",
    ]
    cfg = load_config(write(tmp_path, "train: {epochs: 1e6}\n"))
    assert cfg.train["epochs"] == 1_000_000


# --- every rule of validate() as its exact line (the docstrings of nnlab.config.schema's sections) -------------

AUG = "null or a mapping {noise, shift, scale, mixup}"
RULES = [
    ({"extends": "x.yaml"}, ["extends: names the file a config builds on, so it belongs in the config file itself "
                             "(its top level); it cannot be given with --set"]),
    ({"modle": {}}, ["modle: unknown key 'modle'; choose from data, dtype, extends, model, name, seed, train (did you "
                     "mean 'model'?)"]),
    ({"dtype": "float16"}, ["dtype: must be float32 or float64, got 'float16'"]),
    ({"seed": -1}, ["seed: must be a whole number >= 0, got -1"]),
    ({"name": "a/b"}, ["name: must be ASCII letters, digits, '_', '-', '.' or '+' (it names the run folder), got "
                       "'a/b'"]),
    ({"name": ""}, ["name: must be ASCII letters, digits, '_', '-', '.' or '+' (it names the run folder), got ''"]),
    ({"model": [1]}, ["model: must be a mapping of keys, got [1]"]),
    ({"train": {"epochs": 0, "optimizer": "adamm"}},
     ["train.epochs: must be greater than 0, got 0", "train.optimizer: unknown optimizer 'adamm'; choose from adadelta, "
      "adagrad, adam, adamax, adamw, lbfgs, momentum, nadam, nesterov, rmsprop, sgd (did you mean 'adam'?)"]),
    ({"data": {"augment": 3}}, [f"data.augment: must be {AUG}, got 3"]),
    ({"data": {"augment": {"nois": 0.1}}},
     ["data.augment.nois: unknown key 'nois'; choose from mixup, noise, scale, shift (did you mean 'noise'?)"]),
    ({"data": {"preprocess": "minmx"}}, ["data.preprocess: unknown preprocessor 'minmx'; choose from center, "
                                         "channel_center, channel_standardize, none, pca_whiten, standardize, "
                                         "zca_whiten"]),
    ({"model": {"batch_norm": 3}}, ["model.batch_norm: must be true, false or {momentum, eps}, got 3"]),
    ({"model": {"batch_norm": {"momentm": 0.5}}},
     ["model.batch_norm.momentm: unknown key 'momentm'; choose from eps, momentum (did you mean 'momentum'?)"]),
    ({"model": {"dropout": True}}, ["model.dropout: must be a drop probability, a list (one per hidden layer) or "
                                    "{rate, mode}, got True"]),
    ({"model": {"dropout": 1.0}}, ["model.dropout.rate: each drop probability must be in [0, 1), got 1.0"]),
    ({"model": {"dropout": [0.1, 1]}}, ["model.dropout.rate: each drop probability must be in [0, 1), got [0.1, 1.0]"]),
    ({"train": {"batch_size": 0}}, ["train.batch_size: must be an integer >= 1 (1 is pure SGD) or 'full' (batch "
                                    "gradient descent), got 0"]),
    ({"train": {"batch_size": "32"}}, ["train.batch_size: must be an integer >= 1 (1 is pure SGD) or 'full' (batch "
                                       "gradient descent), got '32' (text; write it without quotes)"]),
    ({"train": {"batch_size": "all"}}, ["train.batch_size: must be an integer >= 1 (1 is pure SGD) or 'full' (batch "
                                        "gradient descent), got 'all'"]),
    ({"train": {"batch_size": True}}, ["train.batch_size: must be an integer >= 1 (1 is pure SGD) or 'full' (batch "
                                       "gradient descent), got true"]),
    ({"train": {"batch_size": 1}, "model": {"batch_norm": True}},
     ["train.batch_size: batch normalization needs batches of at least 2 rows (a single row's variance is 0), got 1; "
      "raise batch_size or set model.batch_norm: false"]),
    ({"train": {"regularization": 3}}, ["train.regularization: must be a mapping, got 3"]),
    ({"train": {"grad_clip": 3}}, ["train.grad_clip: must be null, {norm: c} or {value: v}, got 3"]),
    ({"train": {"grad_clip": {"norm": 1, "value": 1}}},
     ["train.grad_clip: give exactly one of 'norm' (global norm) or 'value' (per entry)"]),
    ({"train": {"grad_clip": {}}}, ["train.grad_clip: give exactly one of 'norm' (global norm) or 'value' (per entry)"]),
    ({"train": {"early_stopping": 3}},
     ["train.early_stopping: must be true, false or {metric, patience, min_delta, restore_best}, got 3"]),
    ({"train": {"early_stopping": True}, "data": {"val_fraction": 0}},
     ["train.early_stopping.metric: val_loss needs a validation split, but data.val_fraction is 0; use a train_ "
      "metric or set val_fraction > 0"]),
    ({"train": {"ensemble": 3}}, ["train.ensemble: must be null, {members: n} or {snapshots: n}, got 3"]),
    *[({"train": {"ensemble": en}}, ["train.ensemble: give exactly one of 'members' (independent runs) or 'snapshots' "
                                     "(the ends of one run's learning-rate cycles)"])
      for en in ({"members": 2, "snapshots": 2}, {})],
    ({"train": {"ensemble": {"snapshots": 3}}},
     ["train.ensemble.snapshots: a snapshot ensemble takes the weights at the ends of learning-rate cycles; use a "
      "cyclic train.schedule (warm_restart or cyclic), not constant"]),
    ({"train": {"averaging": 3}}, ["train.averaging: must be null, {method: ema, decay: 0.999} or {method: swa, "
                                   "start: 0.75, lr: null}, got 3"]),
    ({"train": {"optimizer": "lbfgs", "batch_size": "full", "averaging": {"method": "ema"},
                "ensemble": {"snapshots": 2}, "schedule": {"name": "warm_restart", "t_0": 2},
                "regularization": {"decay": 0.1}}, "data": {"augment": {"noise": 0.1}}},
     ["train.schedule: lbfgs needs schedule: constant without warmup (lr is only its first trial step; the line "
      "search picks the steps), got warm_restart",
      "train.averaging: lbfgs takes few steps of its own length, not the small noisy ones weight averaging smooths; "
      "set averaging: null", "train.ensemble.snapshots: lbfgs has no learning-rate cycles to snapshot; use members",
      "train.regularization.decay: lbfgs follows the gradient of one loss, and decoupled decay moves the weights "
      "outside it; use l2 (the same decay as a loss term), got decay: 0.1",
      "data.augment: lbfgs needs the same batch at every evaluation of its loss, but augmentation draws new noise "
      "each time; set augment: null"]),
    ({"train": {"optimizer": "lbfgs"}}, ["train.batch_size: lbfgs needs batch_size: full (its line search evaluates "
                                         "the same function many times per step; a mini-batch changes the function "
                                         "at every step), got 100"]),
]


@pytest.mark.parametrize("raw, lines", RULES, ids=[re.sub(r"\W+", "-", repr(raw)).strip("-") for raw, _ in RULES])
def test_every_rule_of_validate_is_its_own_exact_line(raw, lines):
    with pytest.raises(ConfigError) as info:
        validate(raw, source="c")
    assert info.value.lines == [f"c: {line}" for line in lines]


def test_the_augment_spec_is_checked_against_the_preprocessing():
    from nnlab.data.augment import check_spec

    spec = {"noise": None, "shift": 2, "scale": None, "mixup": None}
    expected = check_spec(spec, "pca_whiten")
    assert expected  # a shift of whitened (rotated) inputs is refused
    with pytest.raises(ConfigError) as info:
        validate({"data": {"augment": {"shift": 2}, "preprocess": "pca_whiten"}}, source="c")
    assert info.value.lines == [f"c: {line}" for line in expected]
    assert validate({"data": {"augment": {"shift": 2}}}).data["augment"] == spec


def test_what_validate_fills_in():
    cfg = validate({"name": "n", "data": {"task": "regression", "augment": {"noise": 0.1}},
                    "model": {"batch_norm": {"momentum": 0.5}, "dropout": [0.1, 0.2]}, "train": {
                        "batch_size": 32.0, "grad_clip": {"norm": 1}, "early_stopping": True,
                        "ensemble": {"members": 3}}})
    assert cfg.data == {"name": "mnist1d", "val_fraction": 0.1, "task": "regression",
                        "preprocess": {"name": "standardize"},
                        "augment": {"noise": 0.1, "shift": None, "scale": None, "mixup": None}}
    assert cfg.model["batch_norm"] == {"momentum": 0.5, "eps": 1e-05}
    assert cfg.model["dropout"] == {"rate": [0.1, 0.2], "mode": "inverted"}
    t = cfg.train
    assert (t["batch_size"], t["grad_clip"], t["ensemble"]) == (32, {"norm": 1.0, "value": None},
                                                                {"members": 3, "snapshots": None})
    assert t["early_stopping"] == {"metric": "val_loss", "patience": 10, "min_delta": 0.0, "restore_best": True}
    assert "task" not in validate({}).data  # auto is left out of the resolved config
    for bn, resolved in ((True, {"momentum": 0.9, "eps": 1e-05}), (None, False), (False, False)):
        assert validate({"model": {"batch_norm": bn}}).model["batch_norm"] == resolved
    for dropout in (None, False, 0):
        assert validate({"model": {"dropout": dropout}}).model["dropout"] == {"rate": 0.0, "mode": "inverted"}
    assert validate({"model": {"dropout": 0.5}}).model["dropout"]["rate"] == 0.5
    assert validate({"train": {"early_stopping": False}}).train["early_stopping"] is None
    # a train_ metric needs no validation split; snapshots with a cyclic schedule; batch size 1 without batch norm
    assert validate({"data": {"val_fraction": 0}, "train": {"early_stopping": {"metric": "train_loss"}}})
    assert validate({"train": {"ensemble": {"snapshots": 2}, "schedule": {"name": "warm_restart", "t_0": 2}}})
    assert validate({"train": {"batch_size": 1}}).train["batch_size"] == 1
    # sections given as null are all defaults; the name comes from the source
    cfg = validate({"data": None, "model": None, "train": None}, source="dir/my-run.yaml")
    assert cfg.name == "my-run" and cfg.source == "dir/my-run.yaml" and cfg.seed == 0 and cfg.dtype == "float32"
    assert validate({}).name == "config"
    assert validate({"dtype": "float64", "seed": 2.0}).as_dict()["dtype"] == "float64"


def test_a_bad_plain_value_and_a_bad_component_of_one_section_are_both_reported():
    with pytest.raises(ConfigError) as info:
        validate({"model": {"hidden": "x", "activation": "rleu"}}, source="c")
    assert info.value.lines[0].startswith("c: model.hidden: ") and len(info.value.lines) == 2
    assert info.value.lines[1].startswith("c: model.activation: unknown activation 'rleu'")


def test_dump_keeps_the_order_of_the_sections_and_flows_lists():
    cfg = validate({"name": "n", "model": {"hidden": [4, 4]}})
    text = cfg.dump()
    assert text.startswith("name: n\nseed: 0\ndtype: float32\ndata:\n") and "hidden: [4, 4]" in text
    assert list(yaml.safe_load(text)) == ["name", "seed", "dtype", "data", "model", "train"]


def test_overrides_their_messages_and_data_path():
    from nnlab.config.schema import apply_overrides, plain, set_key

    raw: dict = {}
    apply_override(raw, "model.hidden = [4, 4]")
    apply_override(raw, "train.optimizer.lr=a=b")
    apply_override(raw, "train.schedule.warmup=")
    assert raw == {"model": {"hidden": [4, 4]}, "train": {"optimizer": {"name": "adam", "lr": "a=b"},
                                                          "schedule": {"name": "constant", "warmup": None}}}
    for bad, message in (("train.epochs", "--set train.epochs: expected KEY=VALUE, e.g. --set train.optimizer.lr=0.01"),
                         ("train..lr=1", "--set train..lr=1: the key must be a dotted path such as train.epochs"),
                         ("=1", "--set =1: the key must be a dotted path such as train.epochs"),
                         ("train.epochs.x=1", "--set train.epochs.x=1: 'train.epochs' is 3, not a mapping with keys")):
        with pytest.raises(ConfigError) as info:
            apply_override({"train": {"epochs": 3}}, bad)
        assert info.value.lines == [message]
    raw = {}
    apply_override(raw, "data.path=~/x.npz")
    assert raw["data"]["path"] == str((__import__("pathlib").Path.home() / "x.npz").resolve())
    # the Python API's mapping: values as they are (tuples as lists), keys checked, data.path absolute
    raw = {}
    apply_overrides(raw, {"model.hidden": (8, 8), "train.optimizer.lr": 0.01, "data.path": "d.npz",
                          "train.schedule.warmup": 2})
    assert raw["model"] == {"hidden": [8, 8]} and raw["train"]["optimizer"] == {"name": "adam", "lr": 0.01}
    assert raw["train"]["schedule"] == {"name": "constant", "warmup": 2}
    assert raw["data"]["path"] == str(__import__("pathlib").Path("d.npz").resolve())
    raw = {}
    apply_overrides(raw, {"data.path": ""})
    assert raw == {"data": {"path": ""}}
    apply_overrides(raw, ["train.epochs=5"])
    assert raw["train"] == {"epochs": 5}
    for bad in ("", "a..b", 3, ".a"):
        with pytest.raises(ConfigError) as info:
            apply_overrides({}, {bad: 1})
        assert info.value.lines == [f"overrides: {bad}: a key must be a dotted path such as train.optimizer.lr"]
    with pytest.raises(ConfigError) as info:
        apply_overrides({"train": {"epochs": 3}}, {"train.epochs.x": 1})
    assert info.value.lines == ["overrides: train.epochs.x: 'train.epochs' is 3, not a mapping with keys"]
    # set_key: a missing component starts from a copy of its section's default, never the default itself
    a, b = {}, {}
    set_key(a, "train.optimizer.lr", 0.5)
    set_key(b, "train.optimizer.beta1", 0.5)
    assert a["train"]["optimizer"] == {"name": "adam", "lr": 0.5} and b["train"]["optimizer"] == \
        {"name": "adam", "lr": 0.001, "beta1": 0.5}
    with pytest.raises(ConfigError) as info:
        set_key({"a": 1}, "a.b", 2)
    assert info.value.lines == [": 'a' is 1, not a mapping with keys"]
    # plain: numpy numbers and arrays as Python numbers and lists, containers copied
    import numpy as np

    inner = [1]
    out = plain({"a": (np.float32(0.5), np.int64(2)), "b": np.array([[1, 2]]), "c": inner, "d": np.float64})
    assert out == {"a": [0.5, 2], "b": [[1, 2]], "c": [1], "d": np.float64} and type(out["a"][1]) is int
    assert out["c"] is not inner and type(out["a"][0]) is float
    x = {"k": [1]}
    assert plain(x)["k"] is not x["k"] and plain(np.str_("s")) == "s"


def test_more_edges_of_validate_and_the_overrides():
    from collections import deque

    import numpy as np

    from nnlab.config.schema import component_defaults, plain, run_name_problem

    # a section that is not a mapping is one line, never a crash in the later checks
    for sec in ("data", "train"):
        with pytest.raises(ConfigError) as info:
            validate({sec: 3}, source="c")
        assert info.value.lines == [f"c: {sec}: must be a mapping of keys, got 3"]
    # a bad plain value whose message holds a colon still lets the components be checked
    with pytest.raises(ConfigError) as info:
        validate({"model": {"hidden": "a: b", "activation": "rleu"}}, source="c")
    assert len(info.value.lines) == 2 and info.value.lines[1].startswith("c: model.activation: unknown activation")
    # the model's rules reach the optimizer's: lbfgs and dropout
    with pytest.raises(ConfigError) as info:
        validate({"model": {"dropout": 0.2}, "train": {"optimizer": "lbfgs", "batch_size": "full"}}, source="c")
    assert info.value.lines[0].startswith("c: model.dropout: lbfgs needs a deterministic loss")
    # the component defaults a --set starts from (only untyped keys whose default names a component)
    assert component_defaults() == {"data.preprocess": "standardize", "model.activation": "relu",
                                    "model.init": "he_normal", "train.optimizer": {"name": "adam", "lr": 0.001},
                                    "train.schedule": "constant"}
    raw: dict = {}
    apply_override(raw, "train.batch_size.x=1")
    assert raw == {"train": {"batch_size": {"x": 1}}}
    with pytest.raises(ConfigError) as info:
        apply_override({}, "a.b=[1")
    assert info.value.lines[0].startswith("--set a.b=[1")
    assert run_name_problem("ABC_x-1.2+3") is None and run_name_problem("a" * 200) is None
    assert run_name_problem("a" * 201) == ("must be at most 200 characters (it names the run folder), got 201: "
                                           "aaaaaaaaaaaaaaaaaaaa...")
    assert plain(np.bool_(True)) is True and plain([np.int32(3)]) == [3]
    inner = [1]
    assert plain(deque([inner]))[0] is not inner  # anything else is deep-copied
