"""The verdict rule of the claims gallery, on plain numbers (mean, std, n per variant).

A pair "a better than b": d = mean(a) - mean(b) in the direction where larger is better
(negated for a loss), se = sqrt(sa²/na + sb²/nb) (sample standard deviations).  It
holds if d > 2·se, does not hold if d < -2·se, and is inconclusive otherwise.  An
order holds if every consecutive pair holds, does not hold if any pair does not, else
it is inconclusive.  A threshold "below x for v" holds if mean + 2·se < x (se = s/√n),
does not hold if mean - 2·se > x, else inconclusive ("above" mirrored).  Fewer than 2
seeds is always inconclusive: there is no spread to compare with.  An infinite value (a run that
never reached a target accuracy, or a diverged run's loss) makes its variant's mean infinite: a pair
where exactly one mean is infinite is decided by that (d = ±inf); two infinite means are inconclusive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
RULE = ("For each compared pair, d is the difference of the means in the claimed direction and "
        "se = sqrt(sa²/na + sb²/nb) its standard error over the seeds: the pair holds if d > 2·se, "
        "does not hold if d < −2·se, and is inconclusive otherwise. An order holds if every "
        "consecutive pair holds, does not hold if any pair does not, and is inconclusive otherwise; "
        "so do several variants each claimed better than one. "
        "A threshold claim compares mean ± 2·se (se = s/√n) with the threshold. A claim that two variants "
        "score the same within a tolerance t holds if |d| + 2·se < t, does not hold if |d| − 2·se > t, "
        "and is inconclusive otherwise. With fewer than 2 seeds a claim is always inconclusive. An infinite "
        "value (a run that never reaches a target, a diverged run's loss) makes its variant's mean infinite: "
        "a pair where exactly one mean is infinite is decided by it, two infinite means are inconclusive.")


@dataclass
class Stats:
    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Stats:
        v = [float(x) for x in values if x is not None]
        n = len(v)
        if n == 0:
            return cls(math.nan, math.nan, 0)
        m = sum(v) / n
        if any(not math.isfinite(x) for x in v):
            return cls(m if not math.isnan(m) else math.nan, math.nan, n)
        s = math.sqrt(sum((x - m) ** 2 for x in v) / (n - 1)) if n > 1 else math.nan
        return cls(m, s, n)

    @property
    def usable(self) -> bool:
        return self.n >= 2 and math.isfinite(self.mean) and math.isfinite(self.std)


def pair(a: Stats, b: Stats, higher_is_better: bool = True) -> tuple[str, float, float]:
    """(verdict, d, se) of "a is better than b"."""
    if a.n >= 2 and b.n >= 2 and math.isinf(a.mean) != math.isinf(b.mean) \
            and not (math.isnan(a.mean) or math.isnan(b.mean)):
        d = (a.mean - b.mean) * (1 if higher_is_better else -1)  # one side has a worst value (inf): d = ±inf
        return (HOLDS if d > 0 else FAILS), d, math.nan
    if not (a.usable and b.usable):
        d = (a.mean - b.mean) * (1 if higher_is_better else -1) if a.n and b.n else math.nan
        return INCONCLUSIVE, d, math.nan
    d = (a.mean - b.mean) * (1 if higher_is_better else -1)
    se = math.sqrt(a.std ** 2 / a.n + b.std ** 2 / b.n)
    if d > 2 * se:
        return HOLDS, d, se
    if d < -2 * se:
        return FAILS, d, se
    return INCONCLUSIVE, d, se


def threshold(s: Stats, x: float, side: str) -> tuple[str, float]:
    """(verdict, se) of "the mean is below (side='below') or above x"."""
    if not s.usable:
        return INCONCLUSIVE, math.nan
    se = s.std / math.sqrt(s.n)
    lo, hi = s.mean - 2 * se, s.mean + 2 * se
    if side == "below":
        return (HOLDS if hi < x else FAILS if lo > x else INCONCLUSIVE), se
    return (HOLDS if lo > x else FAILS if hi < x else INCONCLUSIVE), se


def same(a: Stats, b: Stats, within: float) -> tuple[str, float, float]:
    """(verdict, |d|, se) of "a and b score the same, within ``within``": holds if |d| + 2·se < within,
    does not hold if |d| − 2·se > within (an equivalence test in the spirit of TOST)."""
    if not (a.usable and b.usable):
        return INCONCLUSIVE, abs(a.mean - b.mean) if a.n and b.n else math.nan, math.nan
    d = abs(a.mean - b.mean)
    se = math.sqrt(a.std ** 2 / a.n + b.std ** 2 / b.n)
    if d + 2 * se < within:
        return HOLDS, d, se
    if d - 2 * se > within:
        return FAILS, d, se
    return INCONCLUSIVE, d, se


def combine(verdicts: list[str]) -> str:
    if verdicts and all(v == HOLDS for v in verdicts):
        return HOLDS
    if FAILS in verdicts:
        return FAILS
    return INCONCLUSIVE


def judge(expect: dict, stats: dict, higher_is_better: bool, name=str, scale: float = 1.0) -> tuple[str, list[str]]:
    """The verdict of a claim's ``expect`` on ``stats`` (variant -> Stats), and one line per comparison
    (``name`` shows a variant in them; the numbers are shown times ``scale``: 100 shows accuracies in
    percent and their differences in percentage points)."""

    def num(x):
        return _num(x * scale if isinstance(x, (int, float)) else x)

    lines = []
    if "order" in expect or "better" in expect:
        if "order" in expect:
            pairs = list(zip(expect["order"], expect["order"][1:]))
        else:
            better = expect["better"] if isinstance(expect["better"], list) else [expect["better"]]
            pairs = [(b, expect["than"]) for b in better]
        verdicts = []
        for a, b in pairs:
            v, d, se = pair(stats.get(a, Stats.of([])), stats.get(b, Stats.of([])), higher_is_better)
            verdicts.append(v)
            lines.append(f"{name(a)} better than {name(b)}: d = {num(d)}, 2·se = {num(2 * se)}: {v}")
        return combine(verdicts), lines
    if "same" in expect:
        a, b = expect["same"]
        v, d, se = same(stats.get(a, Stats.of([])), stats.get(b, Stats.of([])), expect["within"])
        lines.append(f"{name(a)} same as {name(b)} within {num(expect['within'])}: |d| = {num(d)}, "
                     f"2·se = {num(2 * se)}: {v}")
        return v, lines
    side = "below" if "below" in expect else "above"
    x, who = expect[side], expect["for"]
    s = stats.get(who, Stats.of([]))
    v, se = threshold(s, x, side)
    lines.append(f"{name(who)}: mean {num(s.mean)} ± 2·se {num(2 * se)} {side} {num(x)}: {v}")
    return v, lines


def _num(x) -> str:
    return num(x)


def num(x) -> str:
    """Numbers as the gallery prints them (4 significant digits)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.4g}"
