"""The verdict of a claim in a regime (nnlab.claims.verdict) on hand-made values, against scipy.stats.

Each check form becomes hypotheses with two p-values; Holm's correction runs over all of them; a pair with a
value that is not finite is the sign test.  The numbers on the page are the intervals scipy computes.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from nnlab.claims.verdict import FAILS, HOLDS, INCONCLUSIVE, combine, judge

scipy_stats = pytest.importorskip("scipy.stats")
SEEDS = list(range(10))
NOISE = np.array([0.3, -0.2, 0.1, -0.4, 0.25, 0.0, -0.1, 0.35, -0.3, 0.05])


def check(form: str, metric: str = "test_acc", higher: bool = True, percent: bool = True, **args) -> dict:
    return {"metric": metric, "options": {}, "form": form, "args": args, "key": metric, "text": f"{form} check",
            "higher": higher, "percent": percent}


def values(**variants) -> dict:
    """variant -> seed -> row, from one list of numbers per variant (None: a missing value)."""
    return {v: {s: {"test_acc": x} for s, x in zip(SEEDS, xs)} for v, xs in variants.items()}


def lines(outcomes) -> list[str]:
    return [h.line() for o in outcomes for h in o.hypotheses]


def test_a_pair_holds_fails_or_is_inconclusive_by_the_paired_t_interval():
    base = 0.70 + 0.02 * NOISE
    better = base + 0.01 + 0.002 * NOISE[::-1]
    v, out = judge([check("better", better="a", than="b")], values(a=better, b=base), SEEDS)
    assert v == HOLDS
    d = better - base
    lo, hi = scipy_stats.t.interval(0.95, 9, loc=d.mean(), scale=scipy_stats.sem(d))
    p = scipy_stats.ttest_rel(better, base).pvalue
    line = lines(out)[0]
    assert line.startswith("test_acc: a better than b: mean difference +1.001 points, 95% CI [")
    got = [float(x) for x in re.findall(r"CI \[([-+0-9.e]+), ([-+0-9.e]+)\]", line)[0]]
    assert got == pytest.approx([100 * lo, 100 * hi], rel=1e-3)  # shown in points, 4 significant digits
    assert out[0].hypotheses[0].p_hold == pytest.approx(p, rel=1e-9) and out[0].hypotheses[0].p_fail == 1.0
    v, _ = judge([check("better", better="b", than="a")], values(a=better, b=base), SEEDS)
    assert v == FAILS
    v, _ = judge([check("better", better="a", than="b")], values(a=base + 0.02 * NOISE[::-1], b=base), SEEDS)
    assert v == INCONCLUSIVE


def test_pairing_is_what_decides_shared_seed_noise_cancels():
    """The same seed's noise hits both variants: paired, a steady 0.5-point gain is clear; unpaired (Welch) it
    would drown in the seed-to-seed spread."""
    seed_effect = 0.05 * np.array([1, -1, 2, -2, 0.5, -0.5, 1.5, -1.5, 0.2, -0.2])
    a, b = 0.7 + seed_effect + 0.005, 0.7 + seed_effect + 0.0001 * NOISE
    assert scipy_stats.ttest_ind(a, b, equal_var=False).pvalue > 0.5
    assert judge([check("better", better="a", than="b")], values(a=a, b=b), SEEDS)[0] == HOLDS


def test_lower_is_better_metrics_flip_the_direction():
    loss = 1.0 + 0.05 * NOISE
    v, _ = judge([check("better", metric="test_acc", higher=False, percent=False, better="a", than="b")],
                 values(a=loss - 0.1, b=loss), SEEDS)
    assert v == HOLDS


def test_holm_corrects_over_every_hypothesis_of_the_regime():
    """Two pairs each at p about 0.03: alone each holds; together Holm multiplies the smaller by 2 and neither
    does."""
    base = 0.5 + 0.02 * NOISE
    rng = np.random.default_rng(0)
    # build two differences whose paired t-test gives p between 0.025 and 0.05
    d = None
    for _ in range(2000):
        cand = 0.01 + 0.02 * rng.standard_normal(10)
        if 0.025 < scipy_stats.ttest_1samp(cand, 0).pvalue < 0.05:
            d = cand
            break
    assert d is not None
    vals = values(a=base + d, b=base, c=base + d)
    alone, out1 = judge([check("better", better="a", than="b")], vals, SEEDS)
    assert alone == HOLDS and out1[0].hypotheses[0].p_adjusted == pytest.approx(out1[0].hypotheses[0].p)
    both, out2 = judge([check("better", better=["a", "c"], than="b")], vals, SEEDS)
    p = scipy_stats.ttest_1samp(d, 0).pvalue
    assert both == INCONCLUSIVE
    assert [h.p_adjusted for h in out2[0].hypotheses] == pytest.approx([2 * p, 2 * p])  # Holm: min(1, m p), monotone


def test_an_order_is_its_adjacent_pairs_and_fails_when_one_fails():
    base = 0.6 + 0.01 * NOISE
    v, out = judge([check("order", order=["a", "b", "c"])], values(a=base + 0.2, b=base + 0.1, c=base), SEEDS)
    assert v == HOLDS and [h.text for h in out[0].hypotheses] == ["test_acc: a better than b",
                                                                  "test_acc: b better than c"]
    v, _ = judge([check("order", order=["a", "b", "c"])], values(a=base + 0.2, b=base - 0.1, c=base), SEEDS)
    assert v == FAILS


def test_a_value_that_is_not_finite_makes_a_pair_the_sign_test():
    """epochs to a target: +inf for a run that never got there."""
    fast = [3.0, 4, 3, 5, 4, 3, 6, 4, 5, 3]
    slow = [math.inf, 9, math.inf, 8, 7, math.inf, 9, math.inf, 8, 9]
    c = check("better", metric="epochs", higher=False, percent=False, better="fast", than="slow")
    vals = {"fast": {s: {"epochs": x} for s, x in zip(SEEDS, fast)},
            "slow": {s: {"epochs": x} for s, x in zip(SEEDS, slow)}}
    c["key"] = "epochs"
    v, out = judge([c], vals, SEEDS)
    h = out[0].hypotheses[0]
    assert v == HOLDS and h.p_hold == pytest.approx(scipy_stats.binomtest(10, 10, 0.5).pvalue)
    assert "10 of 10 seeds favour fast, 0 the other way, 0 tied" in h.line()
    vals["fast"][0]["epochs"] = math.inf  # both never: a tie, dropped
    h = judge([c], vals, SEEDS)[1][0].hypotheses[0]
    assert "9 of 10 seeds favour fast, 0 the other way, 1 tied" in h.line()
    assert h.p_hold == pytest.approx(scipy_stats.binomtest(9, 9, 0.5).pvalue)


def test_same_within_t_is_two_one_sided_tests_on_the_90_percent_interval():
    base = 0.8 + 0.01 * NOISE
    near = base + 0.001 + 0.001 * NOISE[::-1]
    v, out = judge([check("same", same=["a", "b"], within=0.01)], values(a=near, b=base), SEEDS)
    d = near - base
    lo, hi = scipy_stats.t.interval(0.90, 9, loc=d.mean(), scale=scipy_stats.sem(d))
    assert v == HOLDS and -0.01 < lo and hi < 0.01
    p_low = scipy_stats.ttest_1samp(d, -0.01, alternative="greater").pvalue
    p_high = scipy_stats.ttest_1samp(d, 0.01, alternative="less").pvalue
    assert out[0].hypotheses[0].p_hold == pytest.approx(max(p_low, p_high), rel=1e-9)
    far = base + 0.05 + 0.001 * NOISE[::-1]
    assert judge([check("same", same=["a", "b"], within=0.01)], values(a=far, b=base), SEEDS)[0] == FAILS


def test_when_the_seeds_cannot_decide_sameness_the_line_says_so():
    base = 0.8 + 0.01 * NOISE
    wild = base + 0.03 * np.array([1, -1, 1, -1, 1, -1, 1, -1, 1, -1.0])
    v, out = judge([check("same", same=["a", "b"], within=0.01)], values(a=wild, b=base), SEEDS)
    h = out[0].hypotheses[0]
    assert v == INCONCLUSIVE
    assert "10 seeds cannot decide it at this spread" in h.note and "it would take about" in h.note
    need = int(re.search(r"about (\d+) seeds", h.note).group(1))
    sd = np.std(wild - base, ddof=1)
    assert scipy_stats.t.ppf(0.95, need - 1) * sd / math.sqrt(need) < 0.01
    assert scipy_stats.t.ppf(0.95, need - 2) * sd / math.sqrt(need - 1) >= 0.01
    assert h.line().endswith(f": inconclusive ({h.note})")


def test_a_decided_sameness_line_says_nothing_of_how_many_seeds_would_decide_it():
    base = 0.8 + 0.01 * NOISE
    apart = base + 0.05 + 0.03 * np.array([1, -1, 1, -1, 1, -1, 1, -1, 1, -1.0])  # far outside, wide interval
    v, out = judge([check("same", same=["a", "b"], within=0.01)], values(a=apart, b=base), SEEDS)
    h = out[0].hypotheses[0]
    assert v == FAILS and "cannot decide" in h.note
    assert h.line().endswith(": does not hold") and "cannot decide" not in h.line()


def test_a_gain_near_c_a_contrast_and_thresholds():
    base = 0.6 + 0.01 * NOISE
    v, _ = judge([check("gain_near", gain=["a", "b"], near=0.02, within=0.01)],
                 values(a=base + 0.02 + 0.001 * NOISE[::-1], b=base), SEEDS)
    assert v == HOLDS
    v, _ = judge([check("contrast", gain=["a1", "a0"], exceeds=["b1", "b0"])],
                 values(a1=base + 0.05, a0=base, b1=base + 0.01 + 0.001 * NOISE, b0=base), SEEDS)
    assert v == HOLDS
    v, out = judge([check("below", below=0.5, **{"for": "a"}), check("above", above=0.65, **{"for": "a"})],
                   values(a=base), SEEDS)
    assert [o.verdict for o in out] == [FAILS, FAILS] and v == FAILS
    v, _ = judge([check("near", near=0.6, within=0.02, **{"for": "a"})], values(a=base), SEEDS)
    assert v == HOLDS


def test_too_few_seeds_or_missing_values_are_inconclusive_never_a_crash():
    v, out = judge([check("better", better="a", than="b")], values(a=[0.9], b=[0.1]), [0])
    assert v == INCONCLUSIVE and "too few seeds" in lines(out)[0]
    v, _ = judge([check("better", better="a", than="b")], values(a=[0.9] * 10), SEEDS)  # b never ran
    assert v == INCONCLUSIVE


def test_combine():
    assert combine([HOLDS, HOLDS]) == HOLDS and combine([HOLDS, INCONCLUSIVE]) == INCONCLUSIVE
    assert combine([HOLDS, FAILS, INCONCLUSIVE]) == FAILS and combine([]) == INCONCLUSIVE


def test_the_overall_verdict_counts_the_regimes():
    from nnlab.claims.gallery import overall

    assert [overall([v]) for v in (HOLDS, FAILS, INCONCLUSIVE)] == [HOLDS, FAILS, INCONCLUSIVE]
    assert overall([HOLDS, HOLDS]) == "holds in both regimes"
    assert overall([FAILS] * 3) == "does not hold in all 3 regimes"
    assert overall([HOLDS, INCONCLUSIVE, HOLDS]) == "holds in 2 of 3 regimes, inconclusive in 1"
    assert overall([INCONCLUSIVE, FAILS]) == "does not hold in 1 of 2 regimes, inconclusive in 1"


# --- the lines on the page, number by number (scipy for the statistics, 4 significant digits as documented) ---


def g4(x: float, sign: bool = True) -> str:
    """A number as the gallery prints it: 4 significant digits, '+' on a positive one when signed."""
    s = f"{x:.4g}"
    s = "0" if s in ("0", "-0") else s
    return s if not sign or s.startswith("-") or s == "0" else "+" + s


def test_num_p_and_signed_print_four_digits_and_p_values_with_their_relation():
    from nnlab.claims.verdict import _n, _p, _signed, num

    assert [num(x) for x in (None, math.nan, math.inf, -math.inf, -0.0, 0.0, 12.3456, -4e-05, 3)] == \
        ["n/a", "n/a", "inf", "-inf", "0", "0", "12.35", "-4e-05", "3"]
    assert [_n(x) for x in (0.5, -2.0)] == ["0.5", "-2"]
    assert [_signed(x) for x in (1.5, -1.5, 0.0, -0.0, math.inf, -math.inf, math.nan)] == \
        ["+1.5", "-1.5", "0", "0", "inf", "-inf", "n/a"]
    # below 1e-4 a bound, below 0.01 two significant digits, else three decimals without trailing zeros
    assert [_p(p) for p in (math.nan, math.inf, 5e-05, 1e-4, 0.0049, 0.0123, 0.01, 0.25, 0.5, 1.0)] == \
        ["n/a", "n/a", "< 0.0001", "= 0.0001", "= 0.0049", "= 0.012", "= 0.01", "= 0.25", "= 0.5", "= 1"]


def test_a_hypothesis_line_shows_holm_only_once_adjusted_and_a_note_in_brackets():
    from nnlab.claims.verdict import Hypothesis

    assert Hypothesis("t", 0.5, 1.0, "d").line() == "t: d: inconclusive"
    h = Hypothesis("t", 0.5, 1.0, "d", note="n", p_adjusted=0.02, verdict=HOLDS)
    assert h.line() == "t: d, Holm-adjusted p = 0.02: holds" and h.p == 0.5  # decided: no word on deciding it
    h = Hypothesis("t", 0.5, 1.0, "d", note="n", p_adjusted=0.3)
    assert h.line() == "t: d, Holm-adjusted p = 0.3: inconclusive (n)"


def t_line(d, level=0.95):
    """mean, CI ends and two-sided p of the one-sample t-test of d (scipy)."""
    d = np.asarray(d, dtype=float)
    lo, hi = scipy_stats.t.interval(level, len(d) - 1, loc=d.mean(), scale=scipy_stats.sem(d))
    return d.mean(), lo, hi, scipy_stats.ttest_1samp(d, 0.0).pvalue


def test_every_pair_line_in_full_with_its_two_p_values():
    # two seeds are enough to compare (n = 2); the t-test's numbers, percent in points
    a, b = [0.71, 0.74, 0.70], [0.70, 0.70, 0.70]
    v, out = judge([check("better", better="a", than="b")], values(a=a, b=b), SEEDS[:3])
    h = out[0].hypotheses[0]
    m, lo, hi, p = t_line(np.subtract(a, b))
    assert out[0].text == "better check" and v == INCONCLUSIVE
    assert h.line() == (f"test_acc: a better than b: mean difference {g4(100 * m)} points, 95% CI [{g4(100 * lo)}, "
                        f"{g4(100 * hi)}], p = {p:.3f}".rstrip("0") + f", Holm-adjusted p = {p:.3f}".rstrip("0")
                        + ": inconclusive")
    assert (h.p_hold, h.p_fail) == (pytest.approx(p, rel=1e-9), 1.0)
    # the other way round: the p-value is the fail side's, the hold side's is 1 (never more)
    h = judge([check("better", better="b", than="a")], values(a=a, b=b), SEEDS[:3])[1][0].hypotheses[0]
    assert (h.p_hold, h.p_fail) == (1.0, pytest.approx(p, rel=1e-9))
    # n = 2 is compared, n = 1 is not
    v, out = judge([check("better", better="a", than="b")], values(a=[0.9, 0.8], b=[0.1, 0.2]), SEEDS[:2])
    assert "too few" not in out[0].hypotheses[0].detail
    v, out = judge([check("better", better="a", than="b", percent=False)], values(a=[0.9], b=[0.1]), SEEDS[:1])
    h = out[0].hypotheses[0]
    assert (h.text, h.p_hold, h.p_fail, h.detail) == ("test_acc: a better than b", 1.0, 1.0,
                                                       "n = 1: too few seeds to compare")


def test_a_threshold_line_says_above_or_below_by_how_much_without_points_when_not_a_percent():
    x = [0.3, 0.5, 0.4, 0.6]
    _, out = judge([check("above", percent=False, above=0.1, **{"for": "v"}),
                    check("below", percent=False, below=0.1, **{"for": "v"})], values(v=x), SEEDS[:4])
    above, below = (o.hypotheses[0] for o in out)
    m, lo, hi, p = t_line(np.subtract(x, 0.1))
    assert above.line().startswith(f"test_acc: v: mean above 0.1: mean above the threshold by {g4(m)}, 95% CI "
                                   f"[{g4(lo)}, {g4(hi)}], p = {p:.2g}, Holm-adjusted p = ")
    assert below.line().startswith(f"test_acc: v: mean below 0.1: mean below the threshold by {g4(-m)}, 95% CI "
                                   f"[{g4(-hi)}, {g4(-lo)}], p = {p:.2g}, Holm-adjusted p = ")
    assert (above.p_hold, above.p_fail, below.p_hold, below.p_fail) == \
        (pytest.approx(p, rel=1e-9), 1.0, 1.0, pytest.approx(p, rel=1e-9))
    assert [o.verdict for o in out] == [HOLDS, FAILS]
    # in points when percent: 'mean above 10 points'
    _, out = judge([check("above", above=0.1, **{"for": "v"})], values(v=x), SEEDS[:4])
    assert out[0].hypotheses[0].line().startswith(f"test_acc: v: mean above 10 points: mean above the threshold by "
                                                  f"{g4(100 * m)} points, 95% CI [{g4(100 * lo)}, {g4(100 * hi)}]")


def test_a_sign_test_line_names_who_is_favoured_and_which_side_gets_the_p_value():
    inf = math.inf
    # a threshold with a value that never came: the variant's name in the line, the sign test's p
    _, out = judge([check("below", percent=False, metric="epochs", below=5.0, **{"for": "v"})],
                   {"v": {s: {"epochs": x} for s, x in zip(SEEDS, [3.0, 4.0, inf, 2.0, 1.0, 3.0, 2.0])}}, SEEDS[:7])
    h = out[0].hypotheses[0]
    p = scipy_stats.binomtest(6, 7, 0.5).pvalue
    assert h.detail == (f"6 of 7 seeds favour v, 1 the other way, 0 tied (a value is not finite, so the exact sign "
                        f"test): p = {p:.3f}")
    assert (h.p_hold, h.p_fail) == (pytest.approx(p), 1.0)
    # the other way: the fail side's p
    _, out = judge([check("above", percent=False, metric="epochs", above=5.0, **{"for": "v"})],
                   {"v": {s: {"epochs": x} for s, x in zip(SEEDS, [3.0, 4.0, inf, 2.0, 1.0, 3.0, 2.0])}}, SEEDS[:7])
    h = out[0].hypotheses[0]
    assert (h.p_hold, h.p_fail) == (1.0, pytest.approx(p))
    # as many seeds each way: neither side
    _, out = judge([check("above", percent=False, above=5.0, **{"for": "v"})],
                   values(v=[inf, 1.0, inf, 1.0]), SEEDS[:4])
    h = out[0].hypotheses[0]
    assert (h.p_hold, h.p_fail) == (1.0, 1.0) and "2 of 4 seeds favour v, 2 the other way" in h.detail


def test_a_contrast_subtracts_gains_and_a_value_that_never_came_is_the_sign_test():
    inf = math.inf
    c = check("contrast", percent=False, higher=False, metric="epochs", gain=["a1", "a0"], exceeds=["b1", "b0"])
    c["key"] = "epochs"

    def rows(**cols):
        return {v: {s: {"epochs": x} for s, x in zip(SEEDS, xs)} for v, xs in cols.items()}
    # seed 0: a1 never reached it (inf - 5 = inf: worse, lower is better); seed 1: both a's never (a tie, 0) and
    # b1 - b0 = -1; seeds 2, 3: gains 1 and 3 against 0; seed 4: a value missing (left out)
    vals = rows(a1=[inf, inf, 4.0, 2.0, 1.0], a0=[5.0, inf, 5.0, 5.0, None], b1=[3.0, 2.0, 3.0, 3.0, 1.0],
                b0=[3.0, 3.0, 3.0, 3.0, 1.0])
    _, out = judge([c], vals, SEEDS[:5])
    h = out[0].hypotheses[0]
    assert h.text == "epochs: the gain of a1 over a0 exceeds that of b1 over b0"
    # all finite, in points: the t-interval of (a1 - a0) - (b1 - b0)
    base = [0.5, 0.6, 0.7]
    _, out = judge([check("contrast", gain=["a1", "a0"], exceeds=["b1", "b0"])],
                   values(a1=[0.53, 0.64, 0.72], a0=base, b1=base, b0=base), SEEDS[:3])
    m, lo, hi, p = t_line([0.03, 0.04, 0.02])
    assert out[0].hypotheses[0].detail == (f"mean difference {g4(100 * m)} points, 95% CI [{g4(100 * lo)}, "
                                           f"{g4(100 * hi)}], p = {p:.3f}".rstrip("0"))
    # differences (lower better, so b-side minus a-side): -inf, -1, +1, +3: 2 favour a1, 2 the other way
    assert h.detail.startswith("2 of 4 seeds favour a1, 2 the other way, 0 tied")


def test_an_equivalence_line_in_full_both_ways_and_its_note():
    from nnlab.claims.stats import seeds_needed

    a, b = [0.5, 0.6, 0.4], [0.5, 0.5, 0.5]
    c = check("same", same=["a", "b"], within=0.01)
    _, out = judge([c], values(a=a, b=b), SEEDS[:3])
    h = out[0].hypotheses[0]
    d = np.subtract(a, b)
    _, lo, hi, _ = t_line(d, level=0.90)
    half = (hi - lo) / 2
    need = seeds_needed(0.1, 0.01)
    assert need == 273  # t(0.95, n - 1) 0.1 / sqrt(n) < 0.01 first at n = 273 (scipy: below)
    assert scipy_stats.t.ppf(0.95, 272) * 0.1 / math.sqrt(273) < 0.01 <= scipy_stats.t.ppf(0.95, 271) * 0.1 / \
        math.sqrt(272)
    assert h.line() == (f"test_acc: a the same as b within ±1 points: mean difference 0 points, 90% CI "
                        f"[{g4(100 * lo)}, {g4(100 * hi)}] against [-1, +1], Holm-adjusted p = "
                        f"{h.p_adjusted:.3f}".rstrip("0") + ": inconclusive (3 seeds cannot decide it at this spread "
                        f"(sd 10 points): the 90% interval alone is ±{g4(100 * half, False)} points wide; it would "
                        f"take about 273 seeds)")
    # a spread no number of seeds could beat: no count is promised
    _, out = judge([check("same", same=["a", "b"], within=1e-5, percent=False)], values(a=a, b=b), SEEDS[:3])
    assert out[0].hypotheses[0].note.endswith("±" + g4(half, False) + " wide")
    # 'same' keeps the metric's direction: a - b when higher is better
    _, out = judge([check("same", same=["a", "b"], within=0.05)], values(a=[0.52, 0.53, 0.51], b=[0.5, 0.5, 0.5]),
                   SEEDS[:3])
    assert out[0].hypotheses[0].detail.startswith("mean difference +2 points, 90% CI [")
    # higher is better: a - b; in points, the range and the text too
    _, out = judge([check("gain_near", gain=["a", "b"], near=0.05, within=0.02)],
                   values(a=[0.56, 0.55, 0.55], b=[0.5, 0.5, 0.51]), SEEDS[:3])
    d = np.array([0.06, 0.05, 0.04])
    _, lo, hi, _ = t_line(d, level=0.90)
    assert out[0].hypotheses[0].line().startswith(
        f"test_acc: a better than b by 5 ± 2 points: mean difference {g4(100 * d.mean())} points, 90% CI "
        f"[{g4(100 * lo)}, {g4(100 * hi)}] against [+3, +7]")
    # lower is better: the difference is b - a, so a range that is not symmetric shows which side is which
    c = check("gain_near", percent=False, higher=False, gain=["a", "b"], near=0.05, within=0.2)
    _, out = judge([c], values(a=[1.0, 1.2, 1.1], b=[1.2, 1.3, 1.3]), SEEDS[:3])
    h = out[0].hypotheses[0]
    d = np.array([0.2, 0.1, 0.2])
    _, lo, hi, _ = t_line(d, level=0.90)
    assert h.line().startswith(f"test_acc: a better than b by 0.05 ± 0.2: mean difference {g4(d.mean())}, 90% CI "
                               f"[{g4(lo)}, {g4(hi)}] against [-0.15, +0.25]")
    p_low = scipy_stats.ttest_1samp(d, -0.15, alternative="greater").pvalue
    p_high = scipy_stats.ttest_1samp(d, 0.25, alternative="less").pvalue
    assert h.p_hold == pytest.approx(max(p_low, p_high), rel=1e-9) and h.p_fail == 1.0 and h.note == ""


def test_near_is_a_one_sample_mean_and_too_few_or_infinite_values_cannot_show_equivalence():
    x = [0.61, 0.6, 0.59, 0.6]
    _, out = judge([check("near", near=0.6, within=0.02, **{"for": "v"})], values(v=x), SEEDS[:4])
    h = out[0].hypotheses[0]
    _, lo, hi, _ = t_line(x, level=0.90)
    assert h.line().startswith(f"test_acc: v: 60 ± 2 points: mean +60 points, 90% CI [{g4(100 * lo)}, "
                               f"{g4(100 * hi)}] against [+58, +62]") and h.verdict == HOLDS and h.note == ""
    _, out = judge([check("same", same=["a", "b"], within=0.01)], values(a=[0.5, 0.6], b=[0.5, None]), SEEDS[:2])
    h = out[0].hypotheses[0]
    assert (h.text, h.p_hold, h.p_fail, h.detail) == ("test_acc: a the same as b within ±1 points", 1.0, 1.0,
                                                       "n = 1: too few seeds to compare")
    _, out = judge([check("same", same=["a", "b"], within=0.01)], values(a=[0.5, 0.6], b=[0.5, 0.55]), SEEDS[:2])
    assert "too few" not in out[0].hypotheses[0].detail  # two seeds are compared
    inf = math.inf
    for a, b in (([inf, 1.0, 2.0], [1.0, 1.0, 2.0]), ([inf, 1.0, 2.0], [-inf, 1.0, 2.0])):
        _, out = judge([check("same", same=["a", "b"], within=0.01, percent=False)], values(a=a, b=b), SEEDS[:3])
        h = out[0].hypotheses[0]
        assert (h.text, h.p_hold, h.p_fail, h.detail) == (
            "test_acc: a the same as b within ±0.01", 1.0, 1.0,
            "a value is not finite (a run never reached its target or diverged), so no interval can show equivalence")
    # both never reached: a tie (0), so the rest decide
    _, out = judge([check("same", same=["a", "b"], within=0.01, percent=False)],
                   values(a=[inf, 1.0, 2.0, 3.0], b=[inf, 1.0, 2.0, 3.0]), SEEDS[:4])
    assert out[0].hypotheses[0].detail.startswith("mean difference 0, 90% CI [0, 0] against [-0.01, +0.01]")


def test_a_label_names_the_line_instead_of_the_metric():
    c = check("better", better="a", than="b")
    c["label"] = "accuracy at 10 epochs"
    _, out = judge([c], values(a=[0.9, 0.8], b=[0.1, 0.2]), SEEDS[:2])
    assert out[0].hypotheses[0].text == "accuracy at 10 epochs: a better than b"
