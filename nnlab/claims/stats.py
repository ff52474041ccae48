"""The statistics of the claims gallery: paired t-intervals over seeds, the sign test, TOST and Holm.

The rule, as the gallery page shows it (``RULE``): a pair is judged on the paired differences over the
judging seeds: holds if the lower end of the two-sided 95% t-interval of their mean (n - 1 degrees of
freedom) is above 0, does not hold if the upper end is below 0, inconclusive otherwise; several checks of
one claim in one regime use Holm's correction at 5%; a 'same within t' check is two one-sided tests: the
90% interval inside ±t holds, outside does not. When every difference is the same (no spread for the
t-test), the exact sign test decides instead (all 10 seeds one way: p = 0.002; 2 seeds: p = 0.5).

Variants share their seeds (the same initial weights and data order), so a comparison is paired: seed by
seed, d_i = a_i - b_i, in the direction where larger is better.  When every difference is finite, ``paired``
gives the t-interval of their mean and the p-value of the one-sample t-test of mean 0 (scipy's
``ttest_rel``).  All differences equal (sd = 0) gives the point interval [mean, mean]; its p is the exact
sign test's (all n one way: 2/2^n, so 0.5 at 2 seeds and 0.002 at 10; 1 if the mean is 0), not the t-test's 0,
since identical differences (accuracies on a small test set move in whole samples) say nothing of the spread
at 2 seeds.  Fewer than 2 differences give (-inf, inf) and p = 1: there is no spread to judge by.

An infinite value (a run that never reached a target, a diverged run's loss) makes the mean meaningless,
so a comparison with one falls back to the exact two-sided sign test (method 'sign'): n_pos against n_neg,
the differences above and below 0; a tie is a difference of exactly 0 or an undefined one (inf - inf, a
nan on either side), which says nothing about the direction.  Such an Interval has no mean, sd, se or ends
(all nan): the direction is n_pos against n_neg, the evidence its p.  With fewer than 6 non-tied seeds the
sign test cannot reach 5% (all 5 one way: p = 1/16).

Pure Python: Student's t comes from the regularized incomplete beta function (the continued fraction of
Numerical Recipes' betacf, by Lentz's method) and its quantile from a safeguarded Newton iteration;
scipy.stats is only the yardstick of the tests (tests/claims/test_stats.py).
"""

from __future__ import annotations

import math
import operator
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ALPHA = 0.05
RULE = ("A pair is judged on the paired differences over the judging seeds: holds if the lower end of the "
        "two-sided 95% t-interval of their mean (n - 1 degrees of freedom) is above 0, does not hold if the "
        "upper end is below 0, inconclusive otherwise; several checks of one claim in one regime use Holm's "
        "correction at 5%; a 'same within t' check is two one-sided tests: the 90% interval inside ±t holds, "
        "outside does not. When every difference is the same (no spread for the t-test), the exact sign test "
        "decides instead (all 10 seeds one way: p = 0.002; 2 seeds: p = 0.5).")
MAX_SEEDS = 10_000  # seeds_needed answers at most this: "as good as never" for a gallery

_TINY = 1e-300  # Lentz's method: stands in for a zero denominator
_CF_EPS = 1e-15  # the continued fraction stops when a step changes it by less than this (relative)
_CF_TERMS = 100_000  # it converges in O(sqrt(df)) terms; this is only a guard against a bug
_NEWTON_STEPS = 400  # Newton with bisection on the bits of a double: at most ~64 bisections are needed


def _check_df(df: float) -> None:
    if not (math.isfinite(df) and df >= 1):
        raise ValueError(f"Student's t needs finite degrees of freedom >= 1, not {df!r}")


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"a confidence level lies strictly between 0 and 1, not {level!r}")


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function I_x(a, b) (Numerical Recipes' betacf, Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) >= _TINY else _TINY)
    h = d
    for m in range(1, _CF_TERMS + 1):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)),  # the even step, then the odd one
                   -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) >= _TINY else _TINY)
            c = 1.0 + aa / c
            c = c if abs(c) >= _TINY else _TINY
            h *= d * c
        if abs(d * c - 1.0) < _CF_EPS:
            return h
    raise ArithmeticError(f"the incomplete beta continued fraction did not converge (a={a}, b={b}, x={x})")


def _lgamma_half_step(a: float) -> float:
    """lgamma(a + 1/2) - lgamma(a) for a >= 1/2.  For a large a the difference of two large lgammas loses
    about log10(a log a) digits; Stirling's series of the difference (to 1/a⁷, whose next term is below
    1e-15 for a >= 25) keeps them."""
    if a < 25:
        return math.lgamma(a + 0.5) - math.lgamma(a)

    def series(z: float) -> float:  # lgamma(z) - ((z - 1/2) log z - z + log(2 pi) / 2)
        return 1 / (12 * z) - 1 / (360 * z ** 3) + 1 / (1260 * z ** 5) - 1 / (1680 * z ** 7)
    return 0.5 * math.log(a) + (a * math.log1p(0.5 / a) - 0.5) + series(a + 0.5) - series(a)


def _log1p_square(s: float) -> float:
    """log(1 + s²) for s >= 0, without overflowing s² for a large s."""
    if s > 1.0:
        return 2.0 * math.log(s) + math.log1p(1.0 / (s * s))
    return math.log1p(s * s)


def _t_two_tail(u: float, df: float) -> float:
    """P(|T| > u) for u >= 0: the regularized incomplete beta I_z(df/2, 1/2) at z = df / (df + u²).

    z and 1 - z (and their logarithms) are computed from s = u / sqrt(df) without subtracting from 1, so
    that a tiny tail keeps its relative precision and neither a huge nor a tiny u overflows."""
    a, b = 0.5 * df, 0.5
    s = u / math.sqrt(df)
    if s == 0:  # u = 0, or a subnormal u / sqrt(df) underflows: the tail is 1 to double precision
        return 1.0
    if s > 1.0:
        r = 1.0 / (s * s)  # df / u²
        z, y = r / (1.0 + r), 1.0 / (1.0 + r)
    else:
        q = s * s
        z, y = 1.0 / (1.0 + q), q / (1.0 + q)
    log_z = -_log1p_square(s)  # log(df / (df + u²))
    log_y = 2.0 * math.log(s) + log_z  # log(u² / (df + u²))
    front = math.exp(_lgamma_half_step(a) - math.lgamma(b) + a * log_z + b * log_y)
    if z < (a + 1.0) / (a + b + 2.0):  # where the fraction converges fast; else the symmetry I_z(a,b) = 1 - I_y(b,a)
        return front * _betacf(a, b, z) / a
    return 1.0 - front * _betacf(b, a, y) / b


def _t_pdf(u: float, df: float) -> float:
    """The density of Student's t at u."""
    log_norm = _lgamma_half_step(0.5 * df) - 0.5 * math.log(df * math.pi)
    return math.exp(log_norm - 0.5 * (df + 1.0) * _log1p_square(abs(u) / math.sqrt(df)))


def t_cdf(x: float, df: float) -> float:
    """P(T <= x) for Student's t with df degrees of freedom (a real df >= 1); nan for a nan x."""
    _check_df(df)
    if math.isnan(x):
        return math.nan
    if math.isinf(x):
        return 1.0 if x > 0 else 0.0
    tail = 0.5 * _t_two_tail(abs(x), df)
    return tail if x < 0 else 1.0 - tail


def _bits(x: float) -> int:
    """A double >= 0 as an integer of the same order: bisecting these halves the floats in between."""
    return struct.unpack("<q", struct.pack("<d", x))[0]


def _float(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<q", bits))[0]


def _t_isf(p: float, df: float) -> float:
    """The u >= 0 with P(T > u) = p, for 0 <= p < 1/2.

    Newton's method on log P(T > u) against log u (nearly a straight line in either tail), kept inside a
    bracket [lo, hi] that every evaluation narrows; a step that leaves the bracket is replaced by bisection
    of the bracket's bit patterns, which reaches any double from 0 to inf in at most 64 halvings."""
    if p == 0:
        return math.inf
    lo, hi = 0.0, math.inf  # P(T > lo) > p >= P(T > hi)
    u = 1.0
    for _ in range(_NEWTON_STEPS):
        tail = 0.5 * _t_two_tail(u, df)
        if tail == p:
            return u
        if tail > p:
            lo = u
        else:
            hi = u
        density = _t_pdf(u, df)
        step = (math.log(tail) - math.log(p)) * tail / (density * u) if tail > 0 and density > 0 else math.inf
        nxt = u * math.exp(step) if abs(step) < 700 else math.nan
        if not lo < nxt < hi:
            nxt = _float((_bits(lo) + _bits(hi)) // 2)
        if abs(nxt - u) <= 4e-16 * u or _bits(hi) - _bits(lo) <= 1:
            return nxt
        u = nxt
    raise ArithmeticError(f"the t quantile did not converge (p={p}, df={df})")


def t_ppf(q: float, df: float) -> float:
    """The quantile of Student's t: the x with P(T <= x) = q (±inf at q = 0, 1; nan for q outside [0, 1])."""
    _check_df(df)
    if math.isnan(q) or not 0 <= q <= 1:
        return math.nan
    if q == 0.5:
        return 0.0
    if q > 0.5:
        return _t_isf(1.0 - q, df)  # 1 - q is exact for q in [1/2, 1]
    return -_t_isf(q, df)


def sign_test_p(k_pos: int, n: int) -> float:
    """The exact two-sided sign test: the p-value of k_pos successes in n fair coin flips (1.0 when n = 0).

    Twice the smaller binomial tail, capped at 1 (which only a tail holding the middle, k = n/2, exceeds),
    in exact integers: the one rounding is the final division (Python divides integers correctly rounded)."""
    k_pos, n = operator.index(k_pos), operator.index(n)
    if not 0 <= k_pos <= n:
        raise ValueError(f"the sign test needs 0 <= k_pos <= n, not k_pos={k_pos}, n={n}")
    k = min(k_pos, n - k_pos)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)


@dataclass(frozen=True)
class Interval:
    """The mean of n values (or of n paired differences) with its two-sided ``level`` interval [lo, hi].

    ``p`` is the two-sided p-value of the test named by ``method``: 't' (mean equal to the reference) or
    'sign' (as many values above the reference as below; then mean, sd, se, lo and hi are nan).  n_pos,
    n_neg and n_ties count the values above, below and at the reference (nan counts as a tie)."""

    n: int
    mean: float
    sd: float
    se: float
    lo: float
    hi: float
    level: float
    p: float
    method: str
    n_pos: int
    n_neg: int
    n_ties: int

    @property
    def width(self) -> float:
        return self.hi - self.lo


def _interval(values: list[float], mu0: float, level: float) -> Interval:
    """The Interval of values against mu0 (the t-interval of their mean, or the sign test if one is not finite)."""
    n = len(values)
    n_pos = sum(1 for v in values if v > mu0)
    n_neg = sum(1 for v in values if v < mu0)
    counts = {"n_pos": n_pos, "n_neg": n_neg, "n_ties": n - n_pos - n_neg}
    if not all(math.isfinite(v) for v in values):
        nan = math.nan
        return Interval(n, nan, nan, nan, nan, nan, level, sign_test_p(n_pos, n_pos + n_neg), "sign", **counts)
    if n < 2:
        mean = values[0] if n else math.nan
        return Interval(n, mean, math.nan, math.nan, -math.inf, math.inf, level, 1.0, "t", **counts)
    if all(v == values[0] for v in values):  # exactly: a computed sd would be a rounding error, not 0
        # no spread for the t-test to judge by (p would be 0 at any n): the exact sign test's p instead
        mean = values[0]
        return Interval(n, mean, 0.0, 0.0, mean, mean, level, sign_test_p(n_pos, n_pos + n_neg), "t", **counts)
    mean = math.fsum(values) / n
    deviations = [v - mean for v in values]
    scale = max(abs(e) for e in deviations)  # > 0, as the values differ; scaled, no square under- or overflows
    sd = scale * math.sqrt(math.fsum((e / scale) ** 2 for e in deviations) / (n - 1))
    se = sd / math.sqrt(n)
    half = -t_ppf((1.0 - level) / 2, n - 1) * se
    p = 2.0 * t_cdf(-abs(mean - mu0) / sd * math.sqrt(n), n - 1)
    return Interval(n, mean, sd, se, mean - half, mean + half, level, p, "t", **counts)


def one_sample(x: Iterable[float | None], mu0: float = 0.0, level: float = 0.95) -> Interval:
    """One variant's values against the number mu0: the t-interval of their mean and the t-test of mean = mu0
    (the sign test against mu0 if a value is not finite).  None values are left out."""
    _check_level(level)
    if not math.isfinite(mu0):
        raise ValueError(f"compare the values with a finite number, not {mu0!r}")
    return _interval([float(v) for v in x if v is not None], float(mu0), level)


def paired(a: Sequence[float | None], b: Sequence[float | None], higher_is_better: bool = True,
           level: float = 0.95) -> Interval:
    """'a is better than b' over seeds, pair by pair: the Interval of the differences a_i - b_i (b_i - a_i when
    lower is better) against 0.  a[i] and b[i] are the same seed's values; a pair with a None is left out."""
    _check_level(level)
    if len(a) != len(b):
        raise ValueError(f"paired values need one value per seed on each side, not {len(a)} and {len(b)}")
    sign = 1.0 if higher_is_better else -1.0
    diffs = [sign * (float(x) - float(y)) for x, y in zip(a, b) if x is not None and y is not None]
    return _interval(diffs, 0.0, level)


@dataclass(frozen=True)
class Equivalence:
    """Two one-sided t-tests (TOST) of 'the mean lies within [low, high]', at ``alpha`` each.

    [lo, hi] is the (1 - 2 alpha) two-sided t-interval of the mean; p_tost the larger of the two one-sided
    p-values (mean > low, mean < high); p_outside the one-sided p-value of the mean being beyond the end
    it lies past (1.0 when it lies inside)."""

    low: float
    high: float
    alpha: float
    lo: float
    hi: float
    p_tost: float
    p_outside: float

    @property
    def equivalent(self) -> bool:
        """The interval lies inside (low, high): the same as p_tost < alpha."""
        return self.low < self.lo and self.hi < self.high

    @property
    def outside(self) -> bool:
        """The interval lies wholly above high or below low: the same as p_outside < alpha."""
        return self.lo > self.high or self.hi < self.low


def equivalence(iv: Interval, low: float, high: float, alpha: float = ALPHA) -> Equivalence:
    """TOST of 'the mean of iv lies within [low, high]' (from its n, mean and sd; its level plays no part).

    Fewer than 2 values, or a sign-test Interval (an infinite value: no mean), is inconclusive: both
    p-values 1, the interval (-inf, inf) or nan.  sd = 0 gives the point interval and p-values of 0 or 1."""
    if not low < high:
        raise ValueError(f"an equivalence range needs low < high, not [{low}, {high}]")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha lies strictly between 0 and 1/2, not {alpha!r}")
    if iv.method != "t" or iv.n < 2:
        return Equivalence(low, high, alpha, iv.lo, iv.hi, 1.0, 1.0)
    mean, df = iv.mean, iv.n - 1
    if iv.sd == 0:
        inside, beyond = low < mean < high, mean < low or mean > high
        return Equivalence(low, high, alpha, mean, mean, 0.0 if inside else 1.0, 0.0 if beyond else 1.0)

    def t(value: float) -> float:  # the t statistic of mean - value (divided by sd, as se may underflow)
        return (mean - value) / iv.sd * math.sqrt(iv.n)
    half = -t_ppf(alpha, df) * iv.se
    p_above_low, p_below_high = t_cdf(-t(low), df), t_cdf(t(high), df)
    p_outside = t_cdf(-t(high), df) if mean > high else t_cdf(t(low), df) if mean < low else 1.0
    return Equivalence(low, high, alpha, mean - half, mean + half, max(p_above_low, p_below_high), p_outside)


def seeds_needed(sd: float, half_width: float, level: float = 0.90) -> int | None:
    """How many seeds make the two-sided ``level`` t-interval's half-width smaller than half_width, for values
    of standard deviation sd: the smallest n >= 2 with t_ppf(1 - (1 - level)/2, n - 1) sd / sqrt(n) < half_width.

    None when sd is 0 or not finite (nothing to plan by); MAX_SEEDS when even that many are not enough."""
    _check_level(level)
    if not half_width > 0:
        raise ValueError(f"a half-width is a number > 0, not {half_width!r}")
    if sd < 0:
        raise ValueError(f"a standard deviation is >= 0, not {sd!r}")
    if not math.isfinite(sd) or sd == 0:
        return None

    def narrow_enough(n: int) -> bool:
        return -t_ppf((1.0 - level) / 2, n - 1) * sd / math.sqrt(n) < half_width

    lo, hi = 1, MAX_SEEDS  # the half-width shrinks as n grows: bisect for the first n that is narrow enough
    if not narrow_enough(hi):
        return MAX_SEEDS
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if narrow_enough(mid) else (mid, hi)
    return hi


def holm(pvalues: Iterable[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order: the k-th smallest becomes the largest of
    min(1, (m - j + 1) p_(j)) over j <= k.  Rejecting where the adjusted p <= alpha is Holm's test at alpha."""
    ps = [float(p) for p in pvalues]
    if not all(0 <= p <= 1 for p in ps):
        raise ValueError(f"p-values lie in [0, 1], not {ps}")
    m = len(ps)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=ps.__getitem__)):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adjusted[i] = running
    return adjusted
