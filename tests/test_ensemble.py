"""Ensembles: the averaged-softmax rule, snapshot ensembles, members ensembles, nnlab ensemble."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from nnlab.cli import main
from nnlab.config import validate
from nnlab.errors import ConfigError, RunError
from nnlab.experiment import load_data, run_experiment
from nnlab.train.combine import combine, softmax
from nnlab.train.trainer import Trainer, build, evaluate, train

SPIRAL = {"name": "e", "data": {"name": "spiral", "n_samples": 300},
          "model": {"hidden": [16], "activation": "tanh"},
          "train": {"epochs": 6, "batch_size": 50, "optimizer": {"name": "momentum", "lr": 0.1}}}


def cfg_with(**train):
    raw = json.loads(json.dumps(SPIRAL))
    raw["train"].update(train)
    return validate(raw)


def test_combine_averages_softmax_probabilities_by_hand():
    a = np.array([[2.0, 0.0], [0.0, 1.0]])
    b = np.array([[0.0, 3.0], [0.0, 0.0]])
    y = np.array([0, 1])
    pa, pb = np.exp(a) / np.exp(a).sum(1, keepdims=True), np.exp(b) / np.exp(b).sum(1, keepdims=True)
    p = (pa + pb) / 2
    got = combine([a, b], y, "classification")
    assert got["loss"] == pytest.approx(-(math.log(p[0, 0]) + math.log(p[1, 1])) / 2, rel=1e-12)
    assert got["acc"] == np.mean(p.argmax(1) == y)
    # p[0] = (0.881 + 0.047) / 2 for class 0: 0.464 < 0.5, so sample 0 is wrong; sample 1 right
    assert got["acc"] == 0.5
    np.testing.assert_allclose(softmax(a).sum(1), 1.0)


def test_combine_for_regression_is_the_mean_output_and_its_mse():
    outs = [np.array([[1.0], [3.0]]), np.array([[3.0], [5.0]])]
    got = combine(outs, np.array([[2.0], [3.0]]), "regression")
    assert got == {"loss": pytest.approx(((2 - 2) ** 2 + (4 - 3) ** 2) / 2), "acc": None}


def test_a_one_member_ensemble_scores_what_its_model_scores():
    cfg = cfg_with()
    data = load_data(cfg)
    res = train(cfg, data)
    loss, acc = evaluate(res.model, data.x_test, data.y_test, build(cfg, data)[1])
    got = combine([res.model.predict(data.x_test)], data.y_test, "classification")
    assert got["acc"] == acc and got["loss"] == pytest.approx(loss, rel=1e-5)


def test_snapshots_are_the_weights_at_the_ends_of_the_last_cycles():
    cfg = cfg_with(schedule={"name": "warm_restart", "t_0": 2}, ensemble={"snapshots": 2})
    data = load_data(cfg)
    res = train(cfg, data)
    e = res.ensemble
    assert e["snapshots"] == 2 and [m["epoch"] for m in e["members"]] == [4, 6]  # cycles end at epochs 2, 4, 6
    # the last snapshot is the final model
    assert e["members"][-1]["test_acc"] == res.test["acc"]
    assert e["members"][-1]["test_loss"] == pytest.approx(res.test["loss"], rel=1e-5)
    # and the ensemble is the average of the two snapshots' softmax: retrain to epoch 4 for the first one
    at4 = train(validate({**cfg.as_dict(), "train": {**cfg.as_dict()["train"], "epochs": 4, "ensemble": None}}),
                data)
    want = combine([at4.model.predict(data.x_test), res.model.predict(data.x_test)], data.y_test, "classification")
    assert e["ensemble"]["test_acc"] == want["acc"]
    assert e["ensemble"]["test_loss"] == pytest.approx(want["loss"], rel=1e-6)


def test_cyclic_snapshots_are_taken_at_step_cycle_ends():
    cfg = cfg_with(schedule={"name": "cyclic", "max_lr": 0.3, "step_size": 3, "unit": "step"},
                   ensemble={"snapshots": 3})
    data = load_data(cfg)
    res = train(cfg, data)
    spe = len(Trainer(cfg, data).batches.bounds)  # steps per epoch
    # a triangular cycle is 2 x 3 steps: it ends at (0-based) steps 5, 11, 17, ...; the last three are kept
    ends = [u for u in range(6 * spe) if (u + 1) % 6 == 0][-3:]
    assert [m["unit"] for m in res.ensemble["members"]] == ends
    assert [m["epoch"] for m in res.ensemble["members"]] == [u // spe + 1 for u in ends]


def test_fewer_cycles_than_snapshots_averages_those_and_says_so():
    cfg = cfg_with(schedule={"name": "warm_restart", "t_0": 4}, ensemble={"snapshots": 5})
    res = train(cfg, load_data(cfg))
    assert res.ensemble["snapshots"] == 1 and "only 1 learning-rate cycles ended" in res.ensemble["message"]


def test_a_resumed_snapshot_run_equals_one_never_stopped():
    cfg = cfg_with(schedule={"name": "warm_restart", "t_0": 2}, ensemble={"snapshots": 2})
    data = load_data(cfg)
    full = train(cfg, data)
    states = []
    part = Trainer(cfg, data, on_checkpoint=lambda s: states.append({k: np.array(v) for k, v in s.items()}),
                   checkpoint_every=0.0)
    part.run()
    mid = next(s for s in states if json.loads(str(s["meta"]))["epochs_done"] == 5)  # one snapshot kept so far
    again = train(cfg, data, resume=mid)
    assert again.ensemble == full.ensemble


@pytest.mark.parametrize("ensemble, schedule, message", [
    ({"members": 1}, "constant", "train.ensemble.members: must be greater than 1, got 1"),
    ({"members": 2, "snapshots": 2}, "constant", "give exactly one of 'members'"),
    ({"snapshots": 3}, "constant", "use a cyclic train.schedule (warm_restart or cyclic), not constant"),
    ({"member": 3}, "constant", "unknown key 'member'; choose from members, snapshots (did you mean 'members'?)"),
])
def test_ensemble_config_errors(ensemble, schedule, message):
    with pytest.raises(ConfigError) as e:
        cfg_with(ensemble=ensemble, schedule=schedule)
    assert any(message in ln for ln in e.value.lines), e.value.lines


@pytest.mark.slow
def test_a_members_ensemble_trains_each_member_and_scores_their_average(tmp_path):
    from nnlab.sweep.members import run_members

    cfg = cfg_with(ensemble={"members": 3})
    with pytest.raises(RunError, match="an ensemble of members trains several networks"):
        run_experiment(cfg, runs_dir=tmp_path)  # one network only: the plan is the caller's choice
    run_dir, summary = run_members(cfg, runs_dir=tmp_path)
    assert summary["status"] == "completed"
    members = sorted((run_dir / "members" / "runs").iterdir())
    assert [m.name for m in members] == ["t000-seed0", "t000-seed1", "t000-seed2"]
    assert [m["run"] for m in summary["ensemble"]["members"]] == [str(m) for m in members]
    data = load_data(cfg)
    outs = []
    for k, m in enumerate(members):
        s = json.loads((m / "summary.json").read_text())
        assert s["seed"] == k and s["status"] == "completed"
        assert summary["ensemble"]["members"][k]["test_acc"] == s["test"]["acc"]
        mc = validate({**cfg.as_dict(), "seed": k, "train": {**cfg.as_dict()["train"], "ensemble": None}})
        res = train(mc, data)  # the member, trained again in this process: the same weights
        outs.append(res.model.predict(data.x_test))
    want = combine(outs, data.y_test, "classification")
    assert summary["ensemble"]["ensemble"]["test_acc"] == want["acc"] == summary["test"]["acc"]
    rows = [json.loads((m / "summary.json").read_text())["final"] for m in members]
    assert summary["final"]["val_loss"] == pytest.approx(np.mean([r["val_loss"] for r in rows]))
    assert (run_dir / "curves.png").is_file() and (run_dir / "metrics.csv").is_file()
    res = CliRunner().invoke(main, ["compare", str(run_dir), "--format", "json"])
    assert res.exit_code == 0, res.output


@pytest.mark.slow
def test_nnlab_ensemble_combines_runs_and_refuses_other_data(tmp_path):
    dirs = []
    for seed in (0, 1):
        d, _, _ = run_experiment(validate({**SPIRAL, "seed": seed}), runs_dir=tmp_path / "runs")
        dirs.append(str(d))
    res = CliRunner().invoke(main, ["ensemble", *dirs, "-o", str(tmp_path / "ens")])
    assert res.exit_code == 0, res.output
    s = json.loads((tmp_path / "ens" / "summary.json").read_text())
    assert [m["run"] for m in s["members"]] == dirs
    assert s["gain"]["test_acc"]["over_mean_member"] == pytest.approx(
        s["ensemble"]["test_acc"] - np.mean([m["test_acc"] for m in s["members"]]))
    assert "ensemble" in res.output and "points over the mean member" in res.output
    other, _, _ = run_experiment(validate({**SPIRAL, "data": {"name": "spiral", "n_samples": 200}}),
                                 runs_dir=tmp_path / "other")
    res = CliRunner().invoke(main, ["ensemble", dirs[0], str(other)])
    assert res.exit_code == 1 and "its data.n_samples is 200" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["ensemble", dirs[0]])
    assert res.exit_code == 1 and "needs at least 2 finished runs" in res.output
    res = CliRunner().invoke(main, ["ensemble", *dirs, "-o", str(tmp_path / "ens")])
    assert res.exit_code == 1 and "exists and is not an empty folder" in res.output


@pytest.mark.slow
def test_a_sweep_over_an_ensemble_config_keeps_its_runs_and_holds_the_test_set_back(tmp_path):
    import yaml

    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "name": "ens", "config": {**SPIRAL, "train": {**SPIRAL["train"], "ensemble": {"members": 2}}},
        "params": {"train.optimizer.lr": [0.1, 0.03]}}))
    res = CliRunner().invoke(main, ["sweep", str(tmp_path / "s.yaml"), "-j", "2", "--runs-dir", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    (folder,) = list((tmp_path / "out").iterdir())
    for t in ("t000-seed0", "t001-seed0"):
        for m in ("t000-seed0", "t000-seed1"):
            s = json.loads((folder / "runs" / t / "members" / "runs" / m / "summary.json").read_text())
            assert s["status"] == "completed" and s["test"] == {"loss": None, "acc": None}
    summary = json.loads((folder / "summary.json").read_text())
    best = folder / "runs" / summary["best"]["runs"][0]
    ens = json.loads((best / "summary.json").read_text())["ensemble"]["ensemble"]
    assert summary["best"]["value"] == ens["val_acc"] and "test_acc" not in ens
    assert summary["best"]["test"]["acc"] is not None
    assert not (tmp_path / "runs").exists() and not list(tmp_path.glob("*/runs/*_e"))
