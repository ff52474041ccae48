"""Learning-rate schedules (nnlab/schedules.py): torch reference values, formulas, validation.

Torch is NOT needed to run these tests: the reference sequences below were
generated once with torch 2.13.0 (CPU wheel) by the code in the comment block and
pasted here.  Each sequence is the optimizer's lr at t = 0, 1, ... (read before
every scheduler.step()); for ReduceLROnPlateau entry 0 is the initial lr and
entry i + 1 the lr after the i-th metric was fed.
"""

# ---- generating code (torch 2.13.0; python gen.py > refs) ---------------------------------
#     import math, torch
#     from torch.optim import SGD
#     from torch.optim import lr_scheduler as L
#
#     def opt(lr=0.1):
#         return SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr, momentum=0.9)
#
#     def seq(make, n, lr=0.1):
#         o = opt(lr); s = make(o); out = []
#         for _ in range(n):
#             out.append(o.param_groups[0]["lr"]); o.step(); s.step()
#         return out
#
#     def plateau(losses, lr=0.1, **kw):
#         o = opt(lr); s = L.ReduceLROnPlateau(o, **kw); out = [o.param_groups[0]["lr"]]
#         for v in losses:
#             o.step(); s.step(v); out.append(o.param_groups[0]["lr"])
#         return out
#
#     LOSSES = [1.0, 0.8, 0.7, 0.69995, 0.7, 0.71, 0.65, 0.66, 0.65, 0.649999, 0.64, 0.64, 0.64, 0.64, 0.64, 0.64, 0.63, 0.7]
#     ACCS = [0.5, 0.6, 0.6, 0.60003, 0.59, 0.7, 0.71, 0.70, 0.71, 0.7100001, 0.69, 0.72, 0.72, 0.72, 0.72]
#     R = {
#       "step": seq(lambda o: L.StepLR(o, step_size=3, gamma=0.5), 13),
#       "multistep": seq(lambda o: L.MultiStepLR(o, milestones=[2, 5, 9], gamma=0.1), 13),
#       "exponential": seq(lambda o: L.ExponentialLR(o, gamma=0.9), 21),
#       "cosine": seq(lambda o: L.CosineAnnealingLR(o, T_max=10, eta_min=0.001), 11),
#       "warm_restart_10_1": seq(lambda o: L.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=1, eta_min=0.001), 31),
#       "warm_restart_5_2": seq(lambda o: L.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=0.001), 41),
#       "cyclic_triangular": seq(lambda o: L.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=5, mode="triangular", cycle_momentum=False), 31),
#       "cyclic_triangular2": seq(lambda o: L.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=5, mode="triangular2", cycle_momentum=False), 31),
#       "one_cycle": seq(lambda o: L.OneCycleLR(o, max_lr=0.1, total_steps=50, pct_start=0.3, anneal_strategy="cos", div_factor=25.0, final_div_factor=1e4, three_phase=False, cycle_momentum=False), 50),
#       "plateau_min": plateau(LOSSES, mode="min", factor=0.5, patience=2, threshold=1e-4, threshold_mode="rel"),
#       "plateau_min_floor": plateau(LOSSES, mode="min", factor=0.5, patience=1, threshold=1e-4, threshold_mode="rel", min_lr=0.03),
#       "plateau_max": plateau(ACCS, mode="max", factor=0.5, patience=2, threshold=1e-4, threshold_mode="rel"),
#       "plateau_eps": plateau([1.0] * 12, lr=1e-7, mode="min", factor=0.5, patience=0),
#     }
#     print("# torch", torch.__version__)
#     print("LOSSES =", LOSSES)
#     print("ACCS =", ACCS)
#     print("TORCH = {")
#     for k, v in R.items():
#         print(f"    {k!r}: [")
#         for i in range(0, len(v), 4):
#             print("        " + " ".join(f"{x!r}," for x in v[i:i+4]))
#         print("    ],")
#     print("}")
# --------------------------------------------------------------------------------------------

import math

import pytest

from nnlab.components.schedules import schedules

# The generator's output (torch 2.13.0+cpu), verbatim.
LOSSES = [1.0, 0.8, 0.7, 0.69995, 0.7, 0.71, 0.65, 0.66, 0.65, 0.649999, 0.64, 0.64, 0.64, 0.64, 0.64, 0.64, 0.63, 0.7]
ACCS = [0.5, 0.6, 0.6, 0.60003, 0.59, 0.7, 0.71, 0.7, 0.71, 0.7100001, 0.69, 0.72, 0.72, 0.72, 0.72]
TORCH = {
    'step': [
        0.1, 0.1, 0.1, 0.05,
        0.05, 0.05, 0.025, 0.025,
        0.025, 0.0125, 0.0125, 0.0125,
        0.00625,
    ],
    'multistep': [
        0.1, 0.1, 0.010000000000000002, 0.010000000000000002,
        0.010000000000000002, 0.0010000000000000002, 0.0010000000000000002, 0.0010000000000000002,
        0.0010000000000000002, 0.00010000000000000003, 0.00010000000000000003, 0.00010000000000000003,
        0.00010000000000000003,
    ],
    'exponential': [
        0.1, 0.09000000000000001, 0.08100000000000002, 0.07290000000000002,
        0.06561000000000002, 0.05904900000000002, 0.05314410000000002, 0.04782969000000002,
        0.043046721000000024, 0.03874204890000002, 0.03486784401000002, 0.03138105960900001,
        0.028242953648100012, 0.025418658283290013, 0.022876792454961013, 0.020589113209464913,
        0.01853020188851842, 0.01667718169966658, 0.015009463529699923, 0.013508517176729932,
        0.01215766545905694,
    ],
    'cosine': [
        0.1, 0.09757729755661011, 0.0905463412215599, 0.07959536998847742,
        0.0657963412215599, 0.0505, 0.03520365877844011, 0.02140463001152259,
        0.010453658778440109, 0.0034227024433899004, 0.001,
    ],
    'warm_restart_10_1': [
        0.1, 0.09757729755661011, 0.0905463412215599, 0.07959536998847742,
        0.0657963412215599, 0.0505, 0.03520365877844011, 0.021404630011522586,
        0.010453658778440109, 0.0034227024433899004, 0.1, 0.09757729755661011,
        0.0905463412215599, 0.07959536998847742, 0.0657963412215599, 0.0505,
        0.03520365877844011, 0.021404630011522586, 0.010453658778440109, 0.0034227024433899004,
        0.1, 0.09757729755661011, 0.0905463412215599, 0.07959536998847742,
        0.0657963412215599, 0.0505, 0.03520365877844011, 0.021404630011522586,
        0.010453658778440109, 0.0034227024433899004, 0.1,
    ],
    'warm_restart_5_2': [
        0.1, 0.0905463412215599, 0.0657963412215599, 0.03520365877844011,
        0.010453658778440109, 0.1, 0.09757729755661011, 0.0905463412215599,
        0.07959536998847742, 0.0657963412215599, 0.0505, 0.03520365877844011,
        0.021404630011522586, 0.010453658778440109, 0.0034227024433899004, 0.1,
        0.09939057285945932, 0.09757729755661011, 0.09460482294732421, 0.0905463412215599,
        0.0855017856687341, 0.07959536998847742, 0.07297252973710756, 0.0657963412215599,
        0.05824350601949144, 0.0505, 0.04275649398050859, 0.03520365877844011,
        0.02802747026289244, 0.021404630011522586, 0.0154982143312659, 0.010453658778440109,
        0.0063951770526757944, 0.0034227024433899004, 0.001609427140540686, 0.1,
        0.09984740801978985, 0.09939057285945932, 0.098632311059685, 0.09757729755661011,
        0.0962320368593087,
    ],
    'cyclic_triangular': [
        0.01, 0.028000000000000018, 0.046, 0.06400000000000002,
        0.08199999999999999, 0.1, 0.08199999999999999, 0.06400000000000002,
        0.046, 0.028000000000000018, 0.01, 0.028000000000000018,
        0.04600000000000004, 0.06399999999999997, 0.08199999999999999, 0.1,
        0.08199999999999999, 0.06399999999999997, 0.04600000000000004, 0.028000000000000018,
        0.01, 0.028000000000000018, 0.04600000000000004, 0.06399999999999997,
        0.08199999999999999, 0.1, 0.08199999999999999, 0.06399999999999997,
        0.04600000000000004, 0.028000000000000018, 0.01,
    ],
    'cyclic_triangular2': [
        0.01, 0.028000000000000018, 0.046, 0.06400000000000002,
        0.08199999999999999, 0.1, 0.08199999999999999, 0.06400000000000002,
        0.046, 0.028000000000000018, 0.01, 0.01900000000000001,
        0.028000000000000018, 0.036999999999999984, 0.046, 0.05500000000000001,
        0.046, 0.036999999999999984, 0.028000000000000018, 0.01900000000000001,
        0.01, 0.014500000000000006, 0.01900000000000001, 0.023499999999999993,
        0.027999999999999997, 0.0325, 0.027999999999999997, 0.023499999999999993,
        0.01900000000000001, 0.014500000000000006, 0.01,
    ],
    'one_cycle': [
        0.0040000000000000036, 0.0052034602152724735, 0.008753494340683884, 0.014472088841534572,
        0.022072489510780793, 0.03117358052235722, 0.04131899517009691, 0.052000000000000005,
        0.0626810048299031, 0.07282641947764279, 0.08192751048921922, 0.08952791115846544,
        0.09524650565931612, 0.09879653978472754, 0.1, 0.09979871550490317,
        0.09919648264401378, 0.09819815024222053, 0.09681175628501273, 0.09504846320134738,
        0.09292246799033459, 0.0904508879153485, 0.08765362268588736, 0.08455319423681344,
        0.0811745653949763, 0.07754493889320883, 0.07369353834991745, 0.06965137297768985,
        0.0654509879153485, 0.06112620219362893, 0.05671183644422961, 0.05224343254455968,
        0.04775696745544034, 0.043288563555770404, 0.03887419780637107, 0.03454941208465151,
        0.030349027022310158, 0.026306861650082565, 0.022455461106791173, 0.0188258346050237,
        0.015447205763186566, 0.012346777314112658, 0.009549512084651508, 0.007077932009665416,
        0.004951936798652629, 0.003188643714987268, 0.0018022497577794773, 0.0008039173559862364,
        0.00020168449509684564, 4e-07,
    ],
    'plateau_min': [
        0.1, 0.1, 0.1, 0.1,
        0.1, 0.1, 0.05, 0.05,
        0.05, 0.05, 0.025, 0.025,
        0.025, 0.025, 0.0125, 0.0125,
        0.0125, 0.0125, 0.0125,
    ],
    'plateau_min_floor': [
        0.1, 0.1, 0.1, 0.1,
        0.1, 0.05, 0.05, 0.05,
        0.05, 0.03, 0.03, 0.03,
        0.03, 0.03, 0.03, 0.03,
        0.03, 0.03, 0.03,
    ],
    'plateau_max': [
        0.1, 0.1, 0.1, 0.1,
        0.1, 0.05, 0.05, 0.05,
        0.05, 0.05, 0.025, 0.025,
        0.025, 0.025, 0.025, 0.0125,
    ],
    'plateau_eps': [
        1e-07, 1e-07, 5e-08, 2.5e-08,
        1.25e-08, 1.25e-08, 1.25e-08, 1.25e-08,
        1.25e-08, 1.25e-08, 1.25e-08, 1.25e-08,
        1.25e-08,
    ],
}

WHERE = "train.schedule"
REL = 1e-12


def resolve(spec):
    """Validate like the config loader does; fail the test with the messages if invalid."""
    errors = []
    out = schedules.resolve(spec, WHERE, errors)
    assert errors == [] and out is not None, errors
    return out


def make(spec, base_lr=0.1, total=100):
    return schedules.build(resolve(spec), base_lr, total)


def lrs(sched, n):
    return [sched(t) for t in range(n)]


def close(a, b, rel=REL):
    return math.isclose(a, b, rel_tol=rel, abs_tol=0.0)


def assert_seq(got, want, rel=REL):
    assert len(got) == len(want)
    bad = [(t, g, w) for t, (g, w) in enumerate(zip(got, want)) if not close(g, w, rel)]
    assert not bad, f"(t, nnlab, reference) mismatches: {bad[:5]}"


def feed(sched, key, values):
    """lr before any metric, then the lr after each observed epoch (torch's step(metric) order)."""
    out = [sched(0)]
    for t, v in enumerate(values):
        sched.observe({key: v})
        out.append(sched(t + 1))
    return out


# ---- 1. torch reference sequences --------------------------------------------------------

TORCH_CASES = [
    # (torch key, nnlab spec, base lr, total)
    ("step", {"name": "step", "step_size": 3, "gamma": 0.5}, 0.1, 100),
    ("multistep", {"name": "multistep", "milestones": [2, 5, 9], "gamma": 0.1}, 0.1, 100),
    ("exponential", {"name": "exponential", "gamma": 0.9}, 0.1, 100),
    ("exponential", {"name": "exponential", "k": -math.log(0.9)}, 0.1, 100),
    ("cosine", {"name": "cosine", "t_max": 10, "eta_min": 0.001}, 0.1, 100),
    ("warm_restart_10_1", {"name": "warm_restart", "t_0": 10, "t_mult": 1, "eta_min": 0.001}, 0.1, 100),
    ("warm_restart_5_2", {"name": "warm_restart", "t_0": 5, "t_mult": 2, "eta_min": 0.001}, 0.1, 100),
    ("cyclic_triangular", {"name": "cyclic", "max_lr": 0.1, "step_size": 5}, 0.01, 100),
    ("cyclic_triangular2", {"name": "cyclic", "max_lr": 0.1, "step_size": 5, "mode": "triangular2"}, 0.01, 100),
    ("one_cycle", {"name": "one_cycle", "max_lr": 0.1}, 0.1, 50),  # defaults = torch's (pct .3, 25, 1e4)
]


@pytest.mark.parametrize("key,spec,base_lr,total", TORCH_CASES,
                         ids=[f"{k}-{'gamma' if 'gamma' in s and k == 'exponential' else ''}"
                              f"{'k' if 'k' in s else ''}" for k, s, _, _ in TORCH_CASES])
def test_matches_torch(key, spec, base_lr, total):
    ref = TORCH[key]
    assert_seq(lrs(make(spec, base_lr, total), len(ref)), ref)


@pytest.mark.parametrize("key,spec,metric,values,base_lr", [
    ("plateau_min", {"factor": 0.5, "patience": 2}, "val_loss", LOSSES, 0.1),
    ("plateau_min_floor", {"factor": 0.5, "patience": 1, "min_lr": 0.03}, "val_loss", LOSSES, 0.1),
    ("plateau_max", {"factor": 0.5, "patience": 2, "metric": "val_acc"}, "val_acc", ACCS, 0.1),
    # torch skips a cut smaller than its eps (1e-8): the rate stops at 1.25e-8
    ("plateau_eps", {"factor": 0.5, "patience": 0}, "val_loss", [1.0] * 12, 1e-7),
])
def test_plateau_matches_torch(key, spec, metric, values, base_lr):
    sched = make({"name": "plateau", **spec}, base_lr)
    assert_seq(feed(sched, metric, values), TORCH[key])


def test_cosine_stays_at_eta_min_after_t_max_unlike_torch():
    # documented: nnlab holds eta_min after t_max; torch's closed form would rise again
    s = make({"name": "cosine", "t_max": 10, "eta_min": 0.001})
    assert s(10) == TORCH["cosine"][-1] == 0.001
    for t in (11, 15, 20, 25, 1000):
        assert s(t) == 0.001
    torch_closed_form_15 = 0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * 15 / 10)) / 2
    assert not close(s(15), torch_closed_form_15)


# ---- 2. formulas by hand, one case per registered schedule -------------------------------
# Each case: (spec, check(spec)).  test_every_schedule_has_a_formula_case makes a
# newly registered schedule fail until it gets one here.

LR = 0.1


def check_constant(spec):
    s = make(spec)
    assert [s(t) for t in (0, 1, 7, 10_000)] == [LR] * 4


def check_step(spec):  # step_size 3, gamma 0.5: lr gamma^floor(t / 3)
    s = make(spec)
    assert s(0) == s(2) == LR
    assert close(s(3), LR * 0.5) and close(s(5), LR * 0.5)  # boundary at t = step_size
    assert close(s(6), LR * 0.25) and close(s(20), LR * 0.5 ** 6)
    s = make({**spec, "step_size": 2.5})  # a float step size: floor(t / 2.5)
    assert s(2) == LR and close(s(3), LR * 0.5) and close(s(5), LR * 0.25)


def check_multistep(spec):  # milestones given unsorted [9, 2, 5], gamma 0.1
    s = make(spec)
    assert s(0) == s(1) == LR
    assert close(s(2), LR * 0.1) and close(s(4), LR * 0.1)
    assert close(s(5), LR * 0.01) and close(s(8), LR * 0.01)
    assert close(s(9), LR * 1e-3) and close(s(500), LR * 1e-3)
    s = make({**spec, "milestones": [3, 3]})  # a repeated milestone counts twice (as in torch)
    assert s(2) == LR and close(s(3), LR * 0.01)


def check_exponential(spec):  # k = 0.1: alpha0 e^(-k t)
    s = make(spec)
    assert s(0) == LR
    assert close(s(10), LR * math.exp(-1)) and close(s(25), LR * math.exp(-2.5))
    g = make({"name": "exponential", "gamma": 0.5})  # lr gamma^t
    assert g(0) == LR and close(g(1), LR / 2) and close(g(3), LR / 8) and close(g(10), LR / 1024)
    same = make({"name": "exponential", "gamma": math.exp(-0.1)})  # gamma = e^-k
    assert all(close(same(t), s(t)) for t in range(40))


def check_inverse_time(spec):  # k = 0.5: lr / (1 + k t)
    s = make(spec)
    assert s(0) == LR
    assert close(s(2), LR / 2) and close(s(6), LR / 4) and close(s(198), LR / 100)
    tau = make({"name": "inverse_time", "tau": 5})  # lr tau / max(t, tau)
    assert [tau(t) for t in range(6)] == [LR] * 6  # constant until tau
    assert close(tau(10), LR / 2) and close(tau(20), LR / 4)
    for t in range(5, 60):  # then proportional to 1/t
        assert close(tau(t) * t, LR * 5)


def check_cosine(spec):  # t_max 10, eta_min 0.001
    s = make(spec)
    assert s(0) == LR
    assert close(s(5), (LR + 0.001) / 2)  # half way
    assert close(s(2), 0.001 + (LR - 0.001) * (1 + math.cos(math.pi * 0.2)) / 2)
    assert s(10) == 0.001 and s(11) == 0.001 and s(73) == 0.001  # stays at eta_min after t_max
    z = make({"name": "cosine", "t_max": 4})  # eta_min 0 by default
    assert z(0) == LR and close(z(2), LR / 2) and z(4) == 0.0 and z(9) == 0.0


def check_warm_restart(spec):  # t_0 10, t_mult 1, eta_min 0.001
    s = make(spec)
    assert s.cycle(0) == (0, 0, 10) and s(0) == LR
    assert s.cycle(9) == (0, 9, 10) and s(9) < LR
    assert close(s(5), (LR + 0.001) / 2)
    for i, t in enumerate((10, 20, 30), start=1):  # restarts every 10
        assert s.cycle(t) == (i, 0, 10) and s(t) == LR
        assert s(t - 1) < s(t)
    assert s.cycle(37) == (3, 7, 10)

    d = make({"name": "warm_restart", "t_0": 5, "t_mult": 2, "eta_min": 0.001})
    assert d.cycle(0) == (0, 0, 5) and d.cycle(4) == (0, 4, 5)
    for i, (t, length) in enumerate(((5, 10), (15, 20), (35, 40)), start=1):  # 5, 15, 35
        assert d.cycle(t) == (i, 0, length) and d(t) == LR
        assert d.cycle(t - 1) == (i - 1, length // 2 - 1, length // 2)
    assert close(d(25), (LR + 0.001) / 2)  # middle of the 20-long cycle 15..34
    for n in range(1, 16):  # exact restarts far out (float log guarded)
        start = 5 * (2 ** n - 1)
        assert d.cycle(start) == (n, 0, 5 * 2 ** n) and d(start) == LR
        assert d.cycle(start - 1)[0] == n - 1
    # math.log(1000, 10) = 2.9999999999999996 and math.log(243, 3) = 4.999999999999999:
    # the cycle index must still be exact at those restarts
    ten = make({"name": "warm_restart", "t_0": 1, "t_mult": 10})
    assert ten.cycle(110) == (2, 99, 100) and ten.cycle(111) == (3, 0, 1000) and ten(111) == LR
    three = make({"name": "warm_restart", "t_0": 2, "t_mult": 3})
    assert three.cycle(241) == (4, 161, 162) and three.cycle(242) == (5, 0, 486) and three(242) == LR

    f = make({"name": "warm_restart", "t_0": 4, "t_mult": 1.5})  # a float t_mult: 4, 6, 9, 13.5, 20.25
    assert f.cycle(3) == (0, 3, 4)
    assert f.cycle(4) == (1, 0, 6) and f(4) == LR
    assert f.cycle(10) == (2, 0, 9) and f(10) == LR
    assert f.cycle(19) == (3, 0, 13.5) and f(19) == LR
    n, t_cur, t_i = f.cycle(33)  # cycle 4 starts at 32.5
    assert n == 4 and close(t_cur, 0.5) and close(t_i, 20.25)
    assert close(f(33), LR * (1 + math.cos(math.pi * 0.5 / 20.25)) / 2)


def check_cyclic(spec):  # lr 0.1 .. max 1.0, step_size 5, triangular
    s = make(spec)
    assert s(0) == LR and close(s(5), 1.0) and close(s(10), LR) and close(s(15), 1.0)
    assert close(s(2), LR + 0.9 * 0.4) and close(s(7), LR + 0.9 * 0.6)
    h = make({**spec, "mode": "triangular2"})  # amplitude halves every cycle
    assert h(0) == LR and close(h(5), 1.0) and close(h(10), LR)
    assert close(h(15), LR + 0.9 / 2) and close(h(25), LR + 0.9 / 4) and close(h(35), LR + 0.9 / 8)


def check_one_cycle(spec):  # max_lr 1.0, total 50, defaults pct .3, div 25, final div 1e4
    total = 50
    s = schedules.build(resolve(spec), LR, total)
    seq = lrs(s, total)
    assert close(s(0), 1.0 / 25)  # starts at max_lr / div_factor (ignores the optimizer's lr)
    peak = round(0.3 * total) - 1
    assert seq.index(max(seq)) == peak and s(peak) == 1.0  # peaks at pct_start * total - 1
    assert close(s(total - 1), 1.0 / 25 / 1e4)  # ends at initial / final_div_factor
    assert all(a < b for a, b in zip(seq[:peak], seq[1:peak + 1]))  # up, then down
    assert all(a > b for a, b in zip(seq[peak:], seq[peak + 1:]))
    assert close(s(total + 5), 1.0 / 25 / 1e4)  # held past the end
    o = schedules.build(resolve({**spec, "pct_start": 0.25, "div_factor": 10, "final_div_factor": 100}), LR, 100)
    assert close(o(0), 0.1) and o(24) == 1.0 and close(o(99), 1e-3)
    assert close(o(12), 0.1 + 0.9 * (1 - math.cos(math.pi * 12 / 24)) / 2)


def check_plateau(spec):  # factor 0.5, patience 2, min_lr 0.02
    s = make(spec)
    assert s.stateful and s(0) == LR
    s.observe({"val_loss": 1.0})  # first value is the best so far
    for _ in range(2):  # patience bad epochs: no cut yet
        s.observe({"val_loss": 1.0})
        assert s(1) == LR
    s.observe({"val_loss": 1.0})  # patience + 1 bad epochs: cut
    assert close(s(2), LR / 2)
    for _ in range(2):
        s.observe({"val_loss": 1.0 * (1 - 0.5e-4)})  # better by less than threshold 1e-4: bad
    assert close(s(3), LR / 2)
    s.observe({"val_loss": float("nan")})  # NaN is ignored, not a bad epoch
    s.observe({"train_loss": 5.0})  # another metric is ignored
    assert close(s(4), LR / 2)
    s.observe({"val_loss": 1.0})  # third bad epoch since the cut
    assert close(s(5), LR / 4)
    s.observe({"val_loss": 0.5})  # an improvement resets the count
    for _ in range(2):
        s.observe({"val_loss": 0.6})
    assert close(s(6), LR / 4)
    s.observe({"val_loss": 0.6})
    assert s(7) == 0.02  # max(0.025 * 0.5, min_lr)
    for _ in range(9):
        s.observe({"val_loss": 0.7})
    assert s(8) == 0.02  # min_lr floor holds

    a = make({**spec, "metric": "val_acc", "min_lr": 0.0})  # accuracies must go up
    for v in (0.5, 0.6, 0.4, 0.3, 0.2):
        a.observe({"val_acc": v})
    assert close(a(5), LR / 2)
    for v in (0.7, 0.8, 0.9):
        a.observe({"val_acc": v})
    assert close(a(8), LR / 2)


FORMULA_CASES = {
    "constant": ({"name": "constant"}, check_constant),
    "step": ({"name": "step", "step_size": 3, "gamma": 0.5}, check_step),
    "multistep": ({"name": "multistep", "milestones": [9, 2, 5], "gamma": 0.1}, check_multistep),
    "exponential": ({"name": "exponential", "k": 0.1}, check_exponential),
    "inverse_time": ({"name": "inverse_time", "k": 0.5}, check_inverse_time),
    "cosine": ({"name": "cosine", "t_max": 10, "eta_min": 0.001}, check_cosine),
    "warm_restart": ({"name": "warm_restart", "t_0": 10, "eta_min": 0.001}, check_warm_restart),
    "cyclic": ({"name": "cyclic", "max_lr": 1.0, "step_size": 5}, check_cyclic),
    "one_cycle": ({"name": "one_cycle", "max_lr": 1.0}, check_one_cycle),
    "plateau": ({"name": "plateau", "factor": 0.5, "patience": 2, "min_lr": 0.02}, check_plateau),
}


def test_every_schedule_has_a_formula_case():
    assert set(FORMULA_CASES) == set(schedules.names())


@pytest.mark.parametrize("name", schedules.names())
def test_formula(name):
    spec, check = FORMULA_CASES[name]
    check(spec)


@pytest.mark.parametrize("name", schedules.names())
def test_every_schedule_has_unit_and_warmup(name):
    spec, _ = FORMULA_CASES[name]
    resolved = resolve(spec)
    assert resolved["unit"] == "epoch" and resolved["warmup"] == 0
    if name != "plateau":
        assert resolve({**spec, "unit": "step"})["unit"] == "step"


@pytest.mark.parametrize("name", schedules.names())
def test_warmup_composes(name):
    # warmup 4: factors .2 .4 .6 .8 for t = 0..3, then 1
    spec, _ = FORMULA_CASES[name]
    plain, warm = make(spec, LR, 50), make({**spec, "warmup": 4}, LR, 50)
    factors = [0.2, 0.4, 0.6, 0.8] + [1.0] * 16
    for t, factor in enumerate(factors):
        assert close(warm(t), plain(t) * factor), (t, warm(t), plain(t))


def test_warmup_factors_on_constant():
    s = make({"name": "constant", "warmup": 4})
    assert [round(s(t) / LR, 12) for t in range(7)] == [0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("name", [n for n in schedules.names() if n != "plateau"])
def test_closed_forms_have_no_state(name):
    spec, _ = FORMULA_CASES[name]
    s = make(spec, LR, 50)
    forward = lrs(s, 60)
    assert [s(t) for t in reversed(range(60))] == forward[::-1]
    assert not s.stateful


# ---- 3. validation -------------------------------------------------------------------------

def messages(spec):
    errors = []
    assert schedules.resolve(spec, WHERE, errors) is None
    assert errors and all(m.startswith(WHERE) for m in errors), errors
    return " | ".join(errors)


@pytest.mark.parametrize("spec,expect", [
    ({"name": "inverse_time", "k": 0.5, "tau": 5}, "exactly one of k"),
    ({"name": "inverse_time"}, "exactly one of k"),
    ({"name": "exponential", "k": 0.1, "gamma": 0.9}, "exactly one of k"),
    ({"name": "exponential"}, "exactly one of k"),
    ({"name": "warm_restart", "t_0": 10, "t_mult": 0.5}, "t_mult must be >= 1"),
    ({"name": "plateau", "unit": "step"}, "unit must be epoch"),
    ({"name": "plateau", "factor": 1.5}, "factor must be < 1"),
    ({"name": "one_cycle", "max_lr": 0.1, "pct_start": 1.5}, "pct_start must be in (0, 1)"),
    ({"name": "one_cycle", "max_lr": 0.1, "pct_start": 1.0}, "pct_start must be in (0, 1)"),
    ({"name": "one_cycle"}, "train.schedule.max_lr: missing required value"),
    ({"name": "step"}, "train.schedule.step_size: missing required value"),
    ({"name": "step", "step_size": 0}, "train.schedule.step_size:"),
    ({"name": "cosine", "t_max": 10, "eta_min": -1}, "train.schedule.eta_min:"),
    ({"name": "step", "step_size": 3, "gama": 0.5}, "unknown option 'gama'"),
    ({"name": "cyclic", "max_lr": 1, "step_size": 2, "mode": "exp_range"}, "train.schedule.mode:"),
    ({"name": "cosin"}, "unknown schedule 'cosin'"),
    ("stepp", "unknown schedule 'stepp'"),
    ({"t_max": 3}, "needs a 'name' key"),
])
def test_invalid_specs(spec, expect):
    assert expect in messages(spec)


@pytest.mark.parametrize("spec,suggestion", [
    ({"name": "step", "step_size": 3, "gama": 0.5}, "did you mean 'gamma'?"),
    ({"name": "warm_restart", "t0": 10}, "did you mean 't_0'?"),
    ({"name": "cosin"}, "did you mean 'cosine'?"),
    ("one_cylce", "did you mean 'one_cycle'?"),
])
def test_did_you_mean(spec, suggestion):
    assert suggestion in messages(spec)


def test_resolve_fills_defaults():
    assert resolve({"name": "step", "step_size": 3}) == {
        "name": "step", "step_size": 3.0, "gamma": 0.1, "unit": "epoch", "warmup": 0}
    assert resolve("constant") == {"name": "constant", "unit": "epoch", "warmup": 0}
    p = resolve({"name": "plateau"})
    assert (p["factor"], p["patience"], p["threshold"], p["min_lr"], p["metric"]) == (
        0.1, 10, 1e-4, 0.0, "val_loss")  # torch ReduceLROnPlateau's defaults


# ---- 4. construction, plateau edges, one-cycle and SGDR corner cases -----------------------
# (added for mutation testing, see docs/mutants.md)

from nnlab.components.schedules import (Constant, Cosine, Cyclic, Exponential, InverseTime, MultiStep,  # noqa: E402
                                        OneCycle, Plateau, Step, WarmRestart)

# class, required options, the defaults (torch's where torch has the schedule) as attributes
DIRECT = [
    (Constant, {}, {}),
    (Step, {"step_size": 3}, {"gamma": 0.1}),
    (MultiStep, {"milestones": [2]}, {"gamma": 0.1}),
    (Exponential, {"k": 0.5}, {"k": 0.5}),
    (InverseTime, {"k": 0.5}, {"k": 0.5, "tau": None}),
    (Cosine, {"t_max": 10}, {"eta_min": 0.0}),
    (WarmRestart, {"t_0": 5}, {"t_mult": 1.0, "eta_min": 0.0}),
    (Cyclic, {"max_lr": 1.0, "step_size": 2}, {"mode": "triangular"}),
    (OneCycle, {"max_lr": 1.0}, {"pct_start": 0.3, "initial": 1.0 / 25, "final": 1.0 / 25 / 1e4}),
    (Plateau, {}, {"factor": 0.1, "patience": 10, "metric": "val_loss", "min_lr": 0.0,
                   "threshold": 1e-4, "lr": 0.1, "best": None, "bad": 0}),
]


@pytest.mark.parametrize("cls, required, defaults", DIRECT, ids=[c.__name__ for c, _, _ in DIRECT])
def test_constructed_directly_a_schedule_has_the_documented_defaults(cls, required, defaults):
    s = cls(0.1, 40, **required)
    assert (s.base_lr, s.total, s.unit, s.warmup) == (0.1, 40, "epoch", 0)
    for key, value in defaults.items():
        assert getattr(s, key) == value, key
    if cls is not Plateau:  # plateau is epoch-only (its check rejects step)
        s = cls(0.1, 40, **required, unit="step", warmup=3)
        assert (s.unit, s.warmup) == ("step", 3)


def test_plateau_factor_of_one_is_rejected():
    assert "factor must be < 1 (the rate is multiplied by it), got 1.0" in messages({"name": "plateau", "factor": 1.0})


def test_check_messages_in_full():
    assert messages({"name": "plateau", "unit": "step"}).endswith(
        "plateau reacts to epoch metrics: unit must be epoch")
    assert messages({"name": "exponential"}).endswith(
        "give exactly one of k (lr e^(-k t)) or gamma (lr gamma^t)")


@pytest.mark.parametrize("metric", ["val_loss", "val_acc"])
def test_plateau_an_equal_value_is_not_an_improvement(metric):
    # threshold 0: improving means strictly better (torch: a < best * (1 - 0)), so a flat metric
    # is a bad epoch every time: patience 1 -> a cut after every second repeat
    s = make({"name": "plateau", "patience": 1, "factor": 0.5, "threshold": 0.0, "metric": metric}, 0.1)
    seen = []
    for _ in range(5):
        s.observe({metric: 0.5})
        seen.append(s(0))
    assert seen == [0.1, 0.1, 0.05, 0.05, 0.025]


def test_plateau_ignores_a_cut_of_exactly_eps():
    # lr 2e-8, factor 0.5: the cut is 1e-8 exactly, not more than torch's eps, so lr stays
    s = make({"name": "plateau", "patience": 0, "factor": 0.5}, 2e-8)
    s.observe({"val_loss": 1.0})
    s.observe({"val_loss": 1.0})
    assert s(0) == 2e-8
    s = make({"name": "plateau", "patience": 0, "factor": 0.5}, 4e-8)  # a cut of 2e-8 happens
    s.observe({"val_loss": 1.0})
    s.observe({"val_loss": 1.0})
    assert s(0) == 2e-8


def test_one_cycle_with_a_one_unit_warm_phase():
    # pct_start * total = 1: the rise ends at t = 0, which is the peak
    s = make({"name": "one_cycle", "max_lr": 1.0, "pct_start": 0.2}, 0.1, 5)
    assert s(0) == 1.0 and s(4) == pytest.approx(1.0 / 25 / 1e4)
    # pct_start * total = 1.5: t = 0 is still the start of the rise
    s = make({"name": "one_cycle", "max_lr": 1.0, "pct_start": 0.3}, 0.1, 5)
    assert s(0) == pytest.approx(1.0 / 25)


@pytest.mark.parametrize("t_mult, k, at_restart", [(2, k, False) for k in range(48, 54)]
                         + [(3, k, True) for k in (5, 10, 13, 15, 17, 20, 23, 26)])
def test_warm_restart_cycle_exact_where_the_float_log_is_not(t_mult, k, at_restart):
    # cycle k starts at t = (m^k - 1) / (m - 1) (t_0 = 1).  There the float log over- or
    # undershoots by an ulp (m = 2 one unit before a restart, m = 3 right at one); the
    # corrections after it must land on the exact cycle.
    start = (t_mult ** k - 1) // (t_mult - 1)
    t = start if at_restart else start - 1
    s = make({"name": "warm_restart", "t_0": 1, "t_mult": t_mult}, 0.1)
    n = k if at_restart else k - 1
    first = (t_mult ** n - 1) // (t_mult - 1)
    assert s.cycle(t) == (n, t - first, t_mult ** n)
    if at_restart:
        assert s(t) == 0.1
