"""The training step of a closure-based optimizer (L-BFGS): one step evaluates the loss many times.

An optimizer that sets ``needs_closure`` gets, instead of one gradient, a closure it may call as
often as it likes: ``closure()`` -> (loss, gradient) of the full batch at the current parameters,
L1/L2 penalty included in both (its line search compares losses, so the loss must be the function
whose gradient it follows).  The epoch's row records the first evaluation, the point the step starts
from, as a full-batch gradient step records the loss before its update: the data loss without the
penalty, and the accuracy.  The per-layer diagnostics see that first evaluation too (gradient norms,
dead and saturated units), and the update ratio spans the whole step.

The config rules that make the closure one fixed function (full batch, no dropout, no clipping, ...)
are the optimizer's ``config_problems`` (nnlab.components.lbfgs), checked by config validation.
"""

from __future__ import annotations

import math

from nnlab.components.regularizers import add_penalty_grad, penalty


class _NonFinite(Exception):
    """The starting point's loss is not finite: the run has diverged, no step is taken."""


class ClosureStep:
    """``Trainer.step`` for optimizers with ``needs_closure``; returns (data loss at the start, correct count)."""

    def __init__(self, trainer):
        self.tr = trainer

    def __call__(self, xb, yb, epoch: int, last: bool) -> tuple[float, int]:
        tr = self.tr
        m, g = tr.model, tr.model.grads
        start: list = []  # (data loss, correct count) of the first evaluation

        def closure():
            out = m.forward_buffered(xb, train=True)
            loss, dout = tr.loss_fn(out, yb)
            fresh = not start
            if fresh:
                start.append((loss, tr.loss_fn.correct(out, yb)))
                if not math.isfinite(loss):
                    raise _NonFinite
            m.backward(dout)
            if fresh and tr.diag is not None:  # the starting point is what the diagnostics record
                tr.diag.after_backward(g)
                tr.diag.before_last_step()
            if tr.l1 or tr.l2:
                for gw, w in zip(tr.gw, tr.w):
                    loss += penalty(w, tr.l1, tr.l2)
                    add_penalty_grad(gw, w, tr.l1, tr.l2)
            return loss, g.copy()  # a new array: the optimizer keeps gradients across evaluations

        lr = tr.sched(tr.step_count if tr.step_unit else epoch)
        try:
            tr.opt.step_closure(m.params, closure, lr)
        except _NonFinite:
            return start[0][0], 0
        tr.step_count += 1
        loss, correct = start[0]
        return loss, (correct or 0)
