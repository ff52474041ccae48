"""nnlab.claims.stats against scipy.stats, closed forms and hand-computed examples: Student's t, the sign test,
paired and one-sample t-intervals, TOST, Holm's adjustment and the seeds a planned interval needs."""

from __future__ import annotations

import ast
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats as sp

from nnlab.claims import stats
from nnlab.claims.stats import (ALPHA, MAX_SEEDS, RULE, equivalence, holm, one_sample, paired, seeds_needed,
                                sign_test_p, t_cdf, t_ppf)

DFS = [1, 2, 3, 4, 5, 9, 10, 19, 29, 100, 1000]
QS = [0.5, 0.9, 0.95, 0.975, 0.995, 0.9995, 0.025, 0.05, 1e-6]
FEW = settings(max_examples=40, deadline=None)
INF, NAN = math.inf, math.nan

# values a seed can score: multiples of 1/16, so that differences are exact and a spread is never a rounding
values = st.integers(-1600, 1600).map(lambda i: i / 16)


def pairs(min_size=2, max_size=12):
    return st.lists(st.tuples(values, values), min_size=min_size, max_size=max_size)


# --- Student's t -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("df", DFS)
def test_t_ppf_matches_scipy(df):
    for q in QS:
        assert t_ppf(q, df) == pytest.approx(sp.t.ppf(q, df), rel=1e-12, abs=1e-300), q  # asked: 1e-10


@pytest.mark.parametrize("df", DFS)
def test_t_cdf_matches_scipy(df):
    xs = [sp.t.ppf(q, df) for q in QS] + [-1e3, -50.0, -7.0, -2.0, -0.3, 0.01, 1.0, 4.0, 25.0, 1e4]
    for x in xs:
        assert t_cdf(x, df) == pytest.approx(sp.t.cdf(x, df), rel=1e-12, abs=1e-300), x  # asked: 1e-10


def cauchy_cdf(x):
    """Student's t with 1 degree of freedom, in closed form (each tail computed as itself: no cancellation)."""
    return math.atan(-1 / x) / math.pi if x < 0 else 1 - math.atan(1 / x) / math.pi


def t2_cdf(x):
    """Student's t with 2 degrees of freedom, in closed form: 1/2 + x / (2 sqrt(2 + x²)), the lower tail
    rationalized to 1 / (r (r + |x|)) with r = sqrt(2 + x²)."""
    r = math.sqrt(2 + x * x)
    return 1 / (r * (r + abs(x))) if x < 0 else 1 - 1 / (r * (r + x))


@FEW
@given(st.floats(-1e6, 1e6).filter(lambda x: x != 0))
def test_t_cdf_matches_the_closed_forms_for_1_and_2_degrees_of_freedom(x):
    # also near 0, where scipy 1.17's t.cdf(1e-8, 1) is off by 3e-9
    assert t_cdf(x, 1) == pytest.approx(cauchy_cdf(x), rel=1e-13)
    assert t_cdf(x, 2) == pytest.approx(t2_cdf(x), rel=1e-13)


@FEW
@given(st.floats(1, 5000), st.floats(-200, 200))
def test_t_cdf_matches_scipy_for_any_real_df(df, x):
    assert t_cdf(x, df) == pytest.approx(sp.t.cdf(x, df), rel=1e-10, abs=1e-300)
    assert t_cdf(-x, df) == pytest.approx(1 - t_cdf(x, df), rel=1e-12, abs=1e-15)


@FEW
@given(st.floats(1, 5000), st.floats(1e-12, 1 - 1e-12))
def test_t_ppf_inverts_t_cdf_and_is_antisymmetric(df, q):
    x = t_ppf(q, df)
    assert t_cdf(x, df) == pytest.approx(q, rel=1e-12, abs=1e-15)
    if q >= 0.5:  # then 1 - q is exact
        assert t_ppf(1 - q, df) == -x


def test_t_special_values():
    for df in (1, 2.5, 30):
        assert t_cdf(INF, df) == 1.0 and t_cdf(-INF, df) == 0.0 and t_cdf(0.0, df) == 0.5
        assert math.isnan(t_cdf(NAN, df))
        assert t_ppf(0.0, df) == -INF and t_ppf(1.0, df) == INF and t_ppf(0.5, df) == 0.0
        assert all(math.isnan(t_ppf(q, df)) for q in (NAN, -0.1, 1.1))
    assert t_cdf(-1e300, 1) == pytest.approx(1 / (math.pi * 1e300), rel=1e-12)  # a tiny tail keeps its digits
    assert t_cdf(5e-324, 4) == 0.5 and t_cdf(-5e-324, 1000) == 0.5  # x / sqrt(df) underflows to 0
    assert t_ppf(1e-300, 1) == pytest.approx(-1 / (math.pi * 1e-300), rel=1e-12)
    for bad in (0.5, 0, -1, NAN, INF):
        with pytest.raises(ValueError):
            t_cdf(1.0, bad)
        with pytest.raises(ValueError):
            t_ppf(0.9, bad)


# --- the sign test -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5, 6, 7, 20, 101, 1000])
def test_sign_test_matches_scipy_binomtest(n):
    for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
        assert sign_test_p(k, n) == pytest.approx(sp.binomtest(k, n, 0.5).pvalue, rel=1e-12, abs=0), k


@FEW
@given(st.integers(0, 1000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_sign_test_matches_scipy_binomtest_anywhere(kn):
    k, n = kn
    expected = 1.0 if n == 0 else sp.binomtest(k, n, 0.5).pvalue
    assert sign_test_p(k, n) == pytest.approx(expected, rel=1e-12, abs=0)


def test_sign_test_by_hand():
    assert sign_test_p(0, 0) == 1.0
    assert sign_test_p(5, 5) == sign_test_p(0, 5) == 2 / 32  # 5 seeds all one way: not below 5%
    assert sign_test_p(6, 6) == 2 / 64
    assert sign_test_p(3, 10) == 2 * (1 + 10 + 45 + 120) / 1024
    assert sign_test_p(5, 10) == sign_test_p(2, 4) == 1.0
    assert sign_test_p(np.int64(2), np.int64(3)) == 1.0
    for k, n in ((4, 3), (-1, 3), (1, -1)):
        with pytest.raises(ValueError):
            sign_test_p(k, n)
    with pytest.raises(TypeError):
        sign_test_p(1.0, 3)


# --- paired and one-sample intervals -----------------------------------------------------------------------


def test_paired_by_hand():
    iv = paired([1, 2, 3, 4], [0, 0, 0, 0])
    assert (iv.n, iv.method, iv.level, iv.n_pos, iv.n_neg, iv.n_ties) == (4, "t", 0.95, 4, 0, 0)
    assert iv.mean == 2.5
    assert iv.sd == pytest.approx(1.2909944487, abs=1e-9)
    assert iv.se == pytest.approx(0.6454972244, abs=1e-9)
    half = 3.182446305284 * 0.6454972244  # t_{0.975, 3} se
    assert (iv.lo, iv.hi) == (pytest.approx(2.5 - half, abs=1e-9), pytest.approx(2.5 + half, abs=1e-9))
    assert (round(iv.lo, 4), round(iv.hi, 4)) == (0.4457, 4.5543)
    assert iv.width == pytest.approx(2 * half, abs=1e-9)
    assert iv.p == pytest.approx(0.030466291662, abs=1e-11)
    lower = paired([1, 2, 3, 4], [0, 0, 0, 0], higher_is_better=False)  # a loss: a is worse
    assert (lower.mean, lower.lo, lower.hi, lower.p) == (-2.5, -iv.hi, -iv.lo, iv.p)
    assert (lower.n_pos, lower.n_neg) == (0, 4)


@FEW
@given(pairs(), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_paired_matches_scipy_ttest_rel(ab, level):
    a, b = [x for x, _ in ab], [y for _, y in ab]
    d = np.subtract(a, b)
    assume(np.ptp(d) > 0)
    iv, ref = paired(a, b, level=level), sp.ttest_rel(a, b)
    assert iv.method == "t" and iv.n == len(a)
    assert iv.mean == pytest.approx(d.mean(), rel=1e-12, abs=1e-12)
    assert iv.sd == pytest.approx(d.std(ddof=1), rel=1e-12)
    assert iv.se == pytest.approx(d.std(ddof=1) / math.sqrt(len(d)), rel=1e-12)
    assert iv.p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    assert iv.p == pytest.approx(sp.ttest_1samp(d, 0).pvalue, rel=1e-9, abs=1e-300)
    ci = ref.confidence_interval(level)
    assert (iv.lo, iv.hi) == (pytest.approx(ci.low, rel=1e-9, abs=1e-9), pytest.approx(ci.high, rel=1e-9, abs=1e-9))
    assert (iv.n_pos, iv.n_neg, iv.n_ties) == (int((d > 0).sum()), int((d < 0).sum()), int((d == 0).sum()))
    flipped = paired(a, b, higher_is_better=False, level=level)
    assert (flipped.mean, flipped.lo, flipped.hi, flipped.p) == (-iv.mean, -iv.hi, -iv.lo, iv.p)


@FEW
@given(st.lists(values, min_size=2, max_size=12), values, st.sampled_from([0.9, 0.95]))
def test_one_sample_matches_scipy_ttest_1samp(x, mu0, level):
    assume(np.ptp(x) > 0)
    iv, ref = one_sample(x, mu0, level), sp.ttest_1samp(x, mu0)
    assert iv.mean == pytest.approx(np.mean(x), rel=1e-12, abs=1e-12)  # on the values' scale, not x - mu0
    assert iv.p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    ci = ref.confidence_interval(level)
    assert (iv.lo, iv.hi) == (pytest.approx(ci.low, rel=1e-9, abs=1e-9), pytest.approx(ci.high, rel=1e-9, abs=1e-9))
    assert (iv.n_pos, iv.n_neg) == (sum(v > mu0 for v in x), sum(v < mu0 for v in x))


def test_no_spread_gives_a_point_interval_judged_by_the_sign_test():
    iv = paired([3, 4, 5], [1, 2, 3])  # 3 of 3 one way: the exact sign test's 2 / 2^3
    assert (iv.mean, iv.sd, iv.se, iv.lo, iv.hi, iv.p, iv.width) == (2.0, 0.0, 0.0, 2.0, 2.0, 0.25, 0.0)
    assert paired([0.96, 0.96], [1.0, 1.0]).p == 0.5  # two seeds never decide, however alike
    assert paired([1.0] * 10, [0.5] * 10).p == 2 / 2 ** 10 == sign_test_p(10, 10)
    same = paired([3, 4, 5], [3, 4, 5])
    assert (same.mean, same.lo, same.hi, same.p, same.n_ties) == (0.0, 0.0, 0.0, 1.0, 3)
    tenth = one_sample([0.1, 0.1, 0.1])  # their float mean is 0.10000000000000002: equal values are no spread
    assert (tenth.mean, tenth.sd, tenth.lo, tenth.hi, tenth.p) == (0.1, 0.0, 0.1, 0.1, 0.25)
    assert one_sample([2.0, 2.0], mu0=2.0).p == 1.0


def test_the_units_do_not_matter_however_small_or_large():
    """Squares of 1e-200 underflow to 0 and of 1e200 overflow: the sd is computed scaled."""
    base = one_sample([1.0, 3.0, 2.5])
    for scale in (1e-200, 1e-160, 1e160, 1e200):
        iv = one_sample([1.0 * scale, 3.0 * scale, 2.5 * scale])
        assert iv.p == pytest.approx(base.p, rel=1e-12)
        assert (iv.sd / scale, iv.lo / scale, iv.hi / scale) == pytest.approx((base.sd, base.lo, base.hi), rel=1e-12)
        assert equivalence(iv, -scale, 3 * scale).p_tost == pytest.approx(equivalence(base, -1, 3).p_tost, rel=1e-12)
    subnormal = one_sample([0.0] * 4 + [5e-324] * 4)  # sd rounds to 5e-324, se = sd / sqrt(8) to 0
    assert (subnormal.mean, subnormal.se, subnormal.p) == (0.0, 0.0, 1.0) and subnormal.sd > 0
    assert equivalence(subnormal, -1.0, 1.0).p_tost == 0.0


def test_fewer_than_two_pairs_are_inconclusive():
    one = paired([5.0], [3.0])
    assert (one.n, one.mean, one.lo, one.hi, one.p, one.method, one.n_pos) == (1, 2.0, -INF, INF, 1.0, "t", 1)
    assert math.isnan(one.sd) and math.isnan(one.se) and one.width == INF
    none = paired([None, 1.0], [2.0, None])
    assert (none.n, none.lo, none.hi, none.p) == (0, -INF, INF, 1.0) and math.isnan(none.mean)


def test_a_pair_with_a_missing_value_is_left_out():
    assert paired([1, None, 3, 4, 7], [0, 1, None, 0, 1]) == paired([1, 4, 7], [0, 0, 1])
    assert one_sample([1, None, 2, 4]) == one_sample([1, 2, 4])


def test_an_infinite_value_falls_back_to_the_sign_test():
    # epochs to reach a target (lower is better): b never reached it in seed 2
    a, b = [5, 6, 4, 7, 5, 6, 5], [9, 8, INF, 10, 9, 9, 9]
    iv = paired(a, b, higher_is_better=False)
    assert (iv.method, iv.n, iv.n_pos, iv.n_neg, iv.n_ties) == ("sign", 7, 7, 0, 0)
    assert iv.p == 2 / 2 ** 7 == pytest.approx(sp.binomtest(7, 7, 0.5).pvalue)
    assert all(math.isnan(v) for v in (iv.mean, iv.sd, iv.se, iv.lo, iv.hi, iv.width))
    assert paired(b, a, higher_is_better=False).n_neg == 7  # the direction is in the counts


def test_undefined_differences_are_ties():
    # both never reached the target, both diverged (inf - inf), a nan on one side, an exact tie
    iv = paired([INF, INF, NAN, 3.0, 5.0, 1.0, 8.0], [INF, 2.0, 4.0, 3.0, 4.0, 2.0, 1.0], higher_is_better=False)
    assert (iv.method, iv.n, iv.n_pos, iv.n_neg, iv.n_ties) == ("sign", 7, 1, 3, 3)
    assert iv.p == pytest.approx(sp.binomtest(1, 4, 0.5).pvalue, rel=1e-12)
    both = paired([INF, INF], [INF, INF])
    assert (both.method, both.n_ties, both.p) == ("sign", 2, 1.0)


def test_one_sample_with_an_infinite_value_uses_the_sign_test_against_mu0():
    iv = one_sample([1.0, 2.0, INF, 3.0, 1.5, 4.0, 9.0], mu0=1.5)
    assert (iv.method, iv.n_pos, iv.n_neg, iv.n_ties) == ("sign", 5, 1, 1)
    assert iv.p == pytest.approx(sp.binomtest(5, 6, 0.5).pvalue, rel=1e-12)
    assert math.isnan(iv.mean)


def test_the_arguments_are_checked():
    with pytest.raises(ValueError, match="one value per seed"):
        paired([1, 2, 3], [1, 2])
    for level in (0, 1, 1.5, NAN):
        with pytest.raises(ValueError, match="level"):
            paired([1, 2], [0, 0], level=level)
    for mu0 in (INF, NAN):
        with pytest.raises(ValueError):
            one_sample([1, 2], mu0)


# --- equivalence (TOST) ------------------------------------------------------------------------------------


def test_equivalence_by_hand():
    iv = one_sample([1, 2, 3, 4])  # mean 2.5, se 0.6454972244; t_{0.95, 3} = 2.353363435
    within = equivalence(iv, -1, 6)
    half = 2.353363434802 * 0.6454972244
    assert (within.lo, within.hi) == (pytest.approx(2.5 - half, abs=1e-9), pytest.approx(2.5 + half, abs=1e-9))
    assert within.p_tost == pytest.approx(0.006153775911, abs=1e-12)  # both sides 3.5 / se = 5.42 from the mean
    assert within.p_outside == 1.0 and within.equivalent and not within.outside
    wide = equivalence(iv, 0, 3)  # the 90% interval [0.98, 4.02] pokes out above 3
    assert wide.p_tost == pytest.approx(0.247512673030, abs=1e-12) and not wide.equivalent
    assert wide.p_outside == 1.0 and not wide.outside
    above = equivalence(iv, -3, 0.5)  # the mean is 2 / se = 3.10 above the range
    assert above.p_outside == pytest.approx(0.026681361358, abs=1e-12) and above.outside
    assert above.p_tost == pytest.approx(1 - 0.026681361358, abs=1e-12) and not above.equivalent
    below = equivalence(one_sample([-1, -2, -3, -4]), -0.5, 3)
    assert below.p_outside == pytest.approx(above.p_outside, rel=1e-12) and below.outside


@FEW
@given(st.lists(values, min_size=2, max_size=12), values, st.floats(0.01, 100), st.sampled_from([0.01, 0.05, 0.1]))
def test_equivalence_matches_two_one_sided_scipy_tests(x, low, length, alpha):
    assume(np.ptp(x) > 0)
    high = low + length
    eq = equivalence(one_sample(x), low, high, alpha)
    p_low = sp.ttest_1samp(x, low, alternative="greater").pvalue
    p_high = sp.ttest_1samp(x, high, alternative="less").pvalue
    assert eq.p_tost == pytest.approx(max(p_low, p_high), rel=1e-9, abs=1e-300)
    mean = np.mean(x)
    outside = (sp.ttest_1samp(x, high, alternative="greater").pvalue if mean > high else
               sp.ttest_1samp(x, low, alternative="less").pvalue if mean < low else 1.0)
    assert eq.p_outside == pytest.approx(outside, rel=1e-9, abs=1e-300)
    ci = sp.ttest_1samp(x, 0).confidence_interval(1 - 2 * alpha)
    assert (eq.lo, eq.hi) == (pytest.approx(ci.low, rel=1e-9, abs=1e-9), pytest.approx(ci.high, rel=1e-9, abs=1e-9))
    assume(min(abs(eq.p_tost - alpha), abs(eq.p_outside - alpha)) > 1e-9)  # off the boundary, where rounding decides
    assert eq.equivalent == (eq.p_tost < alpha)
    assert eq.outside == (eq.p_outside < alpha)


def test_equivalence_without_a_spread_a_mean_or_two_values():
    point = equivalence(one_sample([0.25, 0.25, 0.25]), -0.5, 0.5)
    assert (point.lo, point.hi, point.p_tost, point.p_outside, point.equivalent) == (0.25, 0.25, 0.0, 1.0, True)
    edge = equivalence(one_sample([0.5, 0.5]), -0.5, 0.5)  # on an end: neither inside nor outside
    assert (edge.p_tost, edge.p_outside, edge.equivalent, edge.outside) == (1.0, 1.0, False, False)
    off = equivalence(one_sample([2.0, 2.0]), -0.5, 0.5)
    assert (off.p_tost, off.p_outside, off.equivalent, off.outside) == (1.0, 0.0, False, True)
    for iv in (one_sample([0.1]), one_sample([0.1, INF, 0.2])):
        eq = equivalence(iv, -1, 1)
        assert (eq.p_tost, eq.p_outside, eq.equivalent, eq.outside) == (1.0, 1.0, False, False)
    with pytest.raises(ValueError, match="low < high"):
        equivalence(one_sample([1, 2]), 1, 1)
    with pytest.raises(ValueError, match="alpha"):
        equivalence(one_sample([1, 2]), -1, 1, alpha=0.5)


# --- Holm ----------------------------------------------------------------------------------------------------


def test_holm_by_hand():
    # sorted: 0.005 (x4), 0.01 (x3), 0.03 (x2), 0.04 (x1) -> 0.02, 0.03, 0.06, max(0.06, 0.04)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02], rel=1e-15)
    assert holm([0.5, 0.6]) == [1.0, 1.0]  # capped at 1, and never below an earlier one
    assert holm([0.02, 0.02, 0.2]) == pytest.approx([0.06, 0.06, 0.2], rel=1e-15)
    assert holm([]) == [] and holm([0.3]) == [0.3]
    for bad in ([NAN], [-0.1], [1.5]):
        with pytest.raises(ValueError):
            holm(bad)


def holm_rejects(ps, alpha):
    """Holm's test from the textbook: with p_(1) <= ... <= p_(m), reject H_(k) iff p_(j) <= alpha / (m - j + 1)
    for every j <= k."""
    m = len(ps)
    rejected = [False] * m
    for j, i in enumerate(sorted(range(m), key=lambda i: ps[i]), start=1):
        if ps[i] > alpha / (m - j + 1):
            break
        rejected[i] = True
    return rejected


@FEW
@given(st.lists(st.floats(0, 1), min_size=1, max_size=10), st.sampled_from([0.01, 0.05, 0.1, 0.2]))
def test_holm_agrees_with_the_textbook_step_down_test(ps, alpha):
    m = len(ps)
    assume(all(abs(p * (m - j) - alpha) > 1e-12 for p in ps for j in range(m)))  # no p on a boundary
    adjusted = holm(ps)
    assert [p <= alpha for p in adjusted] == holm_rejects(ps, alpha)
    assert all(p <= q <= 1 for p, q in zip(ps, adjusted))
    order = sorted(range(m), key=lambda i: ps[i])
    assert all(adjusted[i] <= adjusted[j] for i, j in zip(order, order[1:]))


# --- planning seeds ------------------------------------------------------------------------------------------


def test_seeds_needed_by_hand():
    # 90%: t_{0.95, n-1} / sqrt(n) = 4.4645 (n = 2), 1.6859, 1.1767, 0.95339 (n = 5), 0.82264
    assert seeds_needed(1.0, 1.0) == 5
    assert seeds_needed(2.0, 2.0) == 5
    assert seeds_needed(1.0, 0.9534) == 5 and seeds_needed(1.0, 0.9533) == 6
    assert seeds_needed(1.0, 1.0, level=0.95) == 7  # t_{0.975, 6} / sqrt(7) = 0.92485, 1.0494 at n = 6
    assert seeds_needed(1.0, 5.0) == 2 and seeds_needed(1.0, INF) == 2
    assert seeds_needed(1.0, 1e-3) == MAX_SEEDS == 10_000  # about 2.7 million
    assert seeds_needed(0.0, 1.0) is None and seeds_needed(INF, 1.0) is None and seeds_needed(NAN, 1.0) is None
    for sd, hw in ((1.0, 0.0), (1.0, -1.0), (1.0, NAN), (-1.0, 1.0)):
        with pytest.raises(ValueError):
            seeds_needed(sd, hw)


@settings(max_examples=15, deadline=None)
@given(st.floats(0.01, 10), st.floats(0.05, 20), st.sampled_from([0.8, 0.9, 0.95]))
def test_seeds_needed_is_the_first_n_narrow_enough_by_scipy(sd, ratio, level):
    half_width = sd / ratio  # at least sd / 20: at most about 1500 seeds
    def half(n):
        return sp.t.ppf(1 - (1 - level) / 2, n - 1) * sd / math.sqrt(n)
    n = seeds_needed(sd, half_width, level)
    assume(all(abs(half(k) / half_width - 1) > 1e-9 for k in (n - 1, n) if k >= 2))  # off the boundary
    assert 2 <= n < MAX_SEEDS
    assert half(n) < half_width and (n == 2 or half(n - 1) >= half_width)


# --- the module ----------------------------------------------------------------------------------------------


def test_the_rule_is_one_plain_paragraph_and_the_docstring_says_it():
    assert "\n" not in RULE and not set(RULE) & set("*_`#[]")
    assert RULE[0].lower() + RULE[1:] in " ".join(stats.__doc__.split())
    assert ALPHA == 0.05 and "95%" in RULE and "90%" in RULE and "Holm" in RULE


def test_the_module_needs_only_the_standard_library():
    """No scipy (nor numpy, nor the rest of nnlab) at run time: the tests alone use scipy."""
    tree = ast.parse(open(stats.__file__).read())
    imported = {a.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "math", "operator", "struct", "collections", "dataclasses"}, imported


# --- the helpers on their own, the degenerate cases' fields and the messages of bad input ----------------------


def test_lgamma_half_step_is_exact_to_a_few_ulp_where_stirlings_series_takes_over():
    """lgamma(n + 1/2) - lgamma(n) for a whole n is log((2n)! / (4^n n! (n-1)!)) + log(pi) / 2, a rational
    computed exactly (one correctly rounded division); the series must agree to 1e-15 (the plain difference of
    the two lgammas is 1.7e-15 off at n = 25)."""
    from fractions import Fraction

    for n in (25, 26, 30, 100):
        exact = math.log(float(Fraction(math.factorial(2 * n), 4 ** n * math.factorial(n) * math.factorial(n - 1))))
        ref = exact + 0.5 * math.log(math.pi)
        assert stats._lgamma_half_step(n) == pytest.approx(ref, rel=1e-15, abs=0), n


@pytest.mark.parametrize("df", DFS)
def test_the_t_density_matches_scipy(df):
    for u in (0.0, 0.3, -1.0, 2.5, 40.0, 1e5):
        assert stats._t_pdf(u, df) == pytest.approx(sp.t.pdf(u, df), rel=1e-12, abs=1e-300), u


def test_bad_input_is_refused_with_a_message_naming_it():
    with pytest.raises(ValueError, match=r"^Student's t needs finite degrees of freedom >= 1, not 0.5$"):
        t_cdf(0.0, 0.5)
    with pytest.raises(ValueError, match=r"^p-values lie in \[0, 1\], not \[0.5, 1.5\]$"):
        holm([0.5, 1.5])
    with pytest.raises(ValueError, match=r"^compare the values with a finite number, not inf$"):
        one_sample([1.0, 2.0], INF)
    with pytest.raises(ValueError, match=r"^a half-width is a number > 0, not 0$"):
        seeds_needed(1.0, 0)
    with pytest.raises(ValueError, match=r"^a standard deviation is >= 0, not -1.0$"):
        seeds_needed(-1.0, 0.5)
    with pytest.raises(ValueError, match=r"^the sign test needs 0 <= k_pos <= n, not k_pos=3, n=2$"):
        sign_test_p(3, 2)
    iv = one_sample([1.0, 2.0, 4.0])
    for alpha in (0.0, 0.5):
        with pytest.raises(ValueError, match=r"^alpha lies strictly between 0 and 1/2, not "):
            equivalence(iv, -1.0, 1.0, alpha=alpha)


def test_degenerate_intervals_keep_their_level_and_equivalences_their_alpha():
    for values in ([1.0, INF, 2.0], [3.0], [2.0, 2.0, 2.0], [1.0, 2.0, 4.0]):
        iv = one_sample(values, level=0.8)
        assert iv.level == 0.8, values
        assert equivalence(iv, -1.0, 1.0, alpha=0.1).alpha == 0.1, values


def test_an_equivalence_at_the_very_edge_of_its_range_is_neither_inside_nor_beyond():
    """The range is open: a mean exactly at low or high is not within it, and not beyond it either."""
    flat = one_sample([0.25, 0.25])
    e = equivalence(flat, 0.25, 0.5)
    assert (e.p_tost, e.p_outside, e.lo, e.hi) == (1.0, 1.0, 0.25, 0.25)
    e = equivalence(flat, 0.0, 0.25)
    assert (e.p_tost, e.p_outside) == (1.0, 1.0)
    spread = one_sample([0.125, 0.375])  # mean 0.25, sd > 0
    for low, high in ((0.25, 0.5), (0.0, 0.25)):
        e = equivalence(spread, low, high)
        assert e.p_outside == 1.0 and e.p_tost == pytest.approx(0.5), (low, high)
