"""A call from a call site the gateway has never seen: the CPU backend (serve_specialists) embeds it and the
nearest task centre decides, as discovery would have placed it; nothing near, or no backend to embed, and
the call goes to the LLM with no task. The gateway itself loads no model."""

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from openai import OpenAI

from apps.calls.models import Call
from apps.discovery.models import TaskCluster
from apps.discovery.routing import NearestCentre
from apps.projects.models import Project
from apps.serving.gateway.state import cache
from apps.serving.tasks import gateway_log_drain_task
from tests.serving.gateway import logged, until
from tests.specialists.selection_helpers import make_task
from workers.jobs.embedding import embed

pytestmark = pytest.mark.django_db(transaction=True)

REVIEWS = [
    "The blender broke after two days and support never answered my emails.",
    "Absolutely love these headphones, the sound is rich and the battery lasts forever.",
    "The hotel room was dirty and the staff were rude when we complained.",
]
SQL = [
    "List the ten customers with the highest total order value in 2025.",
    "How many orders were shipped late per warehouse last month?",
    "Show every product whose stock is below its reorder level.",
]


def request(system: str, user: str) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]}


def centre_of(requests: Sequence[dict[str, Any]]) -> list[float]:
    """The task's centre as discovery keeps it: the mean of its calls' joined vectors, unit length."""
    vectors = []
    for body in requests:
        texts = NearestCentre.texts(body)
        vectors.append(NearestCentre.join(texts, embed(texts)))
    mean = np.mean(vectors, axis=0)
    return [float(v) for v in mean / np.linalg.norm(mean)]


@pytest.fixture
def tasks(project: Project) -> tuple[TaskCluster, TaskCluster]:
    reviews = make_task(
        project,
        centroid=centre_of([request("Classify the sentiment of this review.", text) for text in REVIEWS]),
        threshold=0.55,
    )
    sql = make_task(
        project,
        output_kind="sql",
        labels=[],
        centroid=centre_of([request("Write one PostgreSQL query for the question.", text) for text in SQL]),
        threshold=0.55,
    )
    cache().invalidate()
    return reviews, sql


def ask(agent: OpenAI, body: dict[str, Any]) -> tuple[str, str]:
    raw = agent.chat.completions.with_raw_response.create(**body)
    raw.parse()
    return raw.headers["x-downshift-route"], raw.headers["x-downshift-task"]


def test_a_new_call_site_is_placed_by_the_nearest_task_centre(
    local_backend: str, agent: OpenAI, tasks: tuple[TaskCluster, TaskCluster]
) -> None:
    reviews, sql = tasks
    # System prompts no stored call has: both call sites are new to the router.
    review = request("You rate customer feedback as positive or negative.", "The shoes fell apart within a week.")
    query = request("Translate the analyst's question into SQL.", "Which suppliers delivered late more than twice?")
    unrelated = request("You are a poet.", "Write a haiku about autumn leaves drifting over a quiet pond.")

    assert ask(agent, review) == ("llm", str(reviews.id))
    assert ask(agent, query) == ("llm", str(sql.id))
    assert ask(agent, unrelated) == ("llm", "none")  # near no centre: drift, not a guess

    until(lambda: logged() == 3)
    assert gateway_log_drain_task() == 3
    by = {c.metadata["downshift_task"]: c.metadata for c in Call.objects.filter(metadata__has_key="downshift_route")}
    assert by[str(reviews.id)]["downshift_task_by"] == by[str(sql.id)]["downshift_task_by"] == "embedding"
    assert "downshift_task_by" not in by["none"]


def test_without_a_backend_to_embed_a_new_call_site_goes_to_the_llm_with_no_task(
    settings: Any, agent: OpenAI, tasks: tuple[TaskCluster, TaskCluster]
) -> None:
    settings.SERVING_LOCAL_BACKEND_URL = "http://127.0.0.1:9/v1"  # nothing listens there
    cache().invalidate()
    review = request("You rate customer feedback as positive or negative.", "The shoes fell apart within a week.")
    route, task = ask(agent, review)
    assert (route, task) == ("llm", "none")


def test_the_cpu_backend_embeds_as_discovery_does(local_backend: str) -> None:
    import httpx

    texts = ["The shoes fell apart within a week.", "Which suppliers delivered late more than twice?"]
    answer = httpx.post(f"{local_backend}/embeddings", json={"input": texts, "model": "all-MiniLM-L6-v2"}).json()
    got = np.array([item["embedding"] for item in answer["data"]], dtype=np.float32)
    assert got.shape == (2, 384)
    assert np.allclose(got, embed(texts), atol=1e-5)
    bad = httpx.post(f"{local_backend}/embeddings", json={"input": [1, 2]})
    assert bad.status_code == 400 and "input" in bad.json()["error"]["message"]
