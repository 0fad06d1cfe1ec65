"""What scoring one call gives back, and the part of a summary every kind shares."""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from apps.evaluation.scoring.stats import wilson_interval

MATCH = "match"
# A failure group's name quotes at most this much of a label or a name, so groups stay readable.
QUOTE_CHARS = 40


@dataclass(frozen=True)
class CallScore:
    """One call scored: whether the candidate's answer agrees with the LLM's logged answer, the first
    reason it does not ("match" when it does), and the numbers the kind's summary adds up. The
    details always hold "failures": the failure groups of this call (empty when it agrees)."""

    agree: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def call_score(failures: list[str], **details: Any) -> CallScore:
    """A call agrees when it has no failure. Each failure group counts once per call."""
    unique = list(dict.fromkeys(failures))
    if not unique:
        reason = MATCH
    elif len(unique) == 1:
        reason = unique[0]
    else:
        reason = f"{unique[0]} (+{len(unique) - 1} more)"
    return CallScore(agree=not unique, reason=reason, details={"failures": unique, **details})


def quote(text: str) -> str:
    """A label or name as it appears in a failure group: cut to QUOTE_CHARS, "(empty)" when empty."""
    if not text:
        return "(empty)"
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 3] + "..."


def agreement_summary(scores: Sequence[CallScore]) -> dict[str, Any]:
    """The headline every kind shares: agreement (share of calls that agree) with its Wilson 95% interval,
    and the failure groups, most frequent first, each with the number of calls it occurred in. With no
    calls the agreement is unknown (None) and its interval is all of [0, 1]."""
    agreed = sum(1 for score in scores if score.agree)
    interval = wilson_interval(agreed, len(scores))
    groups = Counter(group for score in scores for group in score.details.get("failures", ()))
    return {
        "calls": len(scores),
        "agreed": agreed,
        "agreement": interval.estimate if scores else None,
        "agreement_low": interval.low,
        "agreement_high": interval.high,
        "failure_groups": [[group, count] for group, count in sorted(groups.items(), key=lambda g: (-g[1], g[0]))],
    }


def ratio(part: float, whole: float) -> float | None:
    """part / whole, or None when there is nothing to measure."""
    return part / whole if whole else None


def f1(precision: float | None, recall: float | None) -> float | None:
    if precision is None or recall is None:
        return None
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0
