"""L-BFGS (nnlab/components/lbfgs.py, nnlab/train/closure.py): torch.optim.LBFGS step for step.

Golden values from torch 2.13.0 in float64 are hard-coded below with the scripts that produced them
(torch is not needed to run the tests): the iterates, the losses and torch's own counters
(state['n_iter'], state['func_evals']), which pin every branch the algorithm took.  Then hand-computed
steps, the two-loop recursion against the dense BFGS formula, the strong Wolfe conditions, the
closure against finite differences, checkpoints and the config rules.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from nnlab.cli import main
from nnlab.components.lbfgs import LBFGS, cubic_interpolate, strong_wolfe, two_loop
from nnlab.components.optimizers import optimizers
from nnlab.config import validate
from nnlab.data import load_dataset
from nnlab.errors import ConfigError
from nnlab.train.trainer import Trainer, train

# ----------------------------------------------------------------------------- torch: test functions
# FN_GOLDEN: (loss returned by step, p after the step, n_iter, func_evals) after each LBFGS.step on three
# functions whose value and gradient both sides compute as the same plain-float formulas (so that any
# difference comes from the optimizer).  Produced by this script (torch==2.13.0), pasted verbatim:
#
# """Golden L-BFGS trajectories on three test functions from torch.optim.LBFGS (torch==2.13.0, float64)."""
# import torch
#
# torch.set_default_dtype(torch.float64)
# A = [[4.0, 1.0, 0.0, 0.5], [1.0, 3.0, 0.5, 0.0], [0.0, 0.5, 2.0, 0.25], [0.5, 0.0, 0.25, 1.0]]
# B = [0.5, -1.0, 0.25, 2.0]
#
#
# def quadratic(p):  # 0.5 p.A p + b.p, in plain floats (the test computes the same floats)
#     g = [sum(A[i][j] * p[j] for j in range(4)) + B[i] for i in range(4)]
#     return sum(0.5 * p[i] * (g[i] - B[i]) + B[i] * p[i] for i in range(4)), g
#
#
# def rosenbrock(p):
#     x, y = p
#     return (1 - x) ** 2 + 100 * (y - x * x) ** 2, [-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)]
#
#
# def kink(p):  # sum |p_i - c_i| + 0.1 |p|^2: not differentiable at c, where the line search must zoom
#     c = [0.5, -1.0, 2.0]
#     f = sum(abs(p[i] - c[i]) for i in range(3)) + 0.1 * sum(v * v for v in p)
#     return f, [(1.0 if p[i] > c[i] else -1.0 if p[i] < c[i] else 0.0) + 0.2 * p[i] for i in range(3)]
#
#
# FUNCTIONS = {"quadratic": (quadratic, [1.0, -2.0, 0.5, 3.0]), "rosenbrock": (rosenbrock, [-1.2, 1.0]),
#              "kink": (kink, [3.0, 2.0, -1.0])}
# # name: (function, torch LBFGS kwargs, steps)
# CASES = {
#     "quadratic": ("quadratic", {"line_search_fn": "strong_wolfe", "history_size": 10}, 2),
#     "quadratic_tolerances": ("quadratic", {"line_search_fn": "strong_wolfe", "history_size": 10,
#                                            "tolerance_grad": 1e-3, "tolerance_change": 1e-2}, 3),
#     "quadratic_small_lr": ("quadratic", {"line_search_fn": "strong_wolfe", "history_size": 10, "lr": 0.01}, 2),
#     "quadratic_tolerance_grad": ("quadratic", {"line_search_fn": "strong_wolfe", "history_size": 10,
#                                                "tolerance_grad": 1e-5}, 2),
#     "rosenbrock": ("rosenbrock", {"line_search_fn": "strong_wolfe", "history_size": 3, "max_iter": 8}, 3),
#     "rosenbrock_large_lr": ("rosenbrock", {"line_search_fn": "strong_wolfe", "history_size": 3, "max_iter": 8,
#                                            "lr": 10.0}, 3),
#     "rosenbrock_max_eval": ("rosenbrock", {"line_search_fn": "strong_wolfe", "history_size": 2, "max_iter": 6,
#                                            "max_eval": 4}, 4),
#     "rosenbrock_one_iter": ("rosenbrock", {"line_search_fn": "strong_wolfe", "max_iter": 1}, 4),
#     "rosenbrock_fixed_step": ("rosenbrock", {"lr": 0.1, "history_size": 2, "max_iter": 5}, 3),
#     "kink": ("kink", {"line_search_fn": "strong_wolfe", "history_size": 10, "lr": 3.0}, 2),
#     "kink_small_lr": ("kink", {"line_search_fn": "strong_wolfe", "history_size": 2, "max_iter": 10, "lr": 0.1,
#                                "tolerance_change": 1e-6}, 3),
#     "kink_short": ("kink", {"line_search_fn": "strong_wolfe", "history_size": 3, "max_iter": 5, "lr": 0.1,
#                             "tolerance_change": 1e-6}, 2),
#     "kink_large_lr": ("kink", {"line_search_fn": "strong_wolfe", "history_size": 10, "max_iter": 5, "lr": 10.0,
#                                "tolerance_change": 1e-3}, 1),
#     "kink_long": ("kink", {"line_search_fn": "strong_wolfe", "history_size": 2, "max_iter": 40, "lr": 10.0,
#                            "tolerance_change": 1e-6}, 3),
#     "kink_fixed_step": ("kink", {"history_size": 10, "max_iter": 5, "lr": 0.01, "tolerance_change": 1e-2}, 3),
# }
#
# print(f"# torch {torch.__version__}")
# print("FN_GOLDEN = {  # case: [(loss returned by step, p after the step, n_iter, func_evals), ...]")
# for case, (fn, kw, steps) in CASES.items():
#     f, p0 = FUNCTIONS[fn]
#     q = torch.tensor(p0, requires_grad=True)
#     opt = torch.optim.LBFGS([q], **kw)
#
#     def closure():
#         value, grad = f([float(v) for v in q.detach()])
#         q.grad = torch.tensor(grad)
#         return torch.tensor(value)
#
#     print(f'    "{case}": [')
#     for _ in range(steps):
#         loss = float(opt.step(closure))
#         st = opt.state[q]
#         print(f"        ({loss!r},\n         [{', '.join(repr(float(v)) for v in q.detach())}], "
#               f"{st['n_iter']}, {st['func_evals']}),")
#     print("    ],")
# print("}")

# torch 2.13.0+cpu
FN_GOLDEN = {  # case: [(loss returned by step, p after the step, n_iter, func_evals), ...]
    "quadratic": [
        (20.75,
         [0.05333512278326607, 0.3066686040473821, 0.05333361756705663, -2.0399999192563643], 10, 10),
        (-2.1733333333173945,
         [0.05333512278326607, 0.3066686040473821, 0.05333361756705663, -2.0399999192563643], 11, 11),
    ],
    "quadratic_tolerances": [
        (20.75,
         [0.05646984418940262, 0.3131990706373536, 0.045099574706394294, -2.033431347415124], 7, 7),
        (-2.173169905113366,
         [0.05646984418940262, 0.3131990706373536, 0.045099574706394294, -2.033431347415124], 8, 8),
        (-2.173169905113366,
         [0.05646984418940262, 0.3131990706373536, 0.045099574706394294, -2.033431347415124], 9, 9),
    ],
    "quadratic_small_lr": [
        (20.75,
         [0.05333331290463723, 0.30666645552863575, 0.053333463916002424, -2.040000570497569], 9, 26),
        (-2.1733333333331077,
         [0.05333331290463723, 0.30666645552863575, 0.053333463916002424, -2.040000570497569], 10, 27),
    ],
    "quadratic_tolerance_grad": [
        (20.75,
         [0.05333512278326607, 0.3066686040473821, 0.05333361756705663, -2.0399999192563643], 9, 10),
        (-2.1733333333173945,
         [0.05333512278326607, 0.3066686040473821, 0.05333361756705663, -2.0399999192563643], 9, 11),
    ],
    "rosenbrock": [
        (24.199999999999996,
         [-0.8486792379609057, 0.6713056287187691], 8, 10),
        (3.6572332049586405,
         [-0.014589692038485397, -0.04221741999560713], 15, 20),
        (1.2094251017207795,
         [0.5745638999405747, 0.3313249670742113], 23, 30),
    ],
    "rosenbrock_large_lr": [
        (24.199999999999996,
         [-0.9480736167017134, 0.8978893585651634], 4, 11),
        (3.7950818704565474,
         [-0.5935505572657376, 0.35784942665116737], 7, 22),
        (2.5424804798759917,
         [0.07927213391840235, -0.005606404690579039], 10, 33),
    ],
    "rosenbrock_max_eval": [
        (24.199999999999996,
         [-1.0284565745562346, 1.068187455748677], 2, 4),
        (4.125586713674038,
         [-1.0197614762019205, 1.0341075031417615], 5, 8),
        (4.082807343944086,
         [-0.7844301754070451, 0.5723851162869956], 8, 12),
        (3.368623367713811,
         [-0.512530907613673, 0.21876859574661758], 10, 16),
    ],
    "rosenbrock_one_iter": [
        (24.199999999999996,
         [-1.2, 1.0], 1, 2),
        (24.199999999999996,
         [-1.2, 1.0], 2, 4),
        (24.199999999999996,
         [-1.2, 1.0], 3, 6),
        (24.199999999999996,
         [-1.2, 1.0], 4, 8),
    ],
    "rosenbrock_fixed_step": [
        (24.199999999999996,
         [-1.098903173940419, 1.043041649049817], 5, 5),
        (7.112950805813274,
         [-1.0731883270546636, 1.0551729488873025], 10, 10),
        (5.230497765552918,
         [-1.0563497719531223, 1.061148024605769], 15, 15),
    ],
    "kink": [
        (9.9,
         [0.5000000001446169, -0.579228577723507, 2.045447094891795], 5, 26),
        (0.9431544736526548,
         [0.3235323363799673, -0.99999999985956, 1.9675467459325235], 9, 52),
    ],
    "kink_small_lr": [
        (9.9,
         [0.5038443206415455, -0.9896657488764378, 1.152654203020525], 5, 13),
        (1.117715279312861,
         [0.4861154071959539, -1.0001401366024745, 1.1570595709527192], 7, 26),
        (1.114502691722781,
         [0.5024473508227986, -0.9254867246798367, 2.00014177746201], 11, 39),
    ],
    "kink_short": [
        (9.9,
         [0.4635138782204322, 0.016050260541012218, 2.3152182939234773], 2, 6),
        (1.925288523712489,
         [0.5128776784666625, -0.9685157595508789, 1.142390252143991], 5, 13),
    ],
    "kink_large_lr": [
        (9.9,
         [-0.10255340695313629, -0.5839648961160485, 2.1115310650225236], 3, 7),
    ],
    "kink_long": [
        (9.9,
         [0.49999999712139837, -1.0012434951167106, 1.8076005030357654], 9, 51),
        (0.6456338061805547,
         [0.5000000052663154, -1.001243493699405, 1.8076005085206848], 10, 67),
        (0.64563380417963,
         [0.5000000000610139, -0.9917045545042433, 1.9999999939888649], 13, 108),
    ],
    "kink_fixed_step": [
        (9.9,
         [2.9961904761904763, 1.9966666666666666, -0.9971428571428571], 1, 2),
        (9.885812902494331,
         [2.6042975799622843, 1.6537603824669922, -0.7032231849717016], 6, 7),
        (8.462462360950632,
         [2.2316113350227824, 1.3276599181449276, -0.4237085012670759], 11, 12),
    ],
}

A = [[4.0, 1.0, 0.0, 0.5], [1.0, 3.0, 0.5, 0.0], [0.0, 0.5, 2.0, 0.25], [0.5, 0.0, 0.25, 1.0]]
B = [0.5, -1.0, 0.25, 2.0]


def quadratic(p):  # 0.5 p.A p + b.p, in plain floats (the same floats as the script's)
    g = [sum(A[i][j] * p[j] for j in range(4)) + B[i] for i in range(4)]
    return sum(0.5 * p[i] * (g[i] - B[i]) + B[i] * p[i] for i in range(4)), g


def rosenbrock(p):
    x, y = p
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2, [-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)]


def kink(p):  # sum |p_i - c_i| + 0.1 |p|^2: not differentiable at c, where the line search must zoom
    c = [0.5, -1.0, 2.0]
    f = sum(abs(p[i] - c[i]) for i in range(3)) + 0.1 * sum(v * v for v in p)
    return f, [(1.0 if p[i] > c[i] else -1.0 if p[i] < c[i] else 0.0) + 0.2 * p[i] for i in range(3)]


FUNCTIONS = {"quadratic": (quadratic, [1.0, -2.0, 0.5, 3.0]), "rosenbrock": (rosenbrock, [-1.2, 1.0]),
             "kink": (kink, [3.0, 2.0, -1.0])}
FN_CASES = {  # the script's cases in nnlab's option names (torch's default history_size is 100)
    "quadratic": ("quadratic", {}),
    "quadratic_tolerances": ("quadratic", {"tolerance_grad": 1e-3, "tolerance_change": 1e-2}),
    "quadratic_small_lr": ("quadratic", {"lr": 0.01}),  # the line search extrapolates
    "quadratic_tolerance_grad": ("quadratic", {"tolerance_grad": 1e-5}),  # step 2 starts optimal
    "rosenbrock": ("rosenbrock", {"history": 3, "max_iter": 8}),
    "rosenbrock_large_lr": ("rosenbrock", {"history": 3, "max_iter": 8, "lr": 10.0}),
    "rosenbrock_max_eval": ("rosenbrock", {"history": 2, "max_iter": 6, "max_eval": 4}),
    "rosenbrock_one_iter": ("rosenbrock", {"history": 100, "max_iter": 1}),
    "rosenbrock_fixed_step": ("rosenbrock", {"lr": 0.1, "history": 2, "max_iter": 5, "line_search": "none"}),
    "kink": ("kink", {"lr": 3.0}),
    "kink_small_lr": ("kink", {"history": 2, "max_iter": 10, "lr": 0.1, "tolerance_change": 1e-6}),
    "kink_short": ("kink", {"history": 3, "max_iter": 5, "lr": 0.1, "tolerance_change": 1e-6}),
    "kink_large_lr": ("kink", {"max_iter": 5, "lr": 10.0, "tolerance_change": 1e-3}),
    "kink_long": ("kink", {"history": 2, "max_iter": 40, "lr": 10.0, "tolerance_change": 1e-6}),
    "kink_fixed_step": ("kink", {"history": 10, "max_iter": 5, "lr": 0.01, "tolerance_change": 1e-2,
                                 "line_search": "none"}),  # stopped by max|t d| <= tolerance_change
}


def closure_of(f, p):
    def closure():
        value, grad = f([float(v) for v in p])
        return value, np.array(grad)
    return closure


@pytest.mark.parametrize("case", list(FN_CASES))
def test_matches_torch_on_test_functions(case):
    fn, options = FN_CASES[case]
    f, p0 = FUNCTIONS[fn]
    opt = optimizers.build({"name": "lbfgs", **options})
    p = np.array(p0)
    for loss, expect, n_iter, func_evals in FN_GOLDEN[case]:
        assert opt.step_closure(p, closure_of(f, p), opt.lr) == pytest.approx(loss, rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(p, expect, rtol=1e-10, atol=1e-10)
        assert (opt.n_iter, opt.func_evals) == (n_iter, func_evals)  # the same branches, evaluation for evaluation


def test_max_iter_one_with_the_default_max_eval_keeps_one_trial_step_only_if_it_lowers_the_loss():
    # torch's max_eval default is max_iter * 5 // 4 = 1: the line search gets no evaluation beyond its first
    # trial, which raised Rosenbrock's loss, so t = 0: the weights never move (two evaluations a step)
    assert all(r[1] == [-1.2, 1.0] for r in FN_GOLDEN["rosenbrock_one_iter"])
    assert optimizers.build({"name": "lbfgs", "max_iter": 1}).max_eval == 1
    assert optimizers.build({"name": "lbfgs", "max_iter": 8}).max_eval == 10


# ----------------------------------------------------------------------------- torch: training runs
# TRAIN_GOLDEN: nnlab's Trainer (one epoch = one LBFGS.step on the full batch) against torch on the
# same data and initial weights (taken from nnlab's model, in its flat order: weights, then biases):
# softmax regression, a [6] tanh MLP with L2 and a strong-Wolfe line search (history 4 < 30
# iterations: the oldest pairs are dropped), and the same MLP with fixed steps.  Per epoch the data
# loss at the start of the step and torch's counters; the parameters after the last epoch.  (A
# longer MLP run drifts: perturbing torch's own initial weights by 1e-15 moves its weights by 2e-9
# after four epochs of this MLP, so two are compared.)  Produced by this script (torch==2.13.0):
#
# """Golden L-BFGS training runs from torch.optim.LBFGS (torch==2.13.0, float64) against nnlab's Trainer."""
# import numpy as np
# import torch
#
# from nnlab.config import validate
# from nnlab.data import load_dataset
# from nnlab.train.trainer import Trainer
#
# torch.set_default_dtype(torch.float64)
# SPIRAL = {"name": "spiral", "n_samples": 90, "noise": 0.2}
# CASES = {  # name: (data, hidden, l2, lbfgs options, epochs)
#     "softmax": (SPIRAL, [], 0.0, {"name": "lbfgs"}, 4),
#     "mlp": (SPIRAL, [6], 1e-3, {"name": "lbfgs", "history": 4, "max_iter": 15}, 2),
#     "mlp_fixed_step": (SPIRAL, [6], 0.0, {"name": "lbfgs", "lr": 0.5, "history": 5, "max_iter": 10,
#                                           "line_search": "none"}, 4),
# }
#
#
# def config(case):
#     data, hidden, l2, opt, epochs = CASES[case]
#     return validate({"name": case, "seed": 0, "dtype": "float64", "data": {**data, "val_fraction": 0.0},
#                      "model": {"hidden": hidden, "activation": "tanh"},
#                      "train": {"epochs": epochs, "batch_size": "full", "optimizer": opt,
#                                "regularization": {"l2": l2}}})
#
#
# def torch_run(case):
#     cfg = config(case)
#     ds = load_dataset(cfg.data, cfg.dtype)
#     m = Trainer(cfg, ds).model  # the initial weights nnlab trains from
#     ws = [torch.tensor(m.view(t.name)) for t in m.tensors if t.key == "W"]
#     bs = [torch.tensor(m.view(t.name)) for t in m.tensors if t.key == "b"]
#     params = [p.requires_grad_() for p in ws + bs]  # nnlab's flat order: weights, then biases
#     x, y = torch.tensor(ds.x_train), torch.tensor(ds.y_train, dtype=torch.long)
#     o = cfg.train["optimizer"]
#     opt = torch.optim.LBFGS(params, lr=o["lr"], max_iter=o["max_iter"], max_eval=o["max_eval"],
#                             tolerance_grad=o["tolerance_grad"], tolerance_change=o["tolerance_change"],
#                             history_size=o["history"],
#                             line_search_fn=None if o["line_search"] == "none" else o["line_search"])
#     l2, data_losses = cfg.train["regularization"]["l2"], []
#
#     def closure():
#         opt.zero_grad()
#         h = x
#         for i, (w, b) in enumerate(zip(ws, bs)):
#             h = h @ w + b
#             if i < len(ws) - 1:
#                 h = torch.tanh(h)
#         loss = torch.nn.functional.cross_entropy(h, y)
#         data_losses.append(float(loss.detach()))
#         if l2:
#             flat = torch.cat([w.reshape(-1) for w in ws])
#             loss = loss + 0.5 * l2 * (flat @ flat)
#         loss.backward()
#         return loss
#
#     rows = []
#     for _ in range(cfg.train["epochs"]):
#         data_losses.clear()
#         opt.step(closure)
#         st = opt.state[params[0]]
#         rows.append((data_losses[0], st["n_iter"], st["func_evals"]))
#     final = torch.cat([p.detach().reshape(-1) for p in params])
#     return rows, [float(v) for v in final]
#
#
# def main():
#     print(f"# torch {torch.__version__}")
#     print("TRAIN_GOLDEN = {")
#     for case in CASES:
#         rows, final = torch_run(case)
#         print(f'    "{case}": {{')
#         print('        "epochs": [  # (data loss at the start of the step, n_iter, func_evals) after each epoch')
#         for r in rows:
#             print(f"            ({r[0]!r}, {r[1]}, {r[2]}),")
#         print("        ],")
#         print('        "params": [')
#         for i in range(0, len(final), 3):
#             print("            " + ", ".join(repr(v) for v in final[i:i + 3]) + ",")
#         print("        ],")
#         print("    },")
#     print("}")
#
#
# if __name__ == "__main__":
#     main()

# torch 2.13.0+cpu
TRAIN_GOLDEN = {
    "softmax": {
        "epochs": [  # (data loss at the start of the step, n_iter, func_evals) after each epoch
            (1.5174636948809823, 13, 14),
            (0.7009227380440671, 14, 15),
            (0.7009227380440671, 15, 16),
            (0.7009227380440671, 16, 17),
        ],
        "params": [
            0.9599681224377279, 1.1007544750984481, -0.7770219490467608,
            -0.8459815755503132, 1.6714366053360754, 0.19475183303977944,
            0.08717799367089187, -0.19656455903980405, 0.10938656536891303,
        ],
    },
    "mlp": {
        "epochs": [  # (data loss at the start of the step, n_iter, func_evals) after each epoch
            (1.4632044696099642, 15, 17),
            (0.34395869032803567, 30, 33),
        ],
        "params": [
            1.7987161356876262, 0.10734881057082361, 5.068294498672598,
            1.3576548722765776, 2.4181450522195225, 1.4632147348977191,
            1.237733418816766, 2.6952216332787, -0.9290658341528751,
            0.17700687462856046, -0.9202852451068129, 1.4984832252883993,
            2.5343026463940967, 0.19304139396185974, -2.774059581306574,
            -4.630234634017875, 4.504810279115967, 0.2270588148151887,
            1.7449496932620556, -2.9390982785477067, 1.5392631445355875,
            -2.8612700722935593, 3.9634762905748726, -1.164067511088664,
            -0.31585353625743506, 2.025002425795949, -1.7731768761174427,
            -2.104453473043991, 3.922298807342108, -1.308482789999287,
            -0.11800362381126901, 2.87408529001572, 0.11877751540814813,
            -2.990838453671349, 2.6038248989714763, -2.7975727164523554,
            -1.1544027238197367, 1.967443133405921, -0.8130404095861844,
        ],
    },
    "mlp_fixed_step": {
        "epochs": [  # (data loss at the start of the step, n_iter, func_evals) after each epoch
            (1.4632044696099642, 10, 10),
            (0.6431355418150976, 20, 20),
            (0.3820008230148418, 30, 30),
            (0.28986127969144854, 40, 40),
        ],
        "params": [
            2.4344246272206105, -0.10246745067872472, 11.40170130473532,
            1.9453141599270742, -1.0579277056843832, 2.969305822074064,
            4.3345005226924025, 2.391775456496955, 2.792930317554694,
            0.36613092830849553, -0.25852617553348656, 2.5436251426449976,
            1.1895800507393575, 1.420202820455977, -2.6995324455959464,
            -6.266497015037573, 1.9563832474371663, 4.50537318954086,
            4.585804384707122, -4.195802265339493, 0.27302958660959803,
            -6.141184335076243, 7.075547061448975, -1.0532102145608773,
            -0.558371329162918, 3.735320419239194, -3.2999592153632977,
            -3.336898955195853, 6.435903606964036, -2.1204208521123507,
            1.7720633820193856, 3.298811477993666, -3.1508196502740025,
            -4.419860465798144, 6.31994372315525, -3.3107739655625332,
            -1.1037604298093806, 2.5543506880891593, -1.4505902582797867,
        ],
    },
}

SPIRAL = {"name": "spiral", "n_samples": 90, "noise": 0.2}
TRAIN_CASES = {  # name: (data, hidden, l2, lbfgs options, epochs), as in the script
    "softmax": (SPIRAL, [], 0.0, {"name": "lbfgs"}, 4),
    "mlp": (SPIRAL, [6], 1e-3, {"name": "lbfgs", "history": 4, "max_iter": 15}, 2),
    "mlp_fixed_step": (SPIRAL, [6], 0.0, {"name": "lbfgs", "lr": 0.5, "history": 5, "max_iter": 10,
                                          "line_search": "none"}, 4),
}


def config(case):
    data, hidden, l2, opt, epochs = TRAIN_CASES[case]
    return validate({"name": case, "seed": 0, "dtype": "float64", "data": {**data, "val_fraction": 0.0},
                     "model": {"hidden": hidden, "activation": "tanh"},
                     "train": {"epochs": epochs, "batch_size": "full", "optimizer": opt,
                               "regularization": {"l2": l2}}})


@pytest.mark.parametrize("case", list(TRAIN_CASES))
def test_training_matches_torch(case):
    cfg = config(case)
    trainer = Trainer(cfg, load_dataset(cfg.data, cfg.dtype))
    counters = []
    trainer.on_epoch = lambda row: counters.append((trainer.opt.n_iter, trainer.opt.func_evals))
    result = trainer.run()
    golden = TRAIN_GOLDEN[case]
    assert result.status == "completed"
    np.testing.assert_allclose([r["train_loss"] for r in result.history], [e[0] for e in golden["epochs"]],
                               rtol=1e-10, atol=1e-12)
    assert counters == [e[1:] for e in golden["epochs"]]
    np.testing.assert_allclose(trainer.model.params, golden["params"], rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------- the pieces, by hand


def test_cubic_interpolate_by_hand():
    # f = x^3/3 - x (f' = x^2 - 1) through x = 0 (f 0, f' -1) and x = 2 (f 2/3, f' 3): d1 = 2 - 3 (-2/3) / (-2)
    # = 1, d2 = sqrt(1 + 3) = 2, x* = 2 - 2 (3 + 2 - 1) / (3 + 1 + 4) = 1, the cubic's own minimum
    assert cubic_interpolate(0.0, 0.0, -1.0, 2.0, 2 / 3, 3.0) == pytest.approx(1.0, abs=1e-15)
    assert cubic_interpolate(2.0, 2 / 3, 3.0, 0.0, 0.0, -1.0) == pytest.approx(1.0, abs=1e-15)  # either order
    # clamped to the bounds
    assert cubic_interpolate(0.0, 0.0, -1.0, 2.0, 2 / 3, 3.0, bounds=(1.5, 5.0)) == 1.5
    assert cubic_interpolate(0.0, 0.0, -1.0, 2.0, 2 / 3, 3.0, bounds=(-3.0, 0.25)) == 0.25
    # a quadratic f = (x - 0.3)^2 through 0 and 1 is its own cubic: the minimum 0.3
    assert cubic_interpolate(0.0, 0.09, -0.6, 1.0, 0.49, 1.4) == pytest.approx(0.3, abs=1e-15)
    # slopes -5 at both ends and a mean slope of -10/3: d1 = -10 + 10 = 0 < sqrt(g1 g2), the cubic has no
    # minimum, so the middle of the bounds
    assert cubic_interpolate(0.0, 0.0, -5.0, 1.0, -10 / 3, -5.0) == 0.5
    assert cubic_interpolate(0.0, 0.0, -5.0, 1.0, -10 / 3, -5.0, bounds=(2.0, 3.0)) == 2.5


@pytest.mark.parametrize("t0, phase", [(0.1, "extrapolates"), (20.0, "zooms")])
def test_strong_wolfe_returns_a_point_satisfying_both_conditions(t0, phase):
    # f(x) = (x - 5)^4 + x from x = 0 along d = 1 (f' = 4 (x - 5)^3 + 1 = -499 at 0): a first trial of
    # 0.1 is too short (the curvature condition fails), one of 20 overshoots (f rises): the bracket is zoomed
    def obj(x, t, d):
        z = x + t * d
        return float(((z - 5) ** 4 + z)[0]), 4 * (z - 5) ** 3 + 1

    x, d = np.array([0.0]), np.array([1.0])
    f0, g0 = obj(x, 0.0, d)
    gtd = float(g0 @ d)
    f, g, t, evals = strong_wolfe(obj, x, t0, d, f0, g0, gtd)
    assert f <= f0 + 1e-4 * t * gtd  # sufficient decrease
    assert abs(float(g @ d)) <= 0.9 * abs(gtd)  # curvature (strong)
    assert f == obj(x, t, d)[0] and np.array_equal(g, obj(x, t, d)[1])  # the values at t
    assert evals >= 2 and (t > t0 if phase == "extrapolates" else t < t0)


def test_two_loop_is_the_dense_bfgs_inverse_hessian():
    # H = V_k^T ... (V_1^T H0 V_1) ... V_k + sum rho s s^T, V_i = I - rho_i y_i s_i^T (Nocedal & Wright 7.19)
    rng = np.random.default_rng(0)
    n, k = 6, 4
    m = rng.normal(size=(n, n))
    hess = m @ m.T + n * np.eye(n)  # positive definite: y = hess s has y.s > 0
    s = [rng.normal(size=n) for _ in range(k)]
    y = [hess @ v for v in s]
    ro = [1.0 / (a @ b) for a, b in zip(y, s)]
    gamma = (s[-1] @ y[-1]) / (y[-1] @ y[-1])
    h = gamma * np.eye(n)
    for si, yi, r in zip(s, y, ro):
        v = np.eye(n) - r * np.outer(yi, si)
        h = v.T @ h @ v + r * np.outer(si, si)
    g = rng.normal(size=n)
    np.testing.assert_allclose(two_loop(g, y, s, ro, gamma), -h @ g, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(h @ y[-1], s[-1], rtol=1e-12)  # the secant equation of the newest pair
    np.testing.assert_allclose(two_loop(g, [], [], [], 0.5), -0.5 * g, rtol=0)  # no pairs: -H0 g


def test_one_dimensional_quadratic_takes_the_newton_step_by_hand():
    # f = 2 x^2 from x = 3, fixed steps, lr 1.  Iteration 1: g = 12, t = min(1, 1/12), x = 3 - 1 = 2.
    # Iteration 2: g = 8, y = -4, s = -1, rho = 1/4, H0 = ys/yy = 1/4; two loops: a = rho s q = 2,
    # q = -8 - 2 (-4) = 0, r = 0, b = 0, r += 2 s = -2: d = -2, x = 0 exactly (the Newton step).
    # The gradient there is 0 <= tolerance_grad: stop after 2 iterations and 3 evaluations.
    opt = optimizers.build({"name": "lbfgs", "line_search": "none"})
    x = np.array([3.0])
    seen = []

    def closure():
        seen.append(float(x[0]))
        return 2 * float(x[0]) ** 2, 4 * x.copy()

    assert opt.step_closure(x, closure, 1.0) == 18.0
    assert seen == [3.0, 2.0, 0.0] and x[0] == 0.0
    assert (opt.n_iter, opt.func_evals, opt.step_size, opt.h_diag, opt.ro) == (2, 3, 1.0, 0.25, [0.25])
    np.testing.assert_array_equal(opt.d, [-2.0])
    assert opt.step_closure(x, closure, 1.0) == 0.0 and opt.n_iter == 2  # optimal at the start: no iteration


def test_pairs_without_positive_curvature_are_not_kept():
    # a linear loss c.x has y = 0 at every iteration: no pair, H0 stays 1, every direction is -c.
    # fixed steps: t = min(1, 1/|c|_1) lr = 0.1 first, then lr = 0.5 for the other 3 iterations
    c = np.array([2.0, -3.0])
    opt = optimizers.build({"name": "lbfgs", "line_search": "none", "max_iter": 4, "lr": 0.5})
    x = np.zeros(2)
    opt.step_closure(x, lambda: (float(c @ x), c.copy()), 0.5)
    np.testing.assert_allclose(x, -(0.1 + 3 * 0.5) * c, rtol=1e-15)
    assert opt.ro == [] and opt.h_diag == 1 and opt.func_evals == 4  # the last iteration is not evaluated


def test_history_keeps_the_newest_pairs():
    rng = np.random.default_rng(1)
    m = rng.normal(size=(8, 8))
    hess, b = m @ m.T + np.eye(8), rng.normal(size=8)
    opt = optimizers.build({"name": "lbfgs", "history": 3, "max_iter": 6, "line_search": "none", "lr": 0.05})
    x = np.zeros(8)
    opt.step_closure(x, lambda: (float(0.5 * x @ hess @ x + b @ x), hess @ x + b), 0.05)
    assert len(opt.ro) == len(opt.old_dirs) == len(opt.old_stps) == 3  # 5 pairs were made, the oldest 2 dropped
    for y, s, r in zip(opt.old_dirs, opt.old_stps, opt.ro):
        np.testing.assert_allclose(y, hess @ s, rtol=1e-10, atol=1e-12)  # y = H s on a quadratic
        assert r == pytest.approx(1 / (y @ s), rel=1e-15)


def test_step_without_a_closure_is_refused():
    with pytest.raises(TypeError, match="step_closure"):
        optimizers.build("lbfgs").step(np.zeros(2), np.zeros(2), 1.0)


def test_options_and_defaults():
    opt = optimizers.build("lbfgs")
    assert isinstance(opt, LBFGS) and LBFGS.needs_closure
    assert (opt.lr, opt.history, opt.max_iter, opt.max_eval, opt.tolerance_grad, opt.tolerance_change,
            opt.line_search) == (1.0, 10, 20, 25, 1e-7, 1e-9, "strong_wolfe")
    opt = optimizers.build({"name": "lbfgs", "lr": 0.5, "history": 3, "max_iter": 7, "max_eval": 9,
                            "tolerance_grad": 1e-4, "tolerance_change": 1e-3, "line_search": "none"})
    assert (opt.lr, opt.history, opt.max_iter, opt.max_eval, opt.tolerance_grad, opt.tolerance_change,
            opt.line_search) == (0.5, 3, 7, 9, 1e-4, 1e-3, "none")


def test_state_dict_round_trips_exactly():
    f, p0 = FUNCTIONS["rosenbrock"]
    a, p = optimizers.build({"name": "lbfgs", "history": 2, "max_iter": 5}), np.array(p0)
    for _ in range(2):
        a.step_closure(p, closure_of(f, p), 1.0)
    meta, arrays = a.state_dict()
    assert json.loads(json.dumps(meta)) == meta  # what a checkpoint's JSON keeps
    assert meta["pairs"] == 2 and arrays["old_dirs"].shape == arrays["old_stps"].shape == (2, 2)
    b, q = optimizers.build({"name": "lbfgs", "history": 2, "max_iter": 5}), p.copy()
    b.load_state_dict(json.loads(json.dumps(meta)), {k: np.array(v) for k, v in arrays.items()})
    for _ in range(2):
        a.step_closure(p, closure_of(f, p), 1.0)
        b.step_closure(q, closure_of(f, q), 1.0)
        np.testing.assert_array_equal(p, q)
    assert (a.n_iter, a.func_evals) == (b.n_iter, b.func_evals)
    fresh = optimizers.build("lbfgs")
    meta, arrays = fresh.state_dict()
    assert arrays == {} and meta["pairs"] == 0
    fresh.load_state_dict(meta, arrays)
    assert fresh.d is None and fresh.old_dirs == []


# ----------------------------------------------------------------------------- in the trainer

MLP = {"name": "l", "seed": 1, "data": {"name": "spiral", "n_samples": 120, "val_fraction": 0.25},
       "model": {"hidden": [8], "activation": "tanh"},
       "train": {"epochs": 6, "batch_size": "full", "optimizer": {"name": "lbfgs", "history": 3, "max_iter": 6}}}


def mlp(**train):
    return validate({**MLP, "train": {**MLP["train"], **train}})


def test_the_closure_is_the_penalised_loss_and_its_gradient():
    cfg = validate({**MLP, "dtype": "float64", "train": {**MLP["train"], "regularization": {"l1": 0.01, "l2": 0.1}}})
    data = load_dataset(cfg.data, cfg.dtype)
    trainer = Trainer(cfg, data)
    captured = {}

    def capture(p, closure, lr):
        captured["closure"], captured["p"] = closure, p
        return closure()[0]

    trainer.opt.step_closure = capture
    trainer.run_epoch(0)
    closure, p, m = captured["closure"], captured["p"], trainer.model
    assert p is m.params
    loss, g = closure()
    x, y = data.x_train, data.y_train
    out = m.forward(x, train=True)
    data_loss, _ = trainer.loss_fn(out, y)
    w = m.params[:m.n_decay]
    assert loss == pytest.approx(data_loss + 0.01 * np.abs(w).sum() + 0.05 * w @ w, rel=1e-14)
    assert g is not m.grads  # a copy the optimizer may keep
    h = 1e-6
    rng = np.random.default_rng(0)
    for i in rng.choice(m.n_params, 12, replace=False):
        old = p[i]
        p[i] = old + h
        up = closure()[0]
        p[i] = old - h
        down = closure()[0]
        p[i] = old
        assert (up - down) / (2 * h) == pytest.approx(g[i], rel=1e-6, abs=1e-8)


def test_an_epoch_records_the_point_its_step_starts_from():
    cfg = mlp(regularization={"l2": 0.5})
    data = load_dataset(cfg.data, cfg.dtype)
    trainer = Trainer(cfg, data)
    start = trainer.model.params.copy()
    out = trainer.model.forward(data.x_train, train=True)
    loss0 = trainer.loss_fn(out, data.y_train)[0]
    acc0 = trainer.loss_fn.correct(out, data.y_train) / len(data.y_train)
    row = trainer.run_epoch(0)
    assert row["train_loss"] == pytest.approx(loss0, rel=1e-6)  # the data loss, without the L2 penalty
    assert row["train_acc"] == acc0 and row["lr"] == 1.0
    assert not np.array_equal(trainer.model.params, start)
    assert trainer.step_count == 1 and trainer.opt.t == 1 and trainer.opt.func_evals > 2


def test_diagnostics_see_the_starting_gradient_and_the_whole_step():
    cfg = validate({**MLP, "dtype": "float64", "train": {**MLP["train"], "epochs": 1}})
    data = load_dataset(cfg.data, cfg.dtype)
    probe = Trainer(cfg, data)  # the same initial weights
    m = probe.model
    m.backward(probe.loss_fn(m.forward_buffered(data.x_train, train=True), data.y_train)[1])
    w0, g0 = m.view("dense1.W").copy(), m.view("dense1.W", grad=True).copy()
    rows = []
    result = train(cfg, data, on_diagnostics=rows.extend)
    first = rows[0]
    assert first["layer"] == "dense1" and len(rows) == 2
    assert first["grad_norm"] == pytest.approx(np.linalg.norm(g0), rel=1e-12)
    w1 = result.model.view("dense1.W")
    assert first["update_ratio"] == pytest.approx(np.linalg.norm(w1 - w0) / np.linalg.norm(w0), rel=1e-12)
    assert first["saturated_fraction"] is not None


def test_a_diverging_run_stops_with_status_diverged():
    # fixed steps of lr 1e6 along -H g: the loss overflows; a non-finite start ends the run, no step taken
    cfg = mlp(optimizer={"name": "lbfgs", "lr": 1e6, "line_search": "none", "max_iter": 3})
    result = train(cfg, load_dataset(cfg.data, cfg.dtype))
    assert result.status == "diverged" and "training loss became nan" in result.message


def test_same_config_same_numbers():
    cfg = mlp()
    data = load_dataset(cfg.data, cfg.dtype)
    a, b = train(cfg, data), train(cfg, data)
    np.testing.assert_array_equal(a.model.params, b.model.params)
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in a.history] == \
        [{k: v for k, v in r.items() if k != "seconds"} for r in b.history]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_end_of_epoch_checkpoint_resumes_exactly(dtype):
    """The history pairs, direction, step and counters are in the checkpoint: a resumed run is the same run."""
    cfg = validate({**MLP, "dtype": dtype})
    data = load_dataset(cfg.data, cfg.dtype)
    states = []
    full = train(cfg, data, on_checkpoint=lambda s: states.append({k: np.array(v) for k, v in s.items()}),
                 checkpoint_every=0)
    assert len(states) == 6 and full.status == "completed"
    assert states[3]["opt.old_dirs"].shape == (3, full.model.n_params)  # history 3, full
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    for s in states[:-1]:
        again = train(cfg, data, resume=s)
        np.testing.assert_array_equal(again.model.params, full.model.params)
        assert strip(again.history) == strip(full.history)


@pytest.mark.slow
def test_a_run_folder_stopped_by_ctrl_c_resumes_to_the_uninterrupted_run_and_a_damaged_one_is_refused(tmp_path):
    from helpers import assert_same_run, ctrl_c_after

    from nnlab.experiment import CHECKPOINT, resume_experiment, run_experiment

    cfg = mlp()
    reference, _, _ = run_experiment(cfg, tmp_path / "a")
    run, _, first = run_experiment(cfg, tmp_path / "b", on_epoch=ctrl_c_after(4))
    assert first["status"] == "interrupted"
    good = dict(np.load(run / CHECKPOINT, allow_pickle=False))
    assert good["opt.old_dirs"].shape == (3, good["model.params"].size)
    for damage in ({"opt.old_dirs": good["opt.old_dirs"][:2]}, {"opt.d": good["opt.d"][:-1]}):
        np.savez(run / CHECKPOINT, **{**good, **damage})
        r = CliRunner().invoke(main, ["train", "--resume", str(run)])
        assert r.exit_code == 1 and "damaged checkpoint" in r.output and "Traceback" not in r.output
    np.savez(run / CHECKPOINT, **good)
    _, result, _ = resume_experiment(run)
    assert result.status == "completed"
    assert_same_run(reference, run)


# ----------------------------------------------------------------------------- the config rules

WHY = "its line search evaluates the same function many times per step"
RULES = [
    ({"train": {"batch_size": 32}},
     f"train.batch_size: lbfgs needs batch_size: full ({WHY}; a mini-batch changes the function at every step), "
     "got 32"),
    ({"train": {"schedule": {"name": "step", "step_size": 3}}},
     "train.schedule: lbfgs needs schedule: constant without warmup (lr is only its first trial step; the line "
     "search picks the steps), got step"),
    ({"train": {"schedule": {"name": "constant", "warmup": 2}}},
     "train.schedule: lbfgs needs schedule: constant without warmup (lr is only its first trial step; the line "
     "search picks the steps), got constant with warmup 2"),
    ({"train": {"grad_clip": {"norm": 1.0}}},
     f"train.grad_clip: lbfgs needs the true gradient ({WHY} and compares its slopes); remove grad_clip, "
     "got {norm: 1.0}"),
    ({"train": {"regularization": {"max_norm": 3.0}}},
     "train.regularization.max_norm: lbfgs cannot rescale weights after its step (its curvature pairs would no "
     "longer match the step); set max_norm: null, got 3.0"),
    ({"model": {"dropout": 0.2}},
     f"model.dropout: lbfgs needs a deterministic loss ({WHY}), but dropout draws new masks at each evaluation; "
     "set dropout: 0, got 0.2"),
    ({"model": {"hidden": [4, 4], "dropout": [0.0, 0.1]}},
     f"model.dropout: lbfgs needs a deterministic loss ({WHY}), but dropout draws new masks at each evaluation; "
     "set dropout: 0, got [0.0, 0.1]"),
    ({"model": {"activation": "rrelu"}},
     f"model.activation: lbfgs needs a deterministic loss ({WHY}), but rrelu draws random slopes at each "
     "evaluation; choose another activation, got rrelu"),
]


@pytest.mark.parametrize("change, line", RULES, ids=[r[1].split(":")[0] for r in RULES])
def test_config_rules_are_one_line_each(change, line):
    raw = {**MLP, "model": {**MLP["model"], **change.get("model", {})},
           "train": {**MLP["train"], **change.get("train", {})}}
    with pytest.raises(ConfigError) as exc:
        validate(raw, source="x.yaml")
    assert exc.value.lines == [f"x.yaml: {line}"]
    validate({**raw, "train": {**raw["train"], "optimizer": "adam"}})  # the same config is fine for adam


def test_what_lbfgs_allows():
    # L1 and L2 (in the closure's loss), batch norm (full-batch statistics), early stopping, a constant
    # schedule counted in steps, every deterministic activation
    cfg = mlp(regularization={"l1": 1e-3, "l2": 1e-3}, schedule={"name": "constant", "unit": "step"},
              early_stopping={"patience": 2})
    assert train(cfg, load_dataset(cfg.data, cfg.dtype)).status == "completed"
    cfg = validate({**MLP, "model": {**MLP["model"], "batch_norm": True, "activation": "prelu"}})
    assert train(cfg, load_dataset(cfg.data, cfg.dtype)).status == "completed"


def test_the_command_line_refuses_in_one_line(tmp_path):
    import yaml

    path = tmp_path / "l.yaml"
    path.write_text(yaml.safe_dump({**MLP, "train": {**MLP["train"], "batch_size": 16}}))
    for command in (["validate", str(path)], ["train", str(path), "--runs-dir", str(tmp_path / "runs")]):
        r = CliRunner().invoke(main, command)
        assert r.exit_code == 2 and "Traceback" not in r.output
        assert r.output.strip() == f"error: {path}: train.batch_size: lbfgs needs batch_size: full ({WHY}; a " \
            "mini-batch changes the function at every step), got 16"
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_the_benchmark_script_runs():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "bench" / "lbfgs.py"
    out = subprocess.run([sys.executable, str(script), "--quick", "--repeat", "1"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if "batch" in line and "%" in line]
    assert len(rows) == 5 and sum("L-BFGS" in r for r in rows) == 2


def test_the_diagnosis_gives_no_learning_rate_advice_its_line_search_makes_moot():
    from nnlab.runs.diagnosis import diagnose

    def codes(losses, optimizer):
        rows = [{"epoch": i + 1, "train_loss": v, "train_acc": 0.99} for i, v in enumerate(losses)]
        config = {"train": {"optimizer": optimizer, "schedule": {"name": "constant"}}}
        return [f["code"] for f in diagnose(rows, config=config)]

    # a loss that rises in epoch 2, or drops fast and then stays flat (as a converged L-BFGS run does)
    rises, flat = [2.0, 3.0, 1.0, 0.9], [1.0, 0.75, 0.5] + [0.5] * 7
    wolfe, fixed = {"name": "lbfgs", "line_search": "strong_wolfe"}, {"name": "lbfgs", "line_search": "none"}
    assert codes(rises, {"name": "adam"}) == ["loss_up_early"] and codes(rises, wolfe) == []
    assert codes(flat, {"name": "adam"}) == ["fast_then_flat"] and codes(flat, wolfe) == []
    # fixed steps: lr is the step, so too high is still too high; but no schedule can be advised
    assert codes(rises, fixed) == ["loss_up_early"] and codes(flat, fixed) == []


@pytest.mark.parametrize("extra, message", [
    ({"train": {"averaging": {"method": "ema", "decay": 0.9}}}, "train.averaging: lbfgs takes few steps of its own length"),
    ({"data": {"augment": {"noise": 0.1}}}, "data.augment: lbfgs needs the same batch at every evaluation of its loss"),
])
def test_lbfgs_refuses_averaging_and_augmentation(extra, message):
    from nnlab.config import validate
    from nnlab.errors import ConfigError

    raw = {"data": {"name": "moons", **extra.get("data", {})},
           "train": {"batch_size": "full", "optimizer": {"name": "lbfgs", "lr": 1}, **extra.get("train", {})}}
    with pytest.raises(ConfigError) as e:
        validate(raw)
    assert any(message in line for line in e.value.lines), e.value.lines
