"""The verdict of a claim in one regime, from paired differences over the judging seeds (nnlab.claims.stats).

Each check of a claim (nnlab.claims.claim) is one or more hypotheses: a pair "a better than b" (an order of
k variants: its k - 1 consecutive pairs; several variants better than one: one pair each), a contrast, a
"same within t" (an equivalence, two one-sided tests), a threshold or a "near x within t" of one variant.
Every hypothesis has a p-value for each outcome it can have (p_hold, p_fail); Holm's step-down correction at
5% runs over all hypotheses of the claim in the regime (sorted by min(p_hold, p_fail)).  A hypothesis whose
Holm-adjusted p-value is below 5% holds or does not hold (the smaller of its two p-values says which); the
rest are inconclusive.  A check holds when all its hypotheses hold, does not hold when one does not, and is
inconclusive otherwise; so is the claim in the regime over its checks.

Pairs are aligned by seed: variants share seeds, hence initial weights and data order.  A difference that is
not finite (a run that never reached a target counts +inf, a diverged loss is inf) turns a pair into the
exact sign test over the seeds (both infinite: a tie); an equivalence or threshold with such a value is
inconclusive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from nnlab.claims import stats

HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
ALPHA = stats.ALPHA
RULE = (f"{stats.RULE} A difference that is not finite (a run that never reached a target, a diverged loss) "
        "turns a pair into the exact sign test over the seeds. Each variant is judged at its own tuned setting, "
        "chosen on the validation accuracy of the tuning seeds (which never judge); the test set plays no part in "
        "any choice.")


@dataclass
class Hypothesis:
    """One comparison of a check: its line on the page, its two p-values, and (after Holm) its verdict."""

    text: str
    p_hold: float
    p_fail: float
    detail: str  # the numbers: mean difference, interval, p-value
    note: str = ""  # e.g. how many seeds an equivalence would need
    p_adjusted: float = math.nan
    verdict: str = INCONCLUSIVE

    @property
    def p(self) -> float:
        return min(self.p_hold, self.p_fail)

    def line(self) -> str:
        holm = f", Holm-adjusted p {_p(self.p_adjusted)}" if math.isfinite(self.p_adjusted) else ""
        undecided = self.note and self.verdict == INCONCLUSIVE  # a decided line needs no word on how to decide it
        return f"{self.text}: {self.detail}{holm}: {self.verdict}" + (f" ({self.note})" if undecided else "")


@dataclass
class CheckOutcome:
    text: str
    hypotheses: list = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return combine([h.verdict for h in self.hypotheses])


def combine(verdicts: list[str]) -> str:
    if verdicts and all(v == HOLDS for v in verdicts):
        return HOLDS
    if FAILS in verdicts:
        return FAILS
    return INCONCLUSIVE


def judge(checks: list[dict], values: dict, seeds: list[int]) -> tuple[str, list[CheckOutcome]]:
    """The regime's verdict and one outcome per check.

    ``checks``: claim.json's checks (metric, options, form, args, key, text, higher, percent);
    ``values``: variant -> seed -> values.csv row (key -> number or None)."""
    outcomes = [CheckOutcome(c["text"], _hypotheses(c, values, seeds)) for c in checks]
    every = [h for o in outcomes for h in o.hypotheses]
    adjusted = stats.holm([h.p for h in every]) if every else []
    for h, p in zip(every, adjusted):
        h.p_adjusted = p
        if p < ALPHA:
            h.verdict = HOLDS if h.p_hold <= h.p_fail else FAILS
    return combine([o.verdict for o in outcomes]), outcomes


def _column(values: dict, variant: str, key: str, seeds: list[int]) -> list:
    rows = values.get(variant, {})
    return [(rows.get(s) or {}).get(key) for s in seeds]


def _hypotheses(c: dict, values: dict, seeds: list[int]) -> list[Hypothesis]:
    hyps = _forms(c, values, seeds)
    for h in hyps:  # a claim may check several metrics on the same variants: each line names its metric
        h.text = f"{c.get('label', c['metric'])}: {h.text}"
    return hyps


def _forms(c: dict, values: dict, seeds: list[int]) -> list[Hypothesis]:
    a, key, higher, scale = c["args"], c["key"], c["higher"], 100.0 if c["percent"] else 1.0
    unit = " points" if c["percent"] else ""
    form = c["form"]

    def col(v):
        return _column(values, v, key, seeds)

    if form in ("better", "order"):
        pairs = ([(b, a["than"]) for b in (a["better"] if isinstance(a["better"], list) else [a["better"]])]
                 if form == "better" else list(zip(a["order"], a["order"][1:])))
        return [_pair(f"{x} better than {y}", col(x), col(y), higher, scale, unit, x) for x, y in pairs]
    if form == "contrast":
        (a1, a0), (b1, b0) = a["gain"], a["exceeds"]
        d = [_sub(_sub(p, q), _sub(r, s)) for p, q, r, s in zip(col(a1), col(a0), col(b1), col(b0))]
        return [_pair(f"the gain of {a1} over {a0} exceeds that of {b1} over {b0}", d, [0.0] * len(d), higher,
                      scale, unit, a1)]
    if form == "same":
        x, y = a["same"]
        return [_equivalent(f"{x} the same as {y} within ±{_n(a['within'] * scale)}{unit}", col(x), col(y), higher,
                            -a["within"], a["within"], scale, unit)]
    if form == "gain_near":
        x, y = a["gain"]
        return [_equivalent(f"{x} better than {y} by {_n(a['near'] * scale)} ± {_n(a['within'] * scale)}{unit}",
                            col(x), col(y), higher, a["near"] - a["within"], a["near"] + a["within"], scale, unit)]
    v = a["for"]
    if form == "near":
        return [_equivalent(f"{v}: {_n(a['near'] * scale)} ± {_n(a['within'] * scale)}{unit}", col(v),
                            [0.0] * len(seeds), True, a["near"] - a["within"], a["near"] + a["within"], scale, unit,
                            one_sample=True)]
    side = form  # below / above: the mean against the threshold
    x = a[side]
    return [_pair(f"{v}: mean {side} {_n(x * scale)}{unit}", col(v), [x] * len(seeds), side == "above", scale, unit,
                  v, one_sample=True)]


def _sub(p, q):
    if p is None or q is None:
        return None
    if math.isinf(p) and math.isinf(q) and p == q:
        return 0.0  # both never reached: a tie
    return p - q


def _pair(text: str, a: list, b: list, higher: bool, scale: float, unit: str, who: str,
          one_sample: bool = False) -> Hypothesis:
    """'a better than b' over the seeds (b a number repeated for a threshold)."""
    iv = stats.paired(a, b, higher_is_better=higher, level=1 - ALPHA)
    if iv.n < 2:
        return Hypothesis(text, 1.0, 1.0, f"n = {iv.n}: too few seeds to compare")
    if iv.method == "sign":
        direction = iv.n_pos - iv.n_neg
        detail = (f"{iv.n_pos} of {iv.n} seeds favour {who}, {iv.n_neg} the other way, {iv.n_ties} tied (a value "
                  f"is not finite, so the exact sign test): p {_p(iv.p)}")
        return Hypothesis(text, iv.p if direction > 0 else 1.0, iv.p if direction < 0 else 1.0, detail)
    what = f"mean {'above' if higher else 'below'} the threshold by" if one_sample else "mean difference"
    detail = (f"{what} {_signed(iv.mean * scale)}{unit}, 95% CI [{_signed(iv.lo * scale)}, {_signed(iv.hi * scale)}]"
              f", p {_p(iv.p)}")
    return Hypothesis(text, iv.p if iv.mean > 0 else 1.0, iv.p if iv.mean < 0 else 1.0, detail)


def _equivalent(text: str, a: list, b: list, higher: bool, low: float, high: float, scale: float, unit: str,
                one_sample: bool = False) -> Hypothesis:
    """'the difference (a - b in the better direction) lies in [low, high]': two one-sided tests."""
    d = [(_sub(x, y) if higher else _sub(y, x)) for x, y in zip(a, b)]
    d = [x for x in d if x is not None]
    n = len(d)
    if n < 2:
        return Hypothesis(text, 1.0, 1.0, f"n = {n}: too few seeds to compare")
    if any(not math.isfinite(x) for x in d):
        return Hypothesis(text, 1.0, 1.0, "a value is not finite (a run never reached its target or diverged), so "
                                          "no interval can show equivalence")
    iv = stats.one_sample(d, 0.0, level=1 - 2 * ALPHA)
    e = stats.equivalence(iv, low, high, alpha=ALPHA)
    what = "mean" if one_sample else "mean difference"
    detail = (f"{what} {_signed(iv.mean * scale)}{unit}, 90% CI [{_signed(e.lo * scale)}, {_signed(e.hi * scale)}] "
              f"against [{_signed(low * scale)}, {_signed(high * scale)}]")
    note = ""
    half, width = (high - low) / 2, (e.hi - e.lo) / 2
    if width >= half and math.isfinite(iv.sd) and iv.sd > 0:
        need = stats.seeds_needed(iv.sd, half, level=1 - 2 * ALPHA)
        note = (f"{n} seeds cannot decide it at this spread (sd {_n(iv.sd * scale)}{unit}): the 90% interval alone is "
                f"±{_n(width * scale)}{unit} wide"
                + (f"; it would take about {need} seeds" if need and need < stats.MAX_SEEDS else ""))
    return Hypothesis(text, e.p_tost, e.p_outside, detail, note)


def _p(p: float) -> str:
    """A p-value with its relation: '= 0.012', '< 0.0001'."""
    if not math.isfinite(p):
        return "n/a"
    return "< 0.0001" if p < 1e-4 else "= " + (f"{p:.2g}" if p < 0.01 else f"{p:.3f}".rstrip("0").rstrip("."))


def _n(x: float) -> str:
    return num(x)


def _signed(x: float) -> str:
    if not math.isfinite(x):
        return num(x)
    s = num(x)
    return s if s.startswith("-") or s == "0" else "+" + s


def num(x) -> str:
    """Numbers as the gallery prints them (4 significant digits)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    out = f"{x:.4g}"
    return "0" if out in ("-0", "0") else out
