"""Free text: two answers agree when their similarity reaches the task's threshold. The similarity is the
cosine of their embeddings when an `embed` function is given (the product passes its MiniLM embedder),
else ROUGE-L F1 (word overlap in order, no model needed).

Known limits: both measure closeness, not correctness: a fluent answer with one wrong number or a
missing "not" can score high. ROUGE-L ignores synonyms and punctuation; the thresholds are per task.
"""

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from apps.evaluation.scoring.result import CallScore, call_score
from apps.evaluation.scoring.stats import bootstrap_mean_interval

Embed = Callable[[list[str]], Any]  # texts -> an array of shape (len(texts), dimensions)
ROUGE_L = "rouge_l"
COSINE = "cosine"
DEFAULT_THRESHOLDS = {ROUGE_L: 0.5, COSINE: 0.85}
BELOW_THRESHOLD = "similarity below threshold"
# Rounding slack: a similarity computed as 0.4999999999999999 meets a threshold of 0.5.
_EPSILON = 1e-9
_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Lower-cased word tokens (Unicode letters, digits and _); punctuation and spacing are dropped."""
    return _WORD.findall(text.lower())


def lcs_length(first: Sequence[str], second: Sequence[str]) -> int:
    """Length of the longest common subsequence: O(len(first) * len(second)) time, memory linear in the
    shorter sequence (two rows)."""
    if len(first) < len(second):
        first, second = second, first
    previous = [0] * (len(second) + 1)
    for item in first:
        current = [0]
        for j, other in enumerate(second, start=1):
            current.append(previous[j - 1] + 1 if item == other else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l_f1(reference: str, output: str) -> float:
    """ROUGE-L F1 over lower-cased word tokens: LCS / len(output) is the precision, LCS / len(reference)
    the recall. Two empty texts are identical (1.0); one empty text shares nothing (0.0)."""
    ref, out = words(reference), words(output)
    if not ref and not out:
        return 1.0
    common = lcs_length(ref, out)
    if common == 0:
        return 0.0
    precision, recall = common / len(out), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def _cosine(first: np.ndarray, second: np.ndarray) -> float:
    norms = float(np.linalg.norm(first) * np.linalg.norm(second))
    return float(np.clip(np.dot(first, second) / norms, -1.0, 1.0)) if norms else 0.0


def cosine_similarities(pairs: Sequence[tuple[str, str]], embed: Embed) -> list[float]:
    """The cosine similarity of each (reference, output) pair, embedding all texts in one call of `embed`.
    A zero vector is similar to nothing (0.0)."""
    if not pairs:
        return []
    vectors = np.asarray(embed([text for pair in pairs for text in pair]), dtype=float)
    if vectors.shape[0] != 2 * len(pairs):
        raise ValueError(f"embed returned {vectors.shape[0]} vectors for {2 * len(pairs)} texts")
    return [_cosine(vectors[2 * i], vectors[2 * i + 1]) for i in range(len(pairs))]


def cosine_similarity(reference: str, output: str, embed: Embed) -> float:
    return cosine_similarities([(reference, output)], embed)[0]


def score_text(reference: str, output: str, *, threshold: float | None = None, embed: Embed | None = None) -> CallScore:
    metric = COSINE if embed is not None else ROUGE_L
    similarity = cosine_similarity(reference, output, embed) if embed is not None else rouge_l_f1(reference, output)
    limit = DEFAULT_THRESHOLDS[metric] if threshold is None else threshold
    failures = [] if similarity >= limit - _EPSILON else [BELOW_THRESHOLD]
    return call_score(failures, similarity=similarity, metric=metric, threshold=limit)


def summarise_text(scores: Sequence[CallScore]) -> dict[str, Any]:
    similarities = [s.details["similarity"] for s in scores]
    interval = bootstrap_mean_interval(similarities) if similarities else None
    return {
        "metric": scores[0].details["metric"] if scores else None,
        "mean_similarity": interval.estimate if interval else None,
        "mean_similarity_low": interval.low if interval else None,
        "mean_similarity_high": interval.high if interval else None,
    }
