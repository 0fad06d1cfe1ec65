"""The evaluation job on a free-text task, by each text metric: an LLM judge on the fake OpenAI-compatible
server, the real MiniLM embedder for cosine, and ROUGE-L."""

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from apps.calls.models import Call
from apps.discovery.models import TaskCluster
from apps.evaluation import services
from apps.evaluation.models import Evaluation, EvaluationResult, ModelEndpoint
from apps.evaluation.scoring import answer_text
from apps.evaluation.scoring.text import rouge_l_f1
from apps.projects.models import Project
from tests.evaluation.conftest import key_of, references, run, sample_task, task_calls
from tests.evaluation.fake_openai import FakeOpenAI, Judging, Oracle, error

pytestmark = pytest.mark.django_db
JUDGE_MODEL = "judge-7b"


@pytest.fixture
def text_task(project: Project, sample_records: list[dict[str, Any]], settings: Any) -> TaskCluster:
    """A TL;DR task whose test split is 8 of its calls."""
    settings.EVALUATION_TEST_FRACTION = 1.0
    settings.EVALUATION_TEST_CALLS = 8
    return sample_task(project, sample_records, "summarization_tldr", output_kind="text", labels=[])


@pytest.fixture
def judge(project: Project, fake_openai: FakeOpenAI) -> ModelEndpoint:
    return services.endpoint_create(project=project, name="judge", base_url=fake_openai.base_url, model=JUDGE_MODEL)


def split_calls(text_task: TaskCluster) -> list[Call]:
    split = services.test_split_freeze(cluster=text_task)
    by_id = {str(c.id): c for c in task_calls(text_task)}
    return [by_id[uid] for uid in split.call_ids]


def results_by_call(evaluation: Evaluation) -> dict[Any, EvaluationResult]:
    return {r.call_id: r for r in EvaluationResult.objects.filter(evaluation=evaluation)}


def test_agreement_follows_the_judges_scores_against_the_threshold(
    text_task: TaskCluster, endpoint: ModelEndpoint, judge: ModelEndpoint, fake_openai: FakeOpenAI
) -> None:
    calls = split_calls(text_task)
    wrong = calls[6:]  # the candidate answers "I am not sure." to two calls, the LLM's answer to the others
    grades = {answer_text(c.response): grade for c, grade in zip(calls, [5, 5, 4, 4, 3], strict=False)}
    grades[answer_text(calls[5].response)] = 0  # an answer the judge garbles

    def grade(reference: str, candidate: str) -> str:
        score = 1 if candidate == "I am not sure." else grades[reference]
        if score == 0:
            return "The candidate is fine, I think."
        return f'Sure! ```json\n{{"score": {score}, "reason": "graded {score}"}}\n```'

    fake_openai.respond = Judging(
        Oracle(references(text_task), wrong={key_of(c) for c in wrong}), grade, judge_model=JUDGE_MODEL
    )
    services.task_scoring_set(cluster=text_task, text_metric="judge", judge_endpoint=judge)
    evaluation = run(services.evaluation_create(cluster=text_task, endpoint=endpoint))

    assert evaluation.status == "succeeded", evaluation.error
    assert (evaluation.text_metric, evaluation.text_threshold, evaluation.judge_endpoint_id) == ("judge", 0.8, judge.id)
    assert (evaluation.calls_done, evaluation.agreed, evaluation.agreement) == (8, 4, 0.5)  # the 5s and the 4s
    results = results_by_call(evaluation)
    assert [results[c.id].agree for c in calls] == [True, True, True, True, False, False, False, False]
    assert results[calls[2].id].details["judge_score"] == 4 and results[calls[2].id].reason == "match"
    assert results[calls[2].id].details["judge_reason"] == "graded 4"
    assert results[calls[4].id].reason == "similarity below threshold"
    assert results[calls[5].id].reason == "judge answer unreadable"
    assert results[calls[5].id].details["judge_answer"] == "The candidate is fine, I think."
    assert results[calls[6].id].details["similarity"] == pytest.approx(0.2)
    metrics = evaluation.metrics
    assert (metrics["metric"], metrics["threshold"], metrics["judge_unreadable"]) == ("judge", 0.8, 1)
    assert metrics["mean_judge_score"] == pytest.approx((5 + 5 + 4 + 4 + 3 + 1 + 1) / 7)
    assert ["judge answer unreadable", 1] in metrics["failure_groups"]

    judged = [r for r in fake_openai.chat_requests() if r.body["model"] == JUDGE_MODEL]
    assert len(judged) == 8 and {r.body["temperature"] for r in judged} == {0}
    assert {r.body["messages"][0]["role"] for r in judged} == {"system"}
    assert sorted(fake_openai.respond.judged) == sorted(  # type: ignore[attr-defined]
        (answer_text(c.response), answer_text(c.response) if c not in wrong else "I am not sure.") for c in calls
    )

    strict = services.task_scoring_set(cluster=text_task, text_metric="judge", text_threshold=1.0, judge_endpoint=judge)
    assert strict.text_threshold == 1.0
    only_fives = run(services.evaluation_create(cluster=text_task, endpoint=endpoint))
    assert (only_fives.text_threshold, only_fives.agreed) == (1.0, 2)


def test_a_judge_that_stays_down_fails_the_evaluation_saying_it_was_the_judge(
    text_task: TaskCluster, endpoint: ModelEndpoint, judge: ModelEndpoint, fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.EVALUATION_RETRIES = 1
    candidate = Oracle(references(text_task))
    fake_openai.respond = lambda body: error(503, "overloaded") if body["model"] == JUDGE_MODEL else candidate(body)
    services.task_scoring_set(cluster=text_task, text_metric="judge", judge_endpoint=judge)
    evaluation = run(services.evaluation_create(cluster=text_task, endpoint=endpoint))

    assert evaluation.status == "failed"
    assert evaluation.error.startswith("The judge endpoint failed: judge (")
    assert "answered HTTP 503 (overloaded) on each of 2 tries" in evaluation.error
    assert not EvaluationResult.objects.filter(evaluation=evaluation).exists()


def test_cosine_with_the_real_minilm_embedder_one_batch_per_window(
    text_task: TaskCluster,
    endpoint: ModelEndpoint,
    oracle: Callable[..., Oracle],
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workers.jobs import embedding

    settings.EVALUATION_TEST_CALLS = 4
    settings.EVALUATION_CONCURRENCY = 2
    batches: list[int] = []
    real = embedding.embed

    def spy(texts: Any, progress: Any = None) -> np.ndarray:
        batches.append(len(texts))
        return real(texts, progress)

    monkeypatch.setattr(embedding, "embed", spy)
    calls = split_calls(text_task)
    oracle(text_task, wrong=calls[1:2])  # one answer of four is "I am not sure."
    evaluation = run(services.evaluation_create(cluster=text_task, endpoint=endpoint))  # cosine: the default

    assert evaluation.status == "succeeded", evaluation.error
    assert (evaluation.text_metric, evaluation.text_threshold) == ("cosine", 0.85)
    assert batches == [4, 4]  # two windows of two calls: reference and output of each
    results = results_by_call(evaluation)
    assert [results[c.id].agree for c in calls] == [True, False, True, True]
    assert all(results[c.id].details["similarity"] == pytest.approx(1.0, abs=1e-5) for c in calls if c != calls[1])
    assert results[calls[1].id].details["similarity"] < 0.5
    assert (evaluation.metrics["metric"], evaluation.metrics["threshold"]) == ("cosine", 0.85)
    assert evaluation.agreement == 0.75


def test_rouge_l_needs_no_model_and_uses_the_tasks_threshold(
    text_task: TaskCluster, endpoint: ModelEndpoint, oracle: Callable[..., Oracle]
) -> None:
    calls = split_calls(text_task)
    full = answer_text(calls[0].response)
    first = full.split()
    # The first half of an answer: ROUGE-L F1 near 2/3. Its tokens are not the whitespace words (punctuation
    # and numbers split), so a word more is dropped while it would reach the 0.7 threshold: which answer
    # comes first depends on the test split, which depends on the calls' random ids.
    cut = len(first) // 2
    while rouge_l_f1(full, " ".join(first[:cut])) >= 0.65:
        cut -= 1
    half = " ".join(first[:cut])
    oracle(text_task, wrong=calls[:1], wrong_answer={"content": half})
    services.task_scoring_set(cluster=text_task, text_metric="rouge_l", text_threshold=0.7)
    evaluation = run(services.evaluation_create(cluster=text_task, endpoint=endpoint))

    assert evaluation.status == "succeeded", evaluation.error
    assert (evaluation.text_metric, evaluation.text_threshold, evaluation.agreed) == ("rouge_l", 0.7, 7)
    result = results_by_call(evaluation)[calls[0].id]
    expected = rouge_l_f1(answer_text(calls[0].response), half)
    assert 0.4 < expected < 0.7 and result.details["similarity"] == pytest.approx(expected)
    assert not result.agree and result.reason == "similarity below threshold"
    assert (evaluation.metrics["metric"], evaluation.metrics["threshold"]) == ("rouge_l", 0.7)
