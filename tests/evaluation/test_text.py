"""Free text: ROUGE-L F1, the cosine of embeddings through an injected embed function, the threshold, and
the summary of each metric."""

import re
from collections import Counter

import numpy as np
import pytest

from apps.evaluation.scoring.judge import score_judged
from apps.evaluation.scoring.text import (
    cosine_similarities,
    cosine_similarity,
    lcs_length,
    rouge_l_f1,
    score_text,
    score_texts,
    summarise_text,
)

VOCABULARY = ["the", "cat", "sat", "on", "mat", "dog", "ran", "away"]


def bag_of_words(texts: list[str]) -> np.ndarray:
    """A fake embedder: word counts over a fixed vocabulary."""
    rows = []
    for text in texts:
        counts = Counter(re.findall(r"\w+", text.lower()))
        rows.append([counts[word] for word in VOCABULARY])
    return np.array(rows, dtype=float)


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("abcbdab", "bdcaba", 4),
        ("abc", "", 0),
        ("", "", 0),
        ("abc", "abc", 3),
        ("abc", "xyz", 0),
    ],
)
def test_lcs_length(first: str, second: str, expected: int) -> None:
    assert lcs_length(list(first), list(second)) == expected
    assert lcs_length(list(second), list(first)) == expected


def test_rouge_l_f1_on_known_values() -> None:
    # LCS "the cat on the mat" = 5 of 6 words each way
    assert rouge_l_f1("The cat sat on the mat.", "the cat was on the mat") == pytest.approx(5 / 6)
    # LCS "the gunman": 2 of the reference's 4 words, 2 of the output's 3
    assert rouge_l_f1("police killed the gunman", "the gunman killed") == pytest.approx(
        2 * (2 / 3) * (2 / 4) / (2 / 3 + 2 / 4)
    )
    assert rouge_l_f1("", "") == 1.0
    assert rouge_l_f1("something", "") == 0.0
    assert rouge_l_f1("a b c", "x y z") == 0.0


def test_cosine_through_the_injected_embedder() -> None:
    assert cosine_similarity("the cat sat", "The cat sat!", bag_of_words) == pytest.approx(1.0)
    assert cosine_similarity("cat", "dog", bag_of_words) == 0.0
    assert cosine_similarity("cat", "unknown words", bag_of_words) == 0.0  # a zero vector
    assert cosine_similarity("cat sat", "cat ran", bag_of_words) == pytest.approx(0.5)


def test_all_pairs_are_embedded_in_one_call() -> None:
    seen: list[list[str]] = []

    def embed(texts: list[str]) -> np.ndarray:
        seen.append(texts)
        return bag_of_words(texts)

    assert cosine_similarities([("cat", "cat"), ("cat sat", "cat ran")], embed) == pytest.approx([1.0, 0.5])
    assert seen == [["cat", "cat", "cat sat", "cat ran"]]


def test_an_embedder_returning_the_wrong_number_of_vectors_is_refused() -> None:
    with pytest.raises(ValueError, match="2 texts"):
        cosine_similarities([("a", "b")], lambda texts: np.ones((1, 3)))


def test_agreement_is_similarity_at_or_above_the_threshold() -> None:
    at = score_text("cat sat", "cat ran", threshold=0.5, embed=bag_of_words)
    below = score_text("cat sat", "cat ran", threshold=0.51, embed=bag_of_words)
    rouge = score_text("the cat sat on the mat", "the cat sat on a mat")

    assert at.agree and at.details["metric"] == "cosine"
    assert not below.agree and below.details["failures"] == ["similarity below threshold"]
    assert rouge.details["metric"] == "rouge_l" and rouge.details["threshold"] == 0.5
    assert rouge.details["similarity"] == pytest.approx(5 / 6) and rouge.agree


def test_summary_has_the_mean_similarity_and_its_interval() -> None:
    scores = [score_text("a b", "a b"), score_text("a b", "c d"), score_text("a b c d", "a b x y")]

    summary = summarise_text(scores)

    assert summary["metric"] == "rouge_l"
    assert summary["mean_similarity"] == pytest.approx(0.5)
    assert 0.0 <= summary["mean_similarity_low"] < 0.5 < summary["mean_similarity_high"] <= 1.0


def test_a_batch_is_scored_with_one_call_of_the_embedder_against_the_threshold() -> None:
    seen: list[list[str]] = []

    def embed(texts: list[str]) -> np.ndarray:
        seen.append(texts)
        return bag_of_words(texts)

    scores = score_texts([("cat sat", "cat sat"), ("cat sat", "cat ran"), ("cat", "dog")], metric="cosine", embed=embed)

    assert seen == [["cat sat", "cat sat", "cat sat", "cat ran", "cat", "dog"]]
    assert [s.agree for s in scores] == [True, False, False]  # 1.0, 0.5 and 0.0 against cosine's 0.85
    assert [s.details["similarity"] for s in scores] == pytest.approx([1.0, 0.5, 0.0])
    assert {(s.details["metric"], s.details["threshold"]) for s in scores} == {("cosine", 0.85)}
    lenient = score_texts([("cat sat", "cat ran")], metric="cosine", threshold=0.5, embed=embed)
    assert lenient[0].agree and lenient[0].details["threshold"] == 0.5


def test_a_batch_by_rouge_l_needs_no_embedder_and_cosine_does() -> None:
    scores = score_texts([("the cat sat on the mat", "the cat sat on a mat"), ("a b", "c d")], metric="rouge_l")
    assert [s.agree for s in scores] == [True, False]
    assert scores[0].details["similarity"] == pytest.approx(5 / 6) and scores[0].details["threshold"] == 0.5
    with pytest.raises(ValueError, match="embed function"):
        score_texts([("a", "b")], metric="cosine")
    with pytest.raises(ValueError, match="judge"):
        score_texts([("a", "b")], metric="judge")


def test_the_summary_names_the_metric_and_threshold_and_for_the_judge_its_mean_score() -> None:
    cosine = summarise_text(score_texts([("cat", "cat")], metric="cosine", threshold=0.9, embed=bag_of_words))
    assert (cosine["metric"], cosine["threshold"], cosine["mean_similarity"]) == ("cosine", 0.9, pytest.approx(1.0))
    assert "mean_judge_score" not in cosine

    judged = [score_judged('{"score": 5}'), score_judged('{"score": 3}'), score_judged("no idea")]
    summary = summarise_text(judged)

    assert (summary["metric"], summary["threshold"]) == ("judge", 0.8)
    assert summary["mean_judge_score"] == pytest.approx(4.0)  # the unreadable answer is left out of the means
    assert summary["mean_similarity"] == pytest.approx(0.8) and summary["judge_unreadable"] == 1
