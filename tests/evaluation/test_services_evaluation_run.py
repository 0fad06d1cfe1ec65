"""The evaluation job against a real HTTP endpoint (the fake OpenAI-compatible server): what it sends, how
it scores and sums up, how it fails, stops and resumes."""

from collections.abc import Callable
from copy import deepcopy
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from apps.calls.models import Call
from apps.discovery.models import TaskCluster
from apps.evaluation import execution, services
from apps.evaluation.models import Evaluation, EvaluationResult, ModelEndpoint
from apps.evaluation.scoring.stats import calls_to_settle
from apps.jobs import services as jobs
from apps.projects.models import Project
from tests.evaluation.conftest import API_KEY, TASK_CALLS, key_of, references, run, sample_task, task_calls
from tests.evaluation.fake_openai import FakeOpenAI, Oracle, Reply, error, messages_key
from tests.specialists.selection_helpers import make_task, stored

pytestmark = pytest.mark.django_db


class WorkerKilled(BaseException):
    """Like SIGKILL: none of the job's own error handling runs."""


@pytest.fixture
def whole_task(settings: Any) -> None:
    """Every call of the task in its test split, so the test knows which calls are scored."""
    settings.EVALUATION_TEST_FRACTION = 1.0


def test_agreement_and_its_interval_cover_the_share_the_endpoint_gets_right(
    whole_task: None, sentiment_task: TaskCluster, endpoint: ModelEndpoint, oracle: Callable[..., Oracle]
) -> None:
    calls = task_calls(sentiment_task)
    wrong = calls[::4]  # 10 of 40: the endpoint agrees on 75% of the calls
    oracle(sentiment_task, wrong=wrong)
    evaluation = run(services.evaluation_create(cluster=sentiment_task, endpoint=endpoint))

    assert evaluation.status == "succeeded", evaluation.error
    assert (evaluation.test_calls, evaluation.calls_done, evaluation.agreed) == (TASK_CALLS, TASK_CALLS, 30)
    assert evaluation.agreement == 0.75
    assert evaluation.agreement_low < 0.75 < evaluation.agreement_high  # type: ignore[operator]
    assert 0.55 < evaluation.agreement_low < 0.65 and 0.83 < evaluation.agreement_high < 0.9  # type: ignore[operator]
    assert (evaluation.verdict, evaluation.target, evaluation.calls_to_settle) == ("not_ready", 0.95, None)
    assert evaluation.message.startswith("Agreement 75.0% (95% interval ")
    assert evaluation.message.endswith("test calls: not ready for the 95% target")
    assert evaluation.metrics["calls"] == TASK_CALLS and evaluation.metrics["accuracy"] == 0.75
    results = {r.call_id: r for r in EvaluationResult.objects.filter(evaluation=evaluation)}
    assert {call_id for call_id, r in results.items() if not r.agree} == {c.id for c in wrong}
    some_wrong = results[wrong[0].id]
    assert some_wrong.reason.startswith("wrong label")
    assert some_wrong.output == {"role": "assistant", "content": "I am not sure."}
    assert some_wrong.reference == wrong[0].response
    assert all(r.latency_ms > 0 and (r.input_tokens, r.output_tokens) == (80, 4) for r in results.values())


def test_latency_tokens_and_cost_per_thousand_calls_against_the_llms(
    whole_task: None, sentiment_task: TaskCluster, endpoint: ModelEndpoint, oracle: Callable[..., Oracle]
) -> None:
    oracle(sentiment_task)
    evaluation = run(services.evaluation_create(cluster=sentiment_task, endpoint=endpoint))
    assert evaluation.status == "succeeded", evaluation.error
    assert 0 < evaluation.latency_p50_ms <= evaluation.latency_p95_ms  # type: ignore[operator]
    assert evaluation.output_tokens == 4 * TASK_CALLS and evaluation.metrics["output_tokens_mean"] == 4
    # (80 input tokens x $0.1 + 4 output tokens x $0.2) per million, x 1000 calls
    assert evaluation.cost_per_1k_calls == Decimal("0.008800")
    calls = task_calls(sentiment_task)
    llm = sum((c.cost for c in calls if c.cost is not None), Decimal(0)) / len(calls) * 1000
    assert evaluation.llm_cost_per_1k_calls == llm.quantize(Decimal("0.000001")) > 0
    assert evaluation.metrics["llm"]["latency_p50_ms"] > 0


def test_an_endpoint_priced_per_hour_costs_its_latency(
    whole_task: None,
    project: Project,
    sentiment_task: TaskCluster,
    fake_openai: FakeOpenAI,
    oracle: Callable[..., Oracle],
) -> None:
    oracle(sentiment_task)
    hourly = services.endpoint_create(
        project=project, name="hourly", base_url=fake_openai.base_url, model="m", price_per_hour=Decimal("3.6")
    )
    evaluation = run(services.evaluation_create(cluster=sentiment_task, endpoint=hourly))
    mean_ms = sum(r.latency_ms for r in evaluation.results.all()) / TASK_CALLS
    # $3.6 an hour is $0.001 a second: a call of mean_ms costs mean_ms / 1000 * 0.001 dollars.
    assert float(evaluation.cost_per_1k_calls) == pytest.approx(mean_ms / 1000 * 0.001 * 1000, abs=1e-6)  # type: ignore[arg-type]
    assert "per hour" in evaluation.metrics["cost_basis"]


def test_a_perfect_endpoint_on_too_few_calls_is_inconclusive_and_says_how_many_would_settle_it(
    whole_task: None, sentiment_task: TaskCluster, endpoint: ModelEndpoint, oracle: Callable[..., Oracle]
) -> None:
    oracle(sentiment_task)
    evaluation = run(services.evaluation_create(cluster=sentiment_task, endpoint=endpoint))
    assert (evaluation.agreement, evaluation.verdict) == (1.0, "inconclusive")
    settle = calls_to_settle(TASK_CALLS, TASK_CALLS, 0.95)
    assert settle is not None and evaluation.calls_to_settle == settle > TASK_CALLS
    assert f"about {evaluation.calls_to_settle:,} test calls would settle it" in evaluation.message
    ready = run(services.evaluation_create(cluster=sentiment_task, endpoint=endpoint, target=0.8))
    assert (ready.verdict, ready.calls_to_settle) == ("ready", None)


def test_it_sends_the_calls_own_request_to_the_endpoints_model_at_temperature_0_with_the_key_as_bearer(
    whole_task: None,
    project: Project,
    sample_records: list[dict[str, Any]],
    endpoint: ModelEndpoint,
    fake_openai: FakeOpenAI,
    oracle: Callable[..., Oracle],
) -> None:
    task = sample_task(project, sample_records, "function_calling", output_kind="tool_calls", labels=[])
    oracle(task)
    evaluation = run(services.evaluation_create(cluster=task, endpoint=endpoint))
    assert evaluation.status == "succeeded", evaluation.error
    assert evaluation.agreement == 1.0 and evaluation.metrics["function_name_accuracy"] == 1.0

    sent = fake_openai.chat_requests()
    assert len(sent) == TASK_CALLS
    assert {r.headers["authorization"] for r in sent} == {f"Bearer {API_KEY}"}
    by_key = {key_of(call): call for call in task_calls(task)}
    for request in sent:
        call = by_key[messages_key(request.body["messages"])]
        assert request.body == {
            "model": "qwen2.5-0.5b-instruct",
            "messages": call.request["messages"],
            "tools": call.request["tools"],
            "temperature": 0,
        }
    assert API_KEY not in str(Evaluation.objects.filter(id=evaluation.id).values().get())


def test_a_json_task_is_sent_its_response_format_but_not_the_llms_sampling(
    whole_task: None,
    project: Project,
    sample_records: list[dict[str, Any]],
    endpoint: ModelEndpoint,
    fake_openai: FakeOpenAI,
    oracle: Callable[..., Oracle],
) -> None:
    schema = {"type": "object", "additionalProperties": {"type": ["string", "number", "null"]}}
    response_format = {"type": "json_schema", "json_schema": {"name": "slots", "schema": schema}}
    records = deepcopy([r for r in sample_records if r["task"] == "slot_filling_json"][:TASK_CALLS])
    for record in records:
        record["request"] |= {"response_format": response_format, "temperature": 0.7, "max_tokens": 300, "n": 2}
    task = make_task(project, calls=stored(project, records), output_kind="json", labels=[])
    oracle(task)
    evaluation = run(services.evaluation_create(cluster=task, endpoint=endpoint))
    assert evaluation.status == "succeeded", evaluation.error
    assert evaluation.agreement == 1.0 and evaluation.metrics["parse_rate"] == 1.0
    sent = fake_openai.chat_requests()
    assert len(sent) == TASK_CALLS
    for request in sent:
        assert set(request.body) == {"model", "messages", "response_format", "temperature"}
        assert (request.body["response_format"], request.body["temperature"]) == (response_format, 0)


def test_a_bad_key_fails_the_job_at_once_with_what_to_do_and_without_the_key(
    sentiment_task: TaskCluster, endpoint: ModelEndpoint, fake_openai: FakeOpenAI, settings: Any
) -> None:
    fake_openai.respond = lambda body: error(401, f"Incorrect API key provided: {API_KEY}")
    evaluation = run(services.evaluation_create(cluster=sentiment_task, endpoint=endpoint))
    assert evaluation.status == "failed"
    assert evaluation.error.startswith(f"qwen-small ({fake_openai.base_url}/chat/completions) refused the API key")
    assert "HTTP 401" in evaluation.error and "Add the endpoint again with a valid key" in evaluation.error
    assert API_KEY not in evaluation.error and "<api key>" in evaluation.error
    assert len(fake_openai.chat_requests()) <= settings.EVALUATION_CONCURRENCY  # a 401 is never retried
    assert not evaluation.results.exists()


def test_an_unknown_model_fails_the_job_pointing_at_the_url_and_the_model(
    sentiment_task: TaskCluster, endpoint: ModelEndpoint, fake_openai: FakeOpenAI
) -> None:
    fake_openai.respond = lambda body: error(404, "The model `qwen2.5-0.5b-instruct` does not exist.")
    evaluation = run(services.evaluation_create(cluster=sentiment_task, endpoint=endpoint))
    assert evaluation.status == "failed"
    assert "HTTP 404" in evaluation.error and "check the base URL" in evaluation.error
    assert "'qwen2.5-0.5b-instruct'" in evaluation.error and "(test call " in evaluation.error


def test_transient_errors_are_retried_and_the_job_goes_on(
    whole_task: None,
    sentiment_task: TaskCluster,
    endpoint: ModelEndpoint,
    fake_openai: FakeOpenAI,
    settings: Any,
) -> None:
    settings.EVALUATION_CONCURRENCY = 1
    answers = Oracle(references(sentiment_task))
    failures = iter([error(503, "loading the model"), error(429, "slow down", **{"Retry-After": "0"})])
    fake_openai.respond = lambda body: next(failures, None) or answers(body)
    evaluation = run(services.evaluation_create(cluster=sentiment_task, endpoint=endpoint))
    assert evaluation.status == "succeeded", evaluation.error
    assert len(fake_openai.chat_requests()) == TASK_CALLS + 2
    assert evaluation.agreement == 1.0 and evaluation.results.count() == TASK_CALLS


def test_an_endpoint_that_stays_down_fails_the_job_after_the_bounded_retries(
    sentiment_task: TaskCluster, endpoint: ModelEndpoint, fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.EVALUATION_CONCURRENCY = 1
    settings.EVALUATION_RETRIES = 2
    fake_openai.respond = lambda body: error(503, "overloaded")
    evaluation = run(services.evaluation_create(cluster=sentiment_task, endpoint=endpoint))
    assert evaluation.status == "failed"
    assert "answered HTTP 503 (overloaded) on each of 3 tries" in evaluation.error
    assert "check that it is up" in evaluation.error
    assert len(fake_openai.chat_requests()) == 3


def test_an_answer_that_is_not_a_chat_completion_fails_the_job(
    sentiment_task: TaskCluster, endpoint: ModelEndpoint, fake_openai: FakeOpenAI
) -> None:
    fake_openai.respond = lambda body: Reply(200, {"result": "positive"})
    evaluation = run(services.evaluation_create(cluster=sentiment_task, endpoint=endpoint))
    assert evaluation.status == "failed" and "not a chat completion" in evaluation.error


def test_cancel_stops_it_after_the_calls_in_flight(
    whole_task: None,
    sentiment_task: TaskCluster,
    endpoint: ModelEndpoint,
    fake_openai: FakeOpenAI,
    oracle: Callable[..., Oracle],
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    oracle(sentiment_task)
    evaluation = services.evaluation_create(cluster=sentiment_task, endpoint=endpoint)
    original = jobs.job_progress
    reports = []

    def cancelled_after_the_first_calls(*, job: Any, **kwargs: Any) -> bool:
        reports.append(kwargs["fraction"])
        if len(reports) == 2:  # the first window of calls is stored: someone presses Cancel
            services.evaluation_cancel(evaluation=Evaluation.objects.get(id=job.id))
        return original(job=job, **kwargs)

    monkeypatch.setattr(jobs, "job_progress", cancelled_after_the_first_calls)
    evaluation = run(evaluation)
    assert (evaluation.status, evaluation.message) == ("cancelled", "Cancelled on request")
    window = settings.EVALUATION_CONCURRENCY
    assert evaluation.results.count() == window and len(fake_openai.chat_requests()) == window


def test_a_queued_evaluation_cancelled_never_calls_the_endpoint(
    sentiment_task: TaskCluster, endpoint: ModelEndpoint, fake_openai: FakeOpenAI
) -> None:
    evaluation = services.evaluation_cancel(
        evaluation=services.evaluation_create(cluster=sentiment_task, endpoint=endpoint)
    )
    assert evaluation.status == "cancelled"
    evaluation = run(evaluation)
    assert evaluation.status == "cancelled" and fake_openai.chat_requests() == []


def test_a_resumed_evaluation_skips_the_calls_it_stored_and_never_stores_one_twice(
    whole_task: None,
    sentiment_task: TaskCluster,
    endpoint: ModelEndpoint,
    fake_openai: FakeOpenAI,
    oracle: Callable[..., Oracle],
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    calls = task_calls(sentiment_task)
    oracle(sentiment_task, wrong=calls[:5])
    evaluation = services.evaluation_create(cluster=sentiment_task, endpoint=endpoint)
    original = services.evaluation_results_add
    stores = []

    def killed_at_the_third_store(**kwargs: Any) -> bool:
        stores.append(len(kwargs["results"]))
        if len(stores) == 3:
            raise WorkerKilled
        return original(**kwargs)

    monkeypatch.setattr(services, "evaluation_results_add", killed_at_the_third_store)
    with pytest.raises(WorkerKilled):
        execution.evaluation_run(evaluation_id=evaluation.id)
    monkeypatch.setattr(services, "evaluation_results_add", original)
    evaluation.refresh_from_db()
    window = settings.EVALUATION_CONCURRENCY
    stored_first = set(evaluation.results.values_list("call_id", flat=True))
    assert (evaluation.status, evaluation.attempt, len(stored_first)) == ("running", 1, 2 * window)
    assert evaluation.calls_done == 2 * window
    asked_first = len(fake_openai.chat_requests())
    assert asked_first == 3 * window

    run(evaluation)  # its heartbeat is fresh: the job is still the first worker's
    assert (evaluation.status, evaluation.attempt) == ("running", 1)

    Evaluation.objects.filter(id=evaluation.id).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    with django_capture_on_commit_callbacks() as enqueued:
        assert jobs.jobs_sweep() == [str(evaluation.id)]
    assert len(enqueued) == 1  # requeued: sent to a worker again
    evaluation = run(evaluation)

    assert evaluation.status == "succeeded", evaluation.error
    assert evaluation.attempt == 2 and evaluation.calls_done == TASK_CALLS
    asked_again = {messages_key(r.body["messages"]) for r in fake_openai.chat_requests()[asked_first:]}
    assert len(asked_again) == TASK_CALLS - 2 * window  # the stored calls were not asked again
    assert not asked_again & {key_of(c) for c in calls if c.id in stored_first}
    assert EvaluationResult.objects.filter(evaluation=evaluation).count() == TASK_CALLS
    assert (evaluation.agreed, evaluation.agreement) == (TASK_CALLS - 5, (TASK_CALLS - 5) / TASK_CALLS)


def test_a_task_whose_test_calls_were_deleted_fails_saying_so(
    sentiment_task: TaskCluster, endpoint: ModelEndpoint, fake_openai: FakeOpenAI
) -> None:
    evaluation = services.evaluation_create(cluster=sentiment_task, endpoint=endpoint)
    split = services.test_split_freeze(cluster=sentiment_task)
    Call.objects.filter(id__in=split.call_ids).delete()
    evaluation = run(evaluation)
    assert evaluation.status == "failed" and "no longer exist" in evaluation.error
    assert fake_openai.chat_requests() == []
