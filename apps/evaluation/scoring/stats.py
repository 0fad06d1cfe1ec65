"""How sure a measured agreement is: intervals, the verdict against a target, and how many calls settle it.

Each test call is treated as an independent draw. Calls from one trace or one user are not independent,
so on such logs every interval here is somewhat too narrow.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054  # the two-sided 95% normal quantile
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
SETTLE_LIMIT = 1_000_000
# Bootstrap resamples are drawn in blocks of about this many indices, so memory stays flat for any n.
_BLOCK = 4_000_000


class Verdict:
    READY = "ready"
    NOT_READY = "not_ready"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Interval:
    """A point estimate and its interval (low <= estimate <= high, for the usual inputs)."""

    estimate: float
    low: float
    high: float


def wilson_interval(successes: float, n: int, *, z: float = Z95) -> Interval:
    """The Wilson score interval for a proportion (95% by default).

    Unlike the normal approximation it stays inside [0, 1] and is usable at 0 or n successes and for
    small n. With no trials nothing is known: (0, 0, 1). `successes` may be fractional (calls_to_settle
    projects an observed rate onto a larger n).
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return Interval(0.0, 0.0, 1.0)
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def _bootstrap_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """The mean of each of `resamples` resamples (with replacement) of the rows of `values`."""
    rng = np.random.default_rng(seed)
    n = len(values)
    block = max(1, _BLOCK // n)
    means = []
    for start in range(0, resamples, block):
        rows = min(block, resamples - start)
        idx = rng.integers(0, n, size=(rows, n))
        means.append(values[idx].mean(axis=1))
    return np.concatenate(means)


def _percentile_interval(estimate: float, means: np.ndarray, confidence: float) -> Interval:
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(estimate), float(low), float(high))


def bootstrap_mean_interval(
    values: Sequence[float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = 0.95,
) -> Interval:
    """The mean of per-call values (a similarity, a field F1, 1/0 agreement) with a percentile bootstrap
    interval. The seed is fixed, so the same values give the same interval. Percentile intervals are
    too narrow for a handful of calls; below ~20 calls prefer wilson_interval for 1/0 values."""
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        raise ValueError("no values to bootstrap")
    return _percentile_interval(float(array.mean()), _bootstrap_means(array, resamples, seed), confidence)


def bootstrap_difference_interval(
    first: Sequence[float],
    second: Sequence[float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = 0.95,
) -> Interval:
    """mean(first) - mean(second) for two candidates scored on the same calls (value i of each is call i),
    with a paired bootstrap interval: each resample draws calls, and both candidates keep their value on
    each drawn call, so call difficulty cancels out. An interval above 0 means `first` is better."""
    a = np.asarray(first, dtype=float)
    b = np.asarray(second, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same calls: {a.size} vs {b.size}")
    if a.size == 0:
        raise ValueError("no values to bootstrap")
    diff = a - b
    return _percentile_interval(float(diff.mean()), _bootstrap_means(diff, resamples, seed), confidence)


def verdict(interval: Interval, target: float) -> str:
    """ready when the whole interval is at or above the target (low >= target), not_ready when it is all
    below (high < target), else inconclusive: more test calls are needed."""
    if interval.low >= target:
        return Verdict.READY
    if interval.high < target:
        return Verdict.NOT_READY
    return Verdict.INCONCLUSIVE


def calls_to_settle(agree: int, n: int, target: float, *, limit: int = SETTLE_LIMIT, z: float = Z95) -> int | None:
    """The smallest number of test calls in all at which the Wilson interval would leave the target out
    (the verdict becomes ready or not_ready), assuming the observed rate agree/n holds. It may be at or
    below n when the verdict is already settled. None when nothing was observed, when the observed rate
    is the target itself (no number of calls settles it), or when it would take more than `limit` calls.
    """
    if n <= 0:
        return None
    rate = agree / n
    if rate == target:
        return None

    def settled(total: int) -> bool:
        interval = wilson_interval(rate * total, total, z=z)
        return interval.low >= target if rate > target else interval.high < target

    if not settled(limit):
        return None
    # For a fixed rate the Wilson interval narrows as the count grows, so `settled` is monotone.
    low, high = 1, limit
    while low < high:
        middle = (low + high) // 2
        if settled(middle):
            high = middle
        else:
            low = middle + 1
    return low
