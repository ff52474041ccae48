"""L-BFGS (``train.optimizer: lbfgs``): torch.optim.LBFGS in numpy, step for step.

Course note 002 ("Second Order Optimization"): methods that use the Hessian are not used in deep
learning because the Hessian is too expensive to compute and, with millions of parameters, too
large to store (n^2 entries).  L-BFGS (Liu & Nocedal 1989) never forms it: it keeps the last
``history`` pairs s_i = x_{i+1} - x_i, y_i = g_{i+1} - g_i (2 * history * n numbers) and applies
the BFGS inverse-Hessian approximation H to the gradient with the two-loop recursion (Nocedal &
Wright, Algorithm 7.4), rho_i = 1 / (y_i . s_i):

    q = -g
    for i = newest .. oldest:  a_i = rho_i s_i . q,   q <- q - a_i y_i
    r = gamma q,  gamma = s . y / y . y of the newest pair   (H0 = gamma I)
    for i = oldest .. newest:  b = rho_i y_i . r,     r <- r + (a_i - b) s_i
    d = r = -H g

A pair is kept only if y . s > 1e-10 (H stays positive definite).  One ``step_closure`` is one
``torch.optim.LBFGS.step(closure)``: up to ``max_iter`` iterations x <- x + t d, where t comes from a
strong-Wolfe line search (c1 = 1e-4, c2 = 0.9, cubic interpolation; torch's ``_strong_wolfe``, a
port of minFunc) or is fixed (t = lr; the very first iteration t = min(1, 1/|g|_1) lr).  It stops
after ``max_iter`` iterations or ``max_eval`` loss evaluations, when max|g| <= tolerance_grad, when
the directional derivative g . d > -tolerance_change, or when max|t d| or the change of the loss
falls below tolerance_change.  The history, the last direction and step carry over to the next
call, as in torch.  Every branch, comparison and order of operations follows torch 2.13's
``torch/optim/lbfgs.py``, quirks included: the line search's own bracket tolerance is 1e-9
whatever tolerance_change is, and ``max_eval`` counts the step's first evaluation, so max_iter 1
with the default max_eval (1) leaves the line search one trial, kept only if the loss fell.
tests/test_lbfgs.py holds torch's float64 trajectories: they agree to 5e-12, not to the last bit
(torch fuses the multiply-adds of its in-place updates and sums its dot products in another order).

The closure returns ``(loss, gradient)`` at the current parameters (a fresh gradient array each
call); the optimizer moves ``p`` in place and leaves it at the accepted point.
"""

from __future__ import annotations

from typing import Literal, Optional

import numpy as np

from nnlab.components.activations import activations
from nnlab.options import NonNegative, Positive, PositiveInt
from nnlab.text import shown


def cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2, clamped to bounds
    (default: [min(x1, x2), max(x1, x2)]); the middle of the bounds when the cubic has no minimum.

    torch's ``_cubic_interpolate`` (from minFunc's polyinterp): d1 = g1 + g2 - 3 (f1 - f2) / (x1 - x2),
    d2 = sqrt(d1^2 - g1 g2), x* = x2 - (x2 - x1) (g2 + d2 - d1) / (g2 - g1 + 2 d2).
    """
    x1, f1, g1, x2, f2, g2 = (np.float64(v) for v in (x1, f1, g1, x2, f2, g2))
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """A step t along d with f(x + t d) <= f + c1 t gtd and |g(x + t d) . d| <= c2 |gtd| (strong Wolfe).

    torch's ``_strong_wolfe`` (from minFunc's WolfeLineSearch): first a bracket is grown (each new
    trial a cubic step in [t + 0.01 (t - t_prev), 10 t]), then zoomed by cubic interpolation (kept
    0.1 of the bracket away from its ends when progress stalls).  ``obj_func(x, t, d)`` returns
    (loss, gradient) at x + t d; at most ``max_ls`` evaluations after the first.
    Returns (loss, gradient, t, number of evaluations) of the best point found.
    """
    d_norm = np.abs(d).max()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = np.dot(g_new, d)

    # bracket an interval containing a point satisfying the Wolfe criteria
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        # interpolate
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new, gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = np.dot(g_new, d)
        ls_iter += 1

    if ls_iter == max_ls:  # no bracket within max_ls evaluations
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom: refine the bracket until a point satisfies the conditions
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:  # the bracket is too small
            break
        t = cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        # a trial too close to an end of the bracket twice in a row (or outside it) is moved
        # to 0.1 of the bracket's length from the nearer end
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = np.dot(g_new, d)
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # Armijo condition not satisfied or not lower than the lowest point
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new, gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True  # Wolfe conditions satisfied
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # the old high becomes the new low
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos], bracket_gtd[high_pos] = bracket_g[low_pos], bracket_gtd[low_pos]
            # the new point becomes the new low
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new, gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


def two_loop(g, old_dirs, old_stps, ro, h_diag):
    """d = -H g by the two-loop recursion over the pairs (y_i = old_dirs[i], s_i = old_stps[i], oldest first)."""
    al = [None] * len(old_dirs)
    q = -g
    for i in range(len(old_dirs) - 1, -1, -1):
        al[i] = np.dot(old_stps[i], q) * ro[i]
        q -= q.dtype.type(al[i]) * old_dirs[i]
    r = q * q.dtype.type(h_diag)
    for i in range(len(old_dirs)):
        be_i = np.dot(old_dirs[i], r) * ro[i]
        r += r.dtype.type(al[i] - be_i) * old_stps[i]
    return r


class LBFGS:
    """L-BFGS with a strong-Wolfe line search (torch.optim.LBFGS); one epoch is one full-batch step.

        d = -H g by the two-loop recursion over the last `history` pairs (s, y), H0 = (s.y / y.y) I
        x <- x + t d,  t from a strong-Wolfe line search (or t = lr with line_search: none)
    Up to max_iter such iterations (and max_eval loss evaluations) per epoch.  The loss must be one
    fixed function: batch_size full, a constant schedule, no dropout or RReLU, no grad_clip or max_norm.
    Defaults as torch except history (torch's history_size 100) and line_search (torch's None).
    """

    needs_closure = True  # the Trainer calls step_closure(p, closure, lr), not step(p, g, lr)
    torch = "LBFGS"

    @staticmethod
    def chooses_steps(options: dict) -> bool:
        """With a line search every step length is its own choice (lr is only the first trial)."""
        return options.get("line_search") != "none"

    def __init__(self, *, lr: Positive = 1.0, history: PositiveInt = 10, max_iter: PositiveInt = 20,
                 max_eval: Optional[PositiveInt] = None, tolerance_grad: NonNegative = 1e-7,
                 tolerance_change: NonNegative = 1e-9,
                 line_search: Literal["strong_wolfe", "none"] = "strong_wolfe"):
        self.lr, self.history, self.max_iter = lr, history, max_iter
        self.max_eval = max_iter * 5 // 4 if max_eval is None else max_eval  # torch's default
        self.tolerance_grad, self.tolerance_change = tolerance_grad, tolerance_change
        self.line_search = line_search
        self.t = 0  # steps taken (the Optimizer contract's counter)
        self.n_iter = 0  # iterations over all steps (torch's state['n_iter'])
        self.func_evals = 0  # loss evaluations over all steps (torch's state['func_evals'])
        self.d = self.step_size = self.h_diag = self.prev_flat_grad = self.prev_loss = None
        self.old_dirs, self.old_stps, self.ro = [], [], []

    @staticmethod
    def config_problems(train: dict, model: dict | None) -> list[str]:
        """What in a resolved config L-BFGS cannot work with, one line each: its line search evaluates
        one fixed function many times, and its curvature pairs assume the weights moved by t d."""
        fixed = "its line search evaluates the same function many times per step"
        out = []
        bs = train.get("batch_size")
        if bs != "full":
            out.append(f"train.batch_size: lbfgs needs batch_size: full ({fixed}; a mini-batch changes "
                       f"the function at every step), got {shown(bs)}")
        sched = train.get("schedule")
        if isinstance(sched, dict) and (sched.get("name") != "constant" or sched.get("warmup")):
            got = sched["name"] if sched.get("name") != "constant" else f"constant with warmup {sched['warmup']}"
            out.append(f"train.schedule: lbfgs needs schedule: constant without warmup (lr is only its first "
                       f"trial step; the line search picks the steps), got {got}")
        clip = train.get("grad_clip")
        if clip:
            got = ", ".join(f"{k}: {v}" for k, v in clip.items() if v is not None)
            out.append(f"train.grad_clip: lbfgs needs the true gradient ({fixed} and compares its slopes); "
                       f"remove grad_clip, got {{{got}}}")
        reg = train.get("regularization") or {}
        if reg.get("max_norm") is not None:
            out.append(f"train.regularization.max_norm: lbfgs cannot rescale weights after its step (its "
                       f"curvature pairs would no longer match the step); set max_norm: null, got {reg['max_norm']}")
        if model:
            rates = (model.get("dropout") or {}).get("rate", 0.0)
            if any(r > 0 for r in (rates if isinstance(rates, list) else [rates])):
                out.append(f"model.dropout: lbfgs needs a deterministic loss ({fixed}), but dropout draws new "
                           f"masks at each evaluation; set dropout: 0, got {rates}")
            act = model.get("activation")
            if isinstance(act, dict) and _stochastic(act.get("name")):
                out.append(f"model.activation: lbfgs needs a deterministic loss ({fixed}), but {act['name']} "
                           f"draws random slopes at each evaluation; choose another activation, got {act['name']}")
        return out

    def step(self, p, g, lr, n_decay=None):
        raise TypeError("lbfgs takes a closure: call step_closure(p, closure, lr)")

    def step_closure(self, p: np.ndarray, closure, lr: float):
        """One torch ``LBFGS.step(closure)`` on the flat parameters ``p`` (moved in place).

        ``closure()`` returns (loss, gradient) at the current ``p``.  Returns the loss at the start.
        """
        self.t += 1
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._step(p, closure, float(lr))

    def _step(self, p, closure, lr):
        max_iter, max_eval, history = self.max_iter, self.max_eval, self.history
        tolerance_grad, tolerance_change = self.tolerance_grad, self.tolerance_change
        dtype = p.dtype.type

        orig_loss, flat_grad = closure()
        loss = orig_loss
        current_evals = 1
        self.func_evals += 1
        if np.abs(flat_grad).max() <= tolerance_grad:  # optimal already
            return orig_loss

        opt_cond = False
        d, t, h_diag = self.d, self.step_size, self.h_diag
        old_dirs, old_stps, ro = self.old_dirs, self.old_stps, self.ro
        prev_flat_grad, prev_loss = self.prev_flat_grad, self.prev_loss
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            self.n_iter += 1
            # -- the direction
            if self.n_iter == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                h_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * dtype(t)
                ys = np.dot(y, s)
                if ys > 1e-10:  # keep the pair only if the curvature is positive
                    if len(old_dirs) == history:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / np.dot(y, y)
                d = two_loop(flat_grad, old_dirs, old_stps, ro, h_diag)
            prev_flat_grad = flat_grad  # never changed in place: the closure returns a new array
            prev_loss = loss

            # -- the step length
            t = min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr if self.n_iter == 1 else lr
            gtd = np.dot(flat_grad, d)  # directional derivative
            if gtd > -tolerance_change:
                break

            ls_func_evals = 0
            if self.line_search == "strong_wolfe":
                x_init = p.copy()

                def obj_func(x, t, d):
                    np.add(x, dtype(t) * d, out=p)
                    f, g = closure()
                    p[...] = x
                    return f, g

                loss, flat_grad, t, ls_func_evals = strong_wolfe(obj_func, x_init, t, d, loss, flat_grad, gtd,
                                                                 max_ls=max_eval - current_evals)
                p += dtype(t) * d
                opt_cond = np.abs(flat_grad).max() <= tolerance_grad
            else:
                p += dtype(t) * d
                if n_iter != max_iter:  # re-evaluated except in the last iteration
                    loss, flat_grad = closure()
                    opt_cond = np.abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            self.func_evals += ls_func_evals

            # -- stop?
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if np.abs(d * dtype(t)).max() <= tolerance_change:  # no progress in the weights
                break
            if abs(loss - prev_loss) < tolerance_change:  # nor in the loss
                break

        self.d, self.step_size, self.h_diag = d, t, h_diag
        self.old_dirs, self.old_stps, self.ro = old_dirs, old_stps, ro
        self.prev_flat_grad, self.prev_loss = prev_flat_grad, prev_loss
        return orig_loss

    # -- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> tuple[dict, dict]:
        """(JSON-able scalars, arrays): the history pairs, the last direction and gradient, the counters."""
        meta = {"t": self.t, "n_iter": self.n_iter, "func_evals": self.func_evals,
                "step_size": _scalar(self.step_size), "h_diag": _scalar(self.h_diag),
                "prev_loss": _scalar(self.prev_loss), "pairs": len(self.ro)}
        arrays = {}
        if self.d is not None:
            arrays["d"], arrays["prev_flat_grad"] = self.d, self.prev_flat_grad
        if self.ro:
            arrays["old_dirs"], arrays["old_stps"] = np.stack(self.old_dirs), np.stack(self.old_stps)
            arrays["ro"] = np.array(self.ro)
        return meta, arrays

    def load_state_dict(self, meta: dict, arrays: dict) -> None:
        """Continue from ``state_dict()``'s output; ValueError if its parts do not fit together."""
        k = meta["pairs"]
        d, prev = arrays.get("d"), arrays.get("prev_flat_grad")
        if (d is None) != (prev is None) or (d is not None and (d.ndim != 1 or prev.shape != d.shape)):
            raise ValueError("lbfgs state: the direction and the last gradient do not match")
        if k:
            if d is None or any(arrays[n].shape != (k, d.size) for n in ("old_dirs", "old_stps")) \
                    or arrays["ro"].shape != (k,):
                raise ValueError(f"lbfgs state: {k} history pairs do not match the stored arrays")
        self.t, self.n_iter, self.func_evals = meta["t"], meta["n_iter"], meta["func_evals"]
        self.step_size, self.h_diag, self.prev_loss = meta["step_size"], meta["h_diag"], meta["prev_loss"]
        self.d = None if d is None else np.array(d)
        self.prev_flat_grad = None if prev is None else np.array(prev)
        self.old_dirs = [np.array(v) for v in arrays["old_dirs"]] if k else []
        self.old_stps = [np.array(v) for v in arrays["old_stps"]] if k else []
        self.ro = list(np.array(arrays["ro"])) if k else []


def _scalar(v):
    """A float for the checkpoint's JSON (exact: JSON keeps a float's shortest repr), None as None."""
    return None if v is None else float(v)


def _stochastic(activation_name) -> bool:
    return activation_name in activations and getattr(activations.get(activation_name).obj, "stochastic", False)


__all__ = ["LBFGS", "cubic_interpolate", "strong_wolfe", "two_loop"]
