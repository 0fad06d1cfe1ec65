"""How a cluster is described to people: keywords (class-based TF-IDF), a generated name, and a
hint of how well it suits a small model."""

import math
import re
from collections import Counter
from dataclasses import dataclass, field

from apps.discovery.texts import OUTPUT_KIND_LABELS, STRUCTURED_KINDS, OutputKind

_WORD = re.compile(r"[a-z][a-z'_-]{2,}")
_PLACEHOLDER = re.compile(r"<[A-Z_]+>")
STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each either else every few for from further get
    give given had has have having he her here hers herself him himself his how however i if in into is it its
    itself just let like make many may me might more most much must my myself need no nor not now of off on once
    one only or other our ours ourselves out over own please same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up us use used using very
    want was way we well were what when where which while who whom why will with within without would yes yet
    you your yours yourself yourselves only exactly write reply return answer user assistant message following
    below json object key keys value one two""".split()
)


def _terms(text: str) -> list[str]:
    words = (w.strip("'_-") for w in _WORD.findall(_PLACEHOLDER.sub(" ", text).lower()))
    return [w for w in words if w not in STOP_WORDS]


def keywords(documents: dict[str, list[str]], top: int = 8) -> dict[str, list[str]]:
    """c-TF-IDF (as in BERTopic): each cluster's texts are one document; a term scores
    tf(term, cluster) * log(1 + A / f(term)), A the mean number of words per cluster, f the term's
    frequency over all clusters."""
    counts = {c: Counter(t for text in texts for t in _terms(text)) for c, texts in documents.items()}
    totals = Counter[str]()
    for counter in counts.values():
        totals.update(counter)
    mean_words = sum(sum(c.values()) for c in counts.values()) / max(1, len(counts))
    result: dict[str, list[str]] = {}
    for cluster, counter in counts.items():
        size = sum(counter.values()) or 1
        scored = sorted(
            ((n / size) * math.log(1 + mean_words / totals[t]), t) for t, n in counter.items() if n >= 2 or size < 40
        )
        result[cluster] = [t for _, t in reversed(scored[-top:])]
    return result


def generated_name(words: list[str], output_kind: str) -> str:
    kind = {
        OutputKind.LABEL: "labels",
        OutputKind.JSON: "JSON",
        OutputKind.TOOL_CALLS: "tool calls",
        OutputKind.SQL: "SQL",
        OutputKind.CODE: "code",
        OutputKind.TEXT: "text",
    }.get(output_kind, "")
    head = " / ".join(words[:3]) or "unnamed task"
    return f"{head} ({kind})" if kind else head


@dataclass
class Suitability:
    level: str  # good, fair, poor
    score: int
    reasons: list[str] = field(default_factory=list)


def suitability(*, output_kind: str, calls: int, share: float, prompt_p99: float | None) -> Suitability:
    """Narrow, checkable outputs, volume, and prompts that fit small models' context windows."""
    score, reasons = 0, []
    if output_kind in STRUCTURED_KINDS:
        score += 2
        reasons.append(f"narrow, checkable output ({OUTPUT_KIND_LABELS[output_kind].lower()})")
    elif output_kind == OutputKind.CODE:
        score += 1
        reasons.append("code: checkable by running it, but open-ended")
    else:
        reasons.append("free-text answers are harder to check than structured ones")
    if calls >= 1000 or share >= 0.1:
        score += 2
        reasons.append(f"high volume ({calls:,} calls, {share:.0%} of traffic)")
    elif calls >= 100:
        score += 1
        reasons.append(f"some volume ({calls:,} calls, {share:.0%} of traffic)")
    else:
        reasons.append(f"few calls ({calls:,}): too little to train on yet")
    if prompt_p99 is None:
        reasons.append("prompt length unknown (no token counts logged)")
    elif prompt_p99 <= 4096:
        score += 2
        reasons.append(f"prompts fit a 4k context (p99 {prompt_p99:,.0f} tokens)")
    elif prompt_p99 <= 16384:
        score += 1
        reasons.append(f"prompts need a 16k context (p99 {prompt_p99:,.0f} tokens)")
    else:
        score -= 1
        reasons.append(f"long prompts (p99 {prompt_p99:,.0f} tokens) exceed most small models' windows")
    level = "good" if score >= 5 else "fair" if score >= 3 else "poor"
    return Suitability(level, score, reasons)
