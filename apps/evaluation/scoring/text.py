"""Free text: two answers agree when their similarity reaches the task's threshold. The similarity is, by
the task's text metric: the cosine of their embeddings (an `embed` function is given; the product passes
its MiniLM embedder), ROUGE-L F1 (word overlap in order, no model needed), or an LLM judge's rubric score
out of 5 divided by 5 (scoring.judge; the judge is asked by the job, not here).

Known limits: cosine and ROUGE-L measure closeness, not correctness: a fluent answer with one wrong number
or a missing "not" can score high. ROUGE-L ignores synonyms and punctuation; the thresholds are per task.
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
JUDGE = "judge"
METRICS = (ROUGE_L, COSINE, JUDGE)
# The judge's default, 0.8, is a rubric score of 4 or 5 out of 5.
DEFAULT_THRESHOLDS = {ROUGE_L: 0.5, COSINE: 0.85, JUDGE: 0.8}
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


def threshold_of(metric: str, threshold: float | None) -> float:
    """The threshold a text answer needs under `metric`: the one given, else the metric's default."""
    return DEFAULT_THRESHOLDS[metric] if threshold is None else threshold


def similarity_score(similarity: float, *, metric: str, threshold: float | None = None, **details: Any) -> CallScore:
    """A call scored from its similarity (0 to 1) under `metric`: it agrees at or above the threshold."""
    limit = threshold_of(metric, threshold)
    failures = [] if similarity >= limit - _EPSILON else [BELOW_THRESHOLD]
    return call_score(failures, similarity=similarity, metric=metric, threshold=limit, **details)


def score_text(reference: str, output: str, *, threshold: float | None = None, embed: Embed | None = None) -> CallScore:
    metric = COSINE if embed is not None else ROUGE_L
    similarity = cosine_similarity(reference, output, embed) if embed is not None else rouge_l_f1(reference, output)
    return similarity_score(similarity, metric=metric, threshold=threshold)


def score_texts(
    pairs: Sequence[tuple[str, str]], *, metric: str, threshold: float | None = None, embed: Embed | None = None
) -> list[CallScore]:
    """Many (reference, output) pairs scored by ROUGE-L or cosine; for cosine, every text of the batch is
    embedded in one call of `embed` (required then). The judge's scores come from scoring.judge."""
    if metric == COSINE:
        if embed is None:
            raise ValueError("cosine similarity needs an embed function")
        similarities = cosine_similarities(pairs, embed)
    elif metric == ROUGE_L:
        similarities = [rouge_l_f1(reference, output) for reference, output in pairs]
    else:
        raise ValueError(f"score_texts scores rouge_l or cosine, not {metric!r}")
    return [similarity_score(value, metric=metric, threshold=threshold) for value in similarities]


def summarise_text(scores: Sequence[CallScore]) -> dict[str, Any]:
    """The metric and threshold the calls were scored with and their mean similarity with its bootstrap
    interval; for the judge also its mean rubric score (1 to 5) and the answers it gave that could not be
    read (no similarity: they count as disagreeing but not in the means)."""
    similarities = [s.details["similarity"] for s in scores if s.details.get("similarity") is not None]
    interval = bootstrap_mean_interval(similarities) if similarities else None
    metric = scores[0].details.get("metric") if scores else None
    summary: dict[str, Any] = {
        "metric": metric,
        "threshold": scores[0].details.get("threshold") if scores else None,
        "mean_similarity": interval.estimate if interval else None,
        "mean_similarity_low": interval.low if interval else None,
        "mean_similarity_high": interval.high if interval else None,
    }
    if metric == JUDGE:
        judged = [s.details["judge_score"] for s in scores if s.details.get("judge_score") is not None]
        summary["mean_judge_score"] = sum(judged) / len(judged) if judged else None
        summary["judge_unreadable"] = len(scores) - len(judged)
    return summary
