"""Labels agree after normalisation; accuracy, macro-F1, the confusion matrix and failure groups."""

import pytest

from apps.evaluation.scoring.label import label_metrics, normalise_label, score_label


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Positive", "positive"),
        ("  positive.\n", "positive"),
        ('"POSITIVE"', "positive"),
        ("`spam`!", "spam"),
        ("**Spam**", "spam"),
        ("«Billing»", "billing"),
        ("\u201cbilling\u201d", "billing"),
        ("+1", "+1"),
        ("-1", "-1"),
        ("C#", "c#"),
        ("(a)", "(a)"),
        ("\uff33\uff30\uff21\uff2d", "spam"),  # full-width letters: NFKC
        ("not   spam", "not spam"),
        ("not_spam", "not_spam"),
        ("", ""),
        ("...", ""),
    ],
)
def test_a_label_is_normalised(text: str, expected: str) -> None:
    assert normalise_label(text) == expected


def test_labels_that_differ_only_in_case_punctuation_or_quotes_agree() -> None:
    score = score_label("Refund", ' "refund." ')
    assert score.agree and score.reason == "match"
    assert score.details == {"failures": [], "reference": "refund", "output": "refund"}


def test_a_different_label_is_a_wrong_label_failure() -> None:
    score = score_label("Refund", "Billing")
    assert not score.agree
    assert score.reason == "wrong label refund->billing"
    assert score.details["failures"] == ["wrong label refund->billing"]


def test_inner_punctuation_still_counts() -> None:
    assert not score_label("not_spam", "not spam").agree


def test_an_empty_answer_is_named_in_the_failure() -> None:
    assert score_label("spam", "").reason == "wrong label spam->(empty)"


def test_metrics_over_pairs() -> None:
    pairs = [("spam", "spam"), ("spam", "Ham"), ("ham", "ham"), ("ham", "ham"), ("spam", "ham")]

    metrics = label_metrics(pairs)

    assert metrics["accuracy"] == pytest.approx(0.6)
    # spam: precision 1/1, recall 1/3 -> F1 0.5; ham: precision 2/4, recall 2/2 -> F1 2/3
    assert metrics["per_label_f1"] == pytest.approx({"spam": 0.5, "ham": 2 / 3})
    assert metrics["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert metrics["confusion"] == {"spam": {"spam": 1, "ham": 2}, "ham": {"ham": 2}}
    assert metrics["failure_groups"] == [["wrong label spam->ham", 2]]


def test_an_invented_label_lowers_macro_f1() -> None:
    pairs = [("a", "a"), ("b", "b"), ("b", "c")]

    found = label_metrics(pairs)
    closed = label_metrics(pairs, labels=["a", "b"])

    # seen labels a, b, c: F1 1, 2/3, 0 ; the closed set a, b leaves the invented c out
    assert found["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert closed["macro_f1"] == pytest.approx((1 + 2 / 3) / 2)


def test_metrics_of_no_pairs_are_unknown() -> None:
    metrics = label_metrics([])
    assert (metrics["accuracy"], metrics["macro_f1"], metrics["confusion"]) == (None, None, {})
