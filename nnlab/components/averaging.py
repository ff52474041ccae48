"""Weight-averaging methods (``train.averaging``): their options, as the other components'.

``{method: ema, decay: d}`` and ``{method: swa, start: s, lr: r}``; what they do to the weights is
nnlab.train.averager (the rules of torch.optim.swa_utils, note 002's Polyak averaging).  The config
key is ``method:`` rather than ``name:``, so ``resolve`` is this registry's own.
"""

from __future__ import annotations

from typing import Optional

from nnlab.errors import ConfigError
from nnlab.options import Fraction, Positive, Registry, check_options
from nnlab.text import shown


class EMA:
    """Polyak averaging with exponential weights: avg = decay avg + (1 - decay) w after every step.

    torch: AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay)), updated after every step.
    """

    def __init__(self, *, decay: Fraction = 0.999):
        self.decay = decay


class SWA:
    """Stochastic weight averaging (Izmailov et al. 2018): the equal average of the epochs' last weights.

    The epochs after the first floor(start * epochs) are averaged; ``lr`` (optional) is their constant
    rate.  torch: AveragedModel(model) updated after each of those epochs, SWALR(optimizer, lr, anneal_epochs=0).
    """

    def __init__(self, *, start: Fraction = 0.75, lr: Optional[Positive] = None):
        self.start, self.lr = start, lr


methods = Registry("averaging method", {"ema": EMA, "swa": SWA})


def resolve(spec, where: str, errors: list[str]) -> dict | None:
    """``train.averaging``: null (none) or {method: ema|swa, options...}; defaults filled in, one line per problem."""
    if spec is None or spec is False:
        return None
    if not isinstance(spec, dict):
        errors.append(f"{where}: must be null, {{method: ema, decay: 0.999}} or {{method: swa, start: 0.75, "
                      f"lr: null}}, got {shown(spec)}")
        return None
    if "method" not in spec:
        errors.append(f"{where}: an averaging mapping needs a 'method' key; choose from {', '.join(methods.names())}")
        return None
    try:
        comp = methods.get(spec["method"], f"{where}.method")
    except ConfigError as exc:
        errors.extend(exc.lines)
        return None
    given = {k: v for k, v in spec.items() if k != "method"}
    values = check_options(comp.options, given, where, errors, what="option",
                           owner=f"averaging method '{comp.name}'")
    return None if values is None else {"method": comp.name, **values}
