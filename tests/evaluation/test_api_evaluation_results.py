"""GET /api/v1/evaluations/{id}/results: each scored call, both answers, in pages."""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from apps.discovery.models import TaskCluster
from apps.evaluation import services
from apps.evaluation.models import ModelEndpoint
from tests.evaluation.conftest import API_KEY, TASK_CALLS, run, task_calls
from tests.evaluation.fake_openai import Oracle

pytestmark = pytest.mark.django_db


def test_pages_through_the_scored_calls_with_both_answers(
    api_client: Client,
    sentiment_task: TaskCluster,
    endpoint: ModelEndpoint,
    oracle: Callable[..., Oracle],
    settings: Any,
) -> None:
    settings.EVALUATION_TEST_FRACTION = 1.0
    calls = task_calls(sentiment_task)
    wrong = calls[:6]
    oracle(sentiment_task, wrong=wrong)
    evaluation = run(services.evaluation_create(cluster=sentiment_task, endpoint=endpoint))
    url = f"/api/v1/evaluations/{evaluation.id}/results"

    seen: list[dict[str, Any]] = []
    cursor = ""
    while True:
        response = api_client.get(f"{url}?limit=15" + (f"&cursor={cursor}" if cursor else ""))
        assert response.status_code == 200
        page = response.json()
        seen += page["items"]
        if not page["next_cursor"]:
            break
        cursor = page["next_cursor"]
    assert len(seen) == TASK_CALLS and len({item["call"] for item in seen}) == TASK_CALLS

    by_call = {item["call"]: item for item in seen}
    one_wrong = by_call[str(wrong[0].id)]
    assert one_wrong["agree"] is False and one_wrong["reason"].startswith("wrong label")
    assert one_wrong["reference"] == wrong[0].response
    assert one_wrong["output"] == {"role": "assistant", "content": "I am not sure."}
    assert one_wrong["latency_ms"] > 0 and (one_wrong["input_tokens"], one_wrong["output_tokens"]) == (80, 4)
    right = by_call[str(calls[-1].id)]
    assert (right["agree"], right["reason"], right["output"]["content"]) == (
        True,
        "match",
        (calls[-1].response or {})["content"],
    )

    disagreements = api_client.get(f"{url}?agree=false").json()
    assert {item["call"] for item in disagreements["items"]} == {str(c.id) for c in wrong}
    assert API_KEY not in api_client.get(f"{url}?limit=200").content.decode()


def test_a_bad_cursor_or_limit_is_a_clear_4xx(api_client: Client, sentiment_task: TaskCluster, endpoint: Any) -> None:
    evaluation = services.evaluation_create(cluster=sentiment_task, endpoint=endpoint)
    url = f"/api/v1/evaluations/{evaluation.id}/results"
    assert api_client.get(f"{url}?cursor=not-ours").status_code == 400
    response = api_client.get(f"{url}?limit=0")
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "limit"
    assert api_client.get(url).json() == {"items": [], "next_cursor": None}
