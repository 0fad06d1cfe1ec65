"""Intervals, verdicts against a target and the number of calls that settles one."""

import pytest

from apps.evaluation.scoring.stats import (
    Interval,
    bootstrap_difference_interval,
    bootstrap_mean_interval,
    calls_to_settle,
    verdict,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (8, 10, 0.4902, 0.9433),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (50, 100, 0.4038, 0.5962),
        (1, 1, 0.2065, 1.0),
    ],
)
def test_wilson_interval_known_values(successes: int, n: int, low: float, high: float) -> None:
    interval = wilson_interval(successes, n)
    assert interval.estimate == successes / n
    assert (interval.low, interval.high) == (pytest.approx(low, abs=5e-4), pytest.approx(high, abs=5e-4))


def test_with_no_calls_nothing_is_known() -> None:
    assert wilson_interval(0, 0) == Interval(0.0, 0.0, 1.0)


def test_impossible_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (0.85, "ready"),  # low == target
        (0.80, "ready"),
        (0.90, "inconclusive"),
        (0.95, "inconclusive"),  # high == target is not below it
        (0.9500001, "not_ready"),
    ],
)
def test_verdict_boundaries(target: float, expected: str) -> None:
    assert verdict(Interval(0.9, 0.85, 0.95), target) == expected


def test_calls_to_settle_known_values() -> None:
    # all agree: low = N / (N + z^2) >= 0.99 from N = 381 on
    assert calls_to_settle(50, 50, 0.99) == 381
    assert wilson_interval(380, 380).low < 0.99 <= wilson_interval(381, 381).low
    # none agree: high = z^2 / (N + z^2) < 0.05 from N = 73 on
    assert calls_to_settle(0, 20, 0.05) == 73


@pytest.mark.parametrize(("agree", "n", "target"), [(8, 10, 0.7), (8, 10, 0.9), (45, 50, 0.95), (3, 4, 0.5)])
def test_calls_to_settle_is_the_first_count_whose_verdict_is_settled(agree: int, n: int, target: float) -> None:
    rate = agree / n
    first = next(
        total for total in range(1, 100_000) if verdict(wilson_interval(rate * total, total), target) != "inconclusive"
    )
    assert calls_to_settle(agree, n, target) == first


def test_calls_to_settle_when_it_cannot_be_settled() -> None:
    assert calls_to_settle(9, 10, 0.9) is None  # the observed rate is the target
    assert calls_to_settle(0, 0, 0.9) is None
    assert calls_to_settle(9001, 10000, 0.9) is None  # would need tens of millions of calls
    assert calls_to_settle(9001, 10000, 0.9, limit=10**9) is not None


def test_a_settled_verdict_needs_no_more_calls_than_it_has() -> None:
    needed = calls_to_settle(100, 100, 0.9)
    assert needed is not None and needed <= 100
    assert verdict(wilson_interval(100, 100), 0.9) == "ready"


def test_bootstrap_is_reproducible_and_depends_on_the_seed() -> None:
    values = [1.0] * 80 + [0.0] * 20

    first, again = bootstrap_mean_interval(values), bootstrap_mean_interval(values)
    other_seed = bootstrap_mean_interval(values, seed=1)

    assert first == again
    assert other_seed != first
    assert first.estimate == pytest.approx(0.8)
    assert 0.70 < first.low < 0.76 and 0.84 < first.high < 0.90


def test_bootstrap_of_constant_values_has_no_width() -> None:
    assert bootstrap_mean_interval([0.5] * 10) == Interval(0.5, 0.5, 0.5)


def test_the_difference_is_paired_on_the_same_calls() -> None:
    first = [0.0, 1.0, 0.2, 0.9, 0.4, 0.7, 0.1, 0.8]
    second = [value - 0.1 for value in first]

    interval = bootstrap_difference_interval(first, second)

    # call by call the gap is always 0.1, so a paired resample never sees another
    assert (interval.estimate, interval.low, interval.high) == pytest.approx((0.1, 0.1, 0.1))
    assert bootstrap_difference_interval(first, second) == interval


def test_the_difference_of_a_better_candidate_is_above_zero() -> None:
    better = [1.0] * 90 + [0.0] * 10
    worse = [1.0] * 60 + [0.0] * 40
    interval = bootstrap_difference_interval(better, worse)
    assert interval.estimate == pytest.approx(0.3)
    assert 0 < interval.low < 0.3 < interval.high


def test_bootstrap_refuses_empty_or_unpaired_values() -> None:
    with pytest.raises(ValueError):
        bootstrap_mean_interval([])
    with pytest.raises(ValueError, match="same calls"):
        bootstrap_difference_interval([1.0, 0.0], [1.0])
