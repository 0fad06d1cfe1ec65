"""Labels from a closed set: two answers agree when they are the same label after normalisation.

Normalisation: Unicode NFKC, case folded, runs of whitespace made one space, and whitespace, quotes,
sentence punctuation (. , ; : ! ?) and markdown emphasis (*) around the label removed ("Positive." ==
"positive" == '"POSITIVE"' == "**positive**"). Signs and symbols stay ("+1" != "-1", "C#" != "C").
Known limits: inner punctuation still counts ("not_spam" != "not spam" != "not-spam"), and so does
anything the model says besides the label ("Label: spam" != "spam"); synonyms are different labels.
"""

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from apps.evaluation.scoring.result import CallScore, call_score, f1, quote, ratio

_SPACE = re.compile(r"\s+")


_EDGE = frozenset("\"'`.,;:!?*")


def _is_edge(char: str) -> bool:
    """Whitespace, a quote (Unicode initial or final quotes too), sentence punctuation or "*"."""
    return char.isspace() or char in _EDGE or unicodedata.category(char) in ("Pi", "Pf")


def normalise_label(text: str) -> str:
    text = _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold())
    start, end = 0, len(text)
    while start < end and _is_edge(text[start]):
        start += 1
    while end > start and _is_edge(text[end - 1]):
        end -= 1
    return text[start:end]


def wrong_label(reference: str, output: str) -> str:
    return f"wrong label {quote(reference)}->{quote(output)}"


def score_label(reference: str, output: str) -> CallScore:
    ref, out = normalise_label(reference), normalise_label(output)
    return call_score([] if ref == out else [wrong_label(ref, out)], reference=ref, output=out)


def label_metrics(pairs: Sequence[tuple[str, str]], *, labels: Sequence[str] | None = None) -> dict[str, Any]:
    """Accuracy, macro-F1 and the confusion matrix over (reference, output) pairs, normalised.

    Macro-F1 is the unweighted mean of the per-label F1 over `labels` (normalised), or, when not given,
    over every label seen in the references or the outputs, as scikit-learn does: a label the candidate
    invents counts as a class with F1 0, so inventing labels lowers the score. A label never seen in
    either has no F1 and is left out. The confusion matrix maps reference -> output -> count.
    """
    normalised = [(normalise_label(ref), normalise_label(out)) for ref, out in pairs]
    confusion: dict[str, dict[str, int]] = defaultdict(dict)
    for (ref, out), count in sorted(Counter(normalised).items()):
        confusion[ref][out] = count
    if labels is None:
        classes = sorted({label for pair in normalised for label in pair})
    else:
        classes = list(dict.fromkeys(normalise_label(label) for label in labels))
    per_label: dict[str, float] = {}
    for label in classes:
        true_positive = sum(1 for ref, out in normalised if ref == label and out == label)
        predicted = sum(1 for _, out in normalised if out == label)
        actual = sum(1 for ref, _ in normalised if ref == label)
        if predicted or actual:
            per_label[label] = f1(ratio(true_positive, predicted) or 0.0, ratio(true_positive, actual) or 0.0) or 0.0
    correct = sum(1 for ref, out in normalised if ref == out)
    failures = Counter(wrong_label(ref, out) for ref, out in normalised if ref != out)
    return {
        "accuracy": ratio(correct, len(normalised)),
        "macro_f1": sum(per_label.values()) / len(per_label) if per_label else None,
        "per_label_f1": per_label,
        "confusion": dict(confusion),
        "failure_groups": [[group, count] for group, count in sorted(failures.items(), key=lambda g: (-g[1], g[0]))],
    }


def summarise_label(scores: Sequence[CallScore], *, labels: Sequence[str] | None = None) -> dict[str, Any]:
    metrics = label_metrics([(s.details["reference"], s.details["output"]) for s in scores], labels=labels)
    metrics.pop("failure_groups")
    return metrics
