"""Tests for nnlab.train.averager (train.averaging: EMA and SWA): torch.optim.swa_utils golden values for
the averages, SWALR and update_bn; the trainer's use of the averaged weights (validation, test, early stopping,
checkpoints and resume); config validation; metrics.csv with and without the raw_val_* columns.

No torch needed: the golden values below are hard-coded.
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import merged_config

from nnlab.cli import main
from nnlab.data import load_dataset
from nnlab.experiment import run_experiment
from nnlab.metrics import METRIC_COLUMNS
from nnlab.runs import MetricsWriter, load_run
from nnlab.runs.compare import compare
from nnlab.train.averager import Averager, epoch_rates, swa_start_epoch, update_bn
from nnlab.train.model import build_model
from nnlab.train.trainer import Trainer, evaluate, rng_streams, train

# ----------------------------------------------------------------------------- golden values
# From torch 2.13.0 (CPU, float32), produced by this script, pasted verbatim (its output follows):
#
# """Golden values for tests/test_averaging.py from torch.optim.swa_utils (run with torch==2.13.0)."""
# import math
#
# import torch
# from torch.optim.swa_utils import SWALR, AveragedModel, get_ema_multi_avg_fn, update_bn
#
#
# def weights(t):  # the weights after step t (float32), a fixed sequence
#     return [math.sin(0.7 * t + i) * (1 + 0.1 * t) for i in range(6)]
#
#
# print(f"# torch {torch.__version__}")
# net = torch.nn.Module()
# net.p = torch.nn.Parameter(torch.zeros(6))
# models = {"ema_0.8": AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(0.8)),
#           "ema_0.3": AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(0.3)),
#           "swa": AveragedModel(net)}
# out = {k: [] for k in models}
# for t in range(7):
#     with torch.no_grad():
#         net.p.copy_(torch.tensor(weights(t)))
#     for k, m in models.items():
#         m.update_parameters(net)
#         out[k].append([float(x) for x in m.module.p.detach()])
# print("AVERAGES = {")
# for k, rows in out.items():
#     print(f"    {k!r}: [")
#     for r in rows:  # two lines per row, three values each
#         print("        [" + ", ".join(f"{x!r}" for x in r[:3]) + ",")
#         print("         " + ", ".join(f"{x!r}" for x in r[3:]) + "],")
#     print("    ],")
# print("}")
#
# # SWALR(anneal_epochs=0) constructed at the end of epoch s - 1 = 2 of 6, after StepLR(step_size=1, gamma=0.5)
# opt = torch.optim.SGD([net.p], lr=0.1)
# sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
# swa_sched = None
# lrs = []
# for epoch in range(6):
#     lrs.append(opt.param_groups[0]["lr"])
#     opt.step()
#     if epoch >= 2:
#         if swa_sched is None:
#             swa_sched = SWALR(opt, swa_lr=0.03, anneal_epochs=0)
#         else:
#             swa_sched.step()
#     else:
#         sched.step()
# print(f"SWALR_RATES = {lrs!r}")
#
# # update_bn on Linear(2,3) -> BN(3) -> ReLU -> Linear(3,3) -> BN(3) -> ReLU -> Linear(3,2); batches of 4 rows
# torch.manual_seed(0)
# W1 = [[0.5, -1.0], [1.5, 0.25], [-0.75, 0.8]]
# W2 = [[0.3, -0.6, 0.9], [1.1, 0.2, -0.4], [-0.5, 0.7, 0.6]]
# W3 = [[0.2, -0.3, 0.4], [0.1, 0.5, -0.2]]
# b1, b2, b3 = [0.1, -0.2, 0.3], [0.05, 0.0, -0.1], [0.0, 0.0]
# g1, be1, g2, be2 = [1.2, 0.8, 1.0], [0.1, -0.1, 0.0], [0.9, 1.1, 1.3], [0.0, 0.2, -0.2]
# X = [[math.cos(1.3 * n) * 2, math.sin(0.9 * n + 0.5) * 1.5 + 0.2 * n] for n in range(12)]
# seq = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3), torch.nn.ReLU(),
#                           torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
# with torch.no_grad():
#     for lin, W, b in ((seq[0], W1, b1), (seq[3], W2, b2), (seq[6], W3, b3)):
#         lin.weight.copy_(torch.tensor(W))
#         lin.bias.copy_(torch.tensor(b))
#     for bn, g, be in ((seq[1], g1, be1), (seq[4], g2, be2)):
#         bn.weight.copy_(torch.tensor(g))
#         bn.bias.copy_(torch.tensor(be))
#         bn.running_mean.fill_(5.0)  # junk that update_bn must reset
#         bn.running_var.fill_(7.0)
# x = torch.tensor(X)
# seq.eval()
# update_bn([x[i:i + 4] for i in range(0, 12, 4)], seq)
# print(f"UPDATE_BN = {{'bn1.running_mean': {[float(v) for v in seq[1].running_mean]!r},")
# print(f"             'bn1.running_var': {[float(v) for v in seq[1].running_var]!r},")
# print(f"             'bn2.running_mean': {[float(v) for v in seq[4].running_mean]!r},")
# print(f"             'bn2.running_var': {[float(v) for v in seq[4].running_var]!r}}}")
# print(f"# still in eval mode: {not seq.training}, momentum restored: {seq[1].momentum}")
# torch 2.13.0+cpu
AVERAGES = {
    'ema_0.8': [
        [0.0, 0.8414709568023682, 0.9092974066734314,
         0.14112000167369843, -0.756802499294281, -0.9589242935180664],
        [0.14172789454460144, 0.8913429975509644, 0.8214614987373352,
         -0.0036679557524621487, -0.8254251480102539, -0.8882902264595032],
        [0.34989026188850403, 0.8751855492591858, 0.5958393216133118,
         -0.231318861246109, -0.8458036184310913, -0.6826604008674622],
        [0.5043466687202454, 0.7109594345092773, 0.2639194130897522,
         -0.4257669150829315, -0.7240051627159119, -0.3565963804721832],
        [0.4972740113735199, 0.3974473476409912, -0.06779054552316666,
         -0.4707021415233612, -0.4408523738384247, -0.005684972740709782],
        [0.29258424043655396, 0.02469884790480137, -0.2658945322036743,
         -0.31202569603919983, -0.07128189504146576, 0.23499815165996552],
        [-0.044836848974227905, -0.2629464268684387, -0.23930422961711884,
         0.004353164229542017, 0.24400827288627625, 0.2593232989311218],
    ],
    'ema_0.3': [
        [0.0, 0.8414709568023682, 0.9092974066734314,
         0.14112000167369843, -0.756802499294281, -0.9589242935180664],
        [0.49604761600494385, 1.0160231590270996, 0.6018717288970947,
         -0.36563780903816223, -0.996981680393219, -0.7117051482200623],
        [0.9765920639038086, 0.8721960186958313, -0.03409299999475479,
         -0.9090370535850525, -0.9482166767120361, -0.11561021208763123],
        [1.078498125076294, 0.29949721693992615, -0.7548601031303406,
         -1.1152024269104004, -0.4502328634262085, 0.6286787390708923],
        [0.6518378257751465, -0.5097715854644775, -1.2026993036270142,
         -0.7898708581924438, 0.34916120767593384, 1.1671761274337769],
        [-0.17277105152606964, -1.1793380975723267, -1.1016271114349365,
         -0.011085272766649723, 1.0896483659744263, 1.1885643005371094],
        [-1.0279961824417114, -1.3432706594467163, -0.42354828119277954,
         0.885582447052002, 1.3805127143859863, 0.6062059998512268],
    ],
    'swa': [
        [0.0, 0.8414709568023682, 0.9092974066734314,
         0.14112000167369843, -0.756802499294281, -0.9589242935180664],
        [0.3543197214603424, 0.9661511182785034, 0.6897076368331909,
         -0.2208498865365982, -0.9283590316772461, -0.7823392152786255],
        [0.6303930282592773, 0.9142860174179077, 0.35758864879608154,
         -0.5278741121292114, -0.9280118346214294, -0.4749397933483124],
        [0.7533378005027771, 0.6992282271385193, 0.0022514164447784424,
         -0.6967953443527222, -0.7552117109298706, -0.11928990483283997],
        [0.6964669227600098, 0.38806235790252686, -0.27712494134902954,
         -0.6875249147415161, -0.4658176302909851, 0.18416020274162292],
        [0.49269330501556396, 0.07900276780128479, -0.4073225259780884,
         -0.5191574096679688, -0.15368136763572693, 0.3530886173248291],
        [0.2230912148952484, -0.1342158317565918, -0.36812546849250793,
         -0.2635822594165802, 0.0832972526550293, 0.353593647480011],
    ],
}
SWALR_RATES = [0.1, 0.05, 0.025, 0.03, 0.03, 0.03]
UPDATE_BN = {'bn1.running_mean': [-1.0753569602966309, 0.3830784559249878, 1.177987813949585],
             'bn1.running_var': [2.269214153289795, 5.246403694152832, 2.869786262512207],
             'bn2.running_mean': [0.39140111207962036, 0.5021015405654907, 0.09364952147006989],
             'bn2.running_var': [0.47645318508148193, 1.2312707901000977, 0.28963467478752136]}


def weights(t):
    """The same fixed sequence of weights as the golden script."""
    return np.array([math.sin(0.7 * t + i) * (1 + 0.1 * t) for i in range(6)], np.float32)


class Flat:
    """The least a model is to an Averager: a flat float32 parameter buffer, no layers."""

    dtype = np.dtype("float32")
    layers, names = [], []

    def __init__(self, n=6, dtype="float32"):
        self.dtype = np.dtype(dtype)
        self.params = np.zeros(n, self.dtype)


EMA_08 = {"method": "ema", "decay": 0.8}
EMA_03 = {"method": "ema", "decay": 0.3}
SWA_ALL = {"method": "swa", "start": 0.0, "lr": None}


@pytest.mark.parametrize("key, spec", [("ema_0.8", EMA_08), ("ema_0.3", EMA_03), ("swa", SWA_ALL)])
def test_the_averages_are_those_of_torch_averaged_model(key, spec):
    model = Flat()
    avg = Averager(spec, model, 7, None, [], seed=0)
    assert not avg.active and avg.avg is None  # nothing allocated before the first update
    for t, expected in enumerate(AVERAGES[key]):
        model.params[...] = weights(t)
        avg.update()
        assert avg.n == t + 1
        if t == 0:  # AveragedModel's first update copies the weights
            np.testing.assert_array_equal(avg.avg, weights(0))
            assert avg.avg is not model.params
        if spec["method"] == "swa":  # the same float32 operations as torch's get_swa_avg_fn: bit for bit
            np.testing.assert_array_equal(avg.avg, np.array(expected, np.float32), err_msg=f"update {t + 1}")
        else:  # torch's lerp is one fused multiply-add: agreement to a float32 rounding or two
            np.testing.assert_allclose(avg.avg, expected, rtol=2e-7, atol=2e-7, err_msg=f"update {t + 1}")


def test_ema_and_swa_by_hand():
    # float64, numbers that are exact in binary: EMA avg = d avg + (1 - d) w; SWA the running mean
    ema, swa = Flat(2, "float64"), Flat(2, "float64")
    a = Averager({"method": "ema", "decay": 0.75}, ema, 1, None, [], 0)
    s = Averager(SWA_ALL, swa, 1, None, [], 0)
    expected_ema, expected_swa = [[2, -4], [2.5, -2.5], [1.875, -2.875]], [[2, -4], [3, -1], [2, -2]]
    for w, e, m in zip([[2, -4], [4, 2], [0, -4]], expected_ema, expected_swa):
        ema.params[...] = swa.params[...] = w
        a.update()
        s.update()
        np.testing.assert_array_equal(a.avg, e)
        np.testing.assert_array_equal(s.avg, m)


def test_swa_start_epoch_and_rates_are_those_of_swalr_without_annealing():
    assert [swa_start_epoch(s, 100) for s in (0.0, 0.75, 0.29, 0.5, 0.999)] == [0, 75, 29, 50, 99]
    assert swa_start_epoch(0.95, 10) == 9 and swa_start_epoch(0.05, 10) == 0
    steps = [0.1 * 0.5 ** t for t in range(6)]  # StepLR(step_size=1, gamma=0.5) of the golden script
    swa = {"method": "swa", "start": 0.5, "lr": 0.03}  # SWA phase: epochs 4..6
    assert epoch_rates(swa, steps, 6) == pytest.approx(SWALR_RATES, rel=1e-15)
    assert epoch_rates({**swa, "lr": None}, steps, 6) == steps  # no lr: the schedule goes on
    assert epoch_rates(EMA_08, steps, 6) == steps and epoch_rates(None, steps, 6) == steps
    per_step = epoch_rates(swa, [1.0] * 12, 6, steps_per_epoch=2)  # unit: step, two steps an epoch
    assert per_step == [1.0] * 6 + [0.03] * 6


def bn_net():
    """The golden script's net: Linear(2,3) BN ReLU Linear(3,3) BN ReLU Linear(3,2), as nnlab lays it out."""
    cfg = merged_config({"data": {"name": "spiral"}}, model={"hidden": [3, 3], "batch_norm": True})
    r = rng_streams(0)
    m = build_model(cfg.model, 2, 2, "float32", r["init"], r["noise"])
    values = {"dense1.W": [[0.5, -1.0], [1.5, 0.25], [-0.75, 0.8]], "dense1.b": [0.1, -0.2, 0.3],
              "dense2.W": [[0.3, -0.6, 0.9], [1.1, 0.2, -0.4], [-0.5, 0.7, 0.6]], "dense2.b": [0.05, 0.0, -0.1],
              "dense3.W": [[0.2, -0.3, 0.4], [0.1, 0.5, -0.2]], "dense3.b": [0.0, 0.0],
              "bn1.gamma": [1.2, 0.8, 1.0], "bn1.beta": [0.1, -0.1, 0.0],
              "bn2.gamma": [0.9, 1.1, 1.3], "bn2.beta": [0.0, 0.2, -0.2]}
    for name, v in values.items():
        v = np.array(v)
        m.view(name)[...] = v.T if name.endswith(".W") else v  # torch's weight is (out, in), nnlab's W (in, out)
    x = np.array([[math.cos(1.3 * n) * 2, math.sin(0.9 * n + 0.5) * 1.5 + 0.2 * n] for n in range(12)], np.float32)
    return m, x


def test_update_bn_matches_torch():
    m, x = bn_net()
    m.forward(x[:5], train=True)  # allocate the running statistics, then fill them with junk
    for v in m.buffers().values():
        v[...] = 5.0
    params = m.params.copy()
    update_bn(m, x, [(0, 4), (4, 8), (8, 12)])
    got = m.buffers()
    assert sorted(got) == sorted(UPDATE_BN)
    for k, v in got.items():
        # torch averages the unbiased batch variance, nnlab the biased one: x (4 - 1) / 4 for batches of 4
        expected = np.array(UPDATE_BN[k]) * (0.75 if k.endswith("var") else 1.0)
        np.testing.assert_allclose(v, expected, rtol=5e-7, atol=2e-7, err_msg=k)
    np.testing.assert_array_equal(m.params, params)  # weights untouched
    assert [layer.momentum for layer in m.layers if hasattr(layer, "running_mean")] == [0.9, 0.9]
    # not the same as three ordinary training batches with momentum 0.9 (which keep 0.9^3 of the junk)
    for v in m.buffers().values():
        v[...] = 5.0
    for a in (0, 4, 8):
        m.forward(x[a:a + 4], train=True)
    assert abs(m.buffers()["bn1.running_mean"][0] - UPDATE_BN["bn1.running_mean"][0]) > 1


def test_update_bn_draws_dropout_noise_from_the_stream_it_is_given():
    cfg = merged_config({"data": {"name": "spiral"}}, model={"hidden": [8], "batch_norm": True, "dropout": 0.5})
    r = rng_streams(0)
    m = build_model(cfg.model, 2, 3, "float32", r["init"], r["noise"])
    x = np.linspace(-1, 1, 40, dtype=np.float32).reshape(20, 2)
    before = r["noise"].bit_generator.state
    own = np.random.default_rng(7)
    update_bn(m, x, [(0, 10), (10, 20)], own)
    assert r["noise"].bit_generator.state == before  # the model's stream is untouched, and restored
    assert own.bit_generator.state != np.random.default_rng(7).bit_generator.state
    assert all(getattr(layer, "rng", r["noise"]) is r["noise"] for layer in m.layers)
    stats = {k: v.copy() for k, v in m.buffers().items()}
    update_bn(m, x, [(0, 10), (10, 20)], np.random.default_rng(7))  # same stream: same statistics
    for k, v in m.buffers().items():
        np.testing.assert_array_equal(v, stats[k])


# ----------------------------------------------------------------------------- in the trainer
BASE = {"name": "avg", "seed": 1, "data": {"name": "spiral", "n_samples": 240, "val_fraction": 0.25},
        "model": {"hidden": [12], "activation": "relu"},
        "train": {"epochs": 6, "batch_size": 30, "optimizer": {"name": "adam", "lr": 0.02}}}


def config(model=None, **train):
    return merged_config(BASE, model={**BASE["model"], **(model or {})}, train={**BASE["train"], **train})


@pytest.fixture(scope="module")
def spiral():
    return load_dataset(config().data)


def spied(cfg, dataset, **kw):
    """Train with a Trainer that records the live weights after every step and at every epoch's end."""
    tr = Trainer(cfg, dataset, **kw)
    steps, epochs = [], []
    step, end_epoch = tr.step, tr.end_epoch

    def spy_step(*a, **k):
        out = step(*a, **k)
        steps.append(tr.model.params.copy())
        return out

    def spy_end(row):
        epochs.append((tr.model.params.copy(), None if tr.avg is None or tr.avg.avg is None else tr.avg.avg.copy()))
        return end_epoch(row)

    tr.step, tr.end_epoch = spy_step, spy_end
    return tr.run(), tr, steps, epochs


def test_ema_is_the_average_of_the_weights_after_every_step_and_is_what_is_evaluated(spiral):
    cfg = config(averaging={"method": "ema", "decay": 0.9}, regularization={"max_norm": 0.8})
    res, tr, steps, _ = spied(cfg, spiral)
    assert len(steps) == 6 * 6  # 180 training rows in batches of 30
    ema = steps[0].astype(np.float64)  # the weights after the step and after max-norm
    for w in steps[1:]:
        ema = 0.9 * ema + 0.1 * w
    np.testing.assert_allclose(res.model.params, ema, rtol=1e-5, atol=1e-6)
    assert not np.allclose(res.model.params, steps[-1], atol=1e-3)  # the average, not the last weights
    last = res.history[-1]
    # val_* are the averaged weights' (the final model's), raw_val_* the live weights'
    assert (last["val_loss"], last["val_acc"]) == evaluate(res.model, spiral.x_val, spiral.y_val, tr.loss_fn)
    res.model.params[...] = steps[-1]
    assert (last["raw_val_loss"], last["raw_val_acc"]) == evaluate(res.model, spiral.x_val, spiral.y_val,
                                                                   tr.loss_fn)


def test_swa_averages_the_epoch_ends_of_its_phase_at_its_own_rate(spiral):
    cfg = config(epochs=6, averaging={"method": "swa", "start": 0.5, "lr": 0.005},
                 schedule={"name": "step", "step_size": 1, "gamma": 0.5})
    res, tr, _, epochs = spied(cfg, spiral)
    live = [w for w, _ in epochs]
    np.testing.assert_allclose(res.model.params, np.mean(live[3:], axis=0), rtol=1e-6, atol=1e-7)  # epochs 4-6
    assert [r["lr"] for r in res.history] == pytest.approx([0.02, 0.01, 0.005, 0.005, 0.005, 0.005])
    assert tr.avg.n == 3
    for r in res.history[:3]:  # before the SWA phase the live weights are the evaluated ones
        assert (r["val_loss"], r["val_acc"]) == (r["raw_val_loss"], r["raw_val_acc"])
    assert res.history[3]["val_loss"] == res.history[3]["raw_val_loss"]  # one weight averaged is that weight
    assert res.history[5]["val_loss"] != res.history[5]["raw_val_loss"]
    assert res.history[5]["val_loss"] == evaluate(res.model, spiral.x_val, spiral.y_val, tr.loss_fn)[0]


def test_swa_without_lr_keeps_the_schedule(spiral):
    res = train(config(averaging={"method": "swa"}, schedule={"name": "step", "step_size": 2, "gamma": 0.1}),
                spiral)
    assert [r["lr"] for r in res.history] == pytest.approx([0.02, 0.02, 0.002, 0.002, 2e-4, 2e-4])


@pytest.mark.parametrize("averaging", [{"method": "ema", "decay": 0.95}, {"method": "swa", "start": 0.3}])
def test_the_live_run_is_the_run_without_averaging(spiral, averaging):
    # batch norm and dropout: the BN statistics of the averaged weights are recomputed on the training
    # set with the dropout noise of a stream of their own, so the live weights follow the same path
    model = {"batch_norm": True, "dropout": 0.2}
    plain = train(config(model), spiral).history
    averaged = train(config(model, averaging=averaging), spiral).history
    assert all(r.get("raw_val_loss") is None for r in plain)  # written as empty cells
    for p, a in zip(plain, averaged):
        assert (a["train_loss"], a["train_acc"], a["lr"]) == (p["train_loss"], p["train_acc"], p["lr"])
        assert (a["raw_val_loss"], a["raw_val_acc"]) == (p["val_loss"], p["val_acc"])
    assert averaged[-1]["val_loss"] != plain[-1]["val_loss"]


def test_with_batch_norm_the_averaged_weights_get_update_bn_statistics(spiral):
    cfg = config({"batch_norm": True}, averaging={"method": "ema", "decay": 0.9})
    res, tr, _, _ = spied(cfg, spiral)
    stats = {k: v.copy() for k, v in res.model.buffers().items()}
    # the final model's statistics are one update_bn pass over the training batches with its own weights
    bounds = tr.batches.bounds
    update_bn(res.model, spiral.x_train, bounds)
    for k, v in res.model.buffers().items():
        np.testing.assert_allclose(stats[k], v, rtol=1e-6, atol=1e-7, err_msg=k)
    assert res.history[-1]["val_loss"] == evaluate(res.model, spiral.x_val, spiral.y_val, tr.loss_fn)[0]


def test_early_stopping_restores_the_averaged_weights_of_the_best_epoch(spiral):
    cfg = config(epochs=30, averaging={"method": "ema", "decay": 0.9},
                 early_stopping={"metric": "val_loss", "patience": 3, "restore_best": True},
                 optimizer={"name": "adam", "lr": 0.2})
    res, tr, _, epochs = spied(cfg, spiral)
    assert res.stopped_early and res.restored_epoch < len(res.history)
    np.testing.assert_array_equal(res.model.params, epochs[res.restored_epoch - 1][1])  # the average then
    best = res.history[res.restored_epoch - 1]
    assert best["val_loss"] == min(r["val_loss"] for r in res.history)
    assert evaluate(res.model, spiral.x_val, spiral.y_val, tr.loss_fn)[0] == best["val_loss"]


def copied(state):
    return {k: np.array(v) for k, v in state.items()}


def untimed(history):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


@pytest.mark.parametrize("averaging, at", [({"method": "ema", "decay": 0.9}, 3),
                                           ({"method": "swa", "start": 0.5, "lr": 0.01}, 2),
                                           ({"method": "swa", "start": 0.5, "lr": 0.01}, 5)])
def test_a_resumed_run_equals_the_uninterrupted_one(spiral, averaging, at):
    cfg = config({"batch_norm": True, "dropout": 0.2}, epochs=7, averaging=averaging,
                 early_stopping={"metric": "val_loss", "patience": 100})
    saved = []
    whole = train(cfg, spiral, on_checkpoint=lambda s: saved.append(copied(s)), checkpoint_every=0)
    state = saved[at - 1]
    assert json.loads(str(state["meta"]))["epochs_done"] == at
    resumed = train(cfg, spiral, resume=state)
    assert untimed(resumed.history) == untimed(whole.history)
    np.testing.assert_array_equal(resumed.model.params, whole.model.params)
    for k, v in whole.model.buffers().items():
        np.testing.assert_array_equal(resumed.model.buffers()[k], v)
    assert resumed.test == whole.test


def test_without_validation_the_statistics_are_computed_at_the_end_even_after_a_resume():
    raw = {**BASE, "data": {**BASE["data"], "val_fraction": 0}}
    cfg = merged_config(raw, model={**BASE["model"], "batch_norm": True},
                        train={**BASE["train"], "epochs": 4, "averaging": {"method": "swa", "start": 0.5}})
    data = load_dataset(cfg.data)
    saved = []
    whole = train(cfg, data, on_checkpoint=lambda s: saved.append(copied(s)), checkpoint_every=0)
    assert all(r["val_loss"] is None and r["raw_val_loss"] is None for r in whole.history)
    last = saved[-1]  # after the last epoch: the average has changed since its statistics were computed
    assert json.loads(str(last["meta"]))["averaging"]["stale"] is True
    resumed = train(cfg, data, resume=last)
    assert resumed.test == whole.test
    for k, v in whole.model.buffers().items():
        np.testing.assert_array_equal(resumed.model.buffers()[k], v)


def test_a_resume_from_the_middle_of_an_epoch_keeps_the_ema(spiral):
    cfg = config({"batch_norm": True}, epochs=3, averaging={"method": "ema", "decay": 0.8})
    saved = []
    whole = train(cfg, spiral, on_checkpoint=lambda s: saved.append(copied(s)), checkpoint_seconds=0,
                  checkpoint_every=1e9)  # a checkpoint after every batch within an epoch
    mid = [s for s in saved if json.loads(str(s["meta"]))["epoch_position"] is not None]
    state = mid[len(mid) // 2]
    assert json.loads(str(state["meta"]))["averaging"]["n"] > 0 and "avg.params" in state
    resumed = train(cfg, spiral, resume=state)
    assert untimed(resumed.history) == untimed(whole.history)
    np.testing.assert_array_equal(resumed.model.params, whole.model.params)


# ----------------------------------------------------------------------------- config
@pytest.mark.parametrize("value, message", [
    ({"method": "emma"}, "train.averaging.method: unknown averaging method 'emma'; choose from ema, swa "
                         "(did you mean 'ema'?)"),
    ({"decay": 0.9}, "train.averaging: an averaging mapping needs a 'method' key; choose from ema, swa"),
    ("ema", "train.averaging: must be null, {method: ema, decay: 0.999} or {method: swa, start: 0.75, lr: null}, "
            "got 'ema'"),
    ({"method": "ema", "decay": 1.0}, "train.averaging.decay: must be less than 1, got 1"),
    ({"method": "ema", "decay": -0.5}, "train.averaging.decay: must be greater than or equal to 0, got -0.5"),
    ({"method": "swa", "start": 1}, "train.averaging.start: must be less than 1, got 1"),
    ({"method": "swa", "lr": 0}, "train.averaging.lr: must be greater than 0, got 0"),
    ({"method": "swa", "lr": "1e-3"}, "train.averaging.lr: must be a valid number, got '1e-3' (text; write it "
                                      "without quotes)"),
    ({"method": "swa", "decay": 0.9}, "train.averaging.decay: unknown option 'decay' for averaging method 'swa'; "
                                      "choose from lr, start"),
])
def test_bad_averaging_is_one_line(tmp_path, value, message):
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps({"data": {"name": "xor"}, "train": {"averaging": value}}))
    out = CliRunner().invoke(main, ["validate", str(path)])
    assert out.exit_code == 2
    assert out.output.strip().splitlines() == [f"error: {path}: {message}"]
    assert "Traceback" not in out.output


def test_resolved_averaging_has_its_defaults():
    assert config().train["averaging"] is None
    assert config(averaging=None).train["averaging"] is None
    assert config(averaging={"method": "ema"}).train["averaging"] == {"method": "ema", "decay": 0.999}
    assert config(averaging={"method": "swa"}).train["averaging"] == {"method": "swa", "start": 0.75, "lr": None}


def test_set_and_schedule_show_the_swa_rate(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps({"data": {"name": "xor", "n_samples": 50}, "train": {"epochs": 4}}))
    out = CliRunner().invoke(main, ["schedule", str(path), "--set", "train.averaging.method=swa",
                                    "--set", "train.averaging.start=0.5", "--set", "train.averaging.lr=0.0123"])
    assert out.exit_code == 0, out.output
    # piped: 'epoch<TAB>learning rate' lines
    rates = [line.split("\t")[1] for line in out.output.splitlines() if line[:1].isdigit() and "\t" in line]
    assert rates == ["0.001", "0.001", "0.0123", "0.0123"]
    assert "sets the rate to 0.0123 from its first epoch on" in out.output


# ----------------------------------------------------------------------------- run folders
@pytest.mark.slow
def test_metrics_csv_columns_and_old_run_folders(tmp_path, spiral):
    cfg = config(epochs=3, averaging={"method": "swa", "start": 0.5})
    run, res, summary = run_experiment(cfg, tmp_path / "runs", dataset=spiral)
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(METRIC_COLUMNS)
    # the SWA phase is epochs 2-3; after epoch 2 the average is one weight: the live one
    assert [r["val_loss"] == r["raw_val_loss"] for r in rows] == [True, True, False]
    assert summary["test"]["acc"] == res.test["acc"] and summary["final"]["raw_val_acc"] is not None
    # a run folder written before the raw_val_* columns existed reads, compares and is rewritten on resume
    old = [c for c in METRIC_COLUMNS if not c.startswith("raw_")]
    with open(run / "metrics.csv", "w", newline="") as f:
        w = csv.DictWriter(f, old, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    loaded = load_run(run)
    assert [m["val_loss"] for m in loaded.metrics] == [float(r["val_loss"]) for r in rows]
    assert all("raw_val_loss" not in m for m in loaded.metrics)
    assert compare([loaded]).rows[0].values["test_acc"] == res.test["acc"]
    MetricsWriter(run / "metrics.csv", METRIC_COLUMNS, keep_epochs=2).close()
    with open(run / "metrics.csv", newline="") as f:
        cut = list(csv.DictReader(f))
    assert list(cut[0]) == list(METRIC_COLUMNS) and len(cut) == 2 and cut[1]["raw_val_loss"] == ""
