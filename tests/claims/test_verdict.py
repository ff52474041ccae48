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
