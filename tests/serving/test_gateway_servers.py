"""The gateway's routes on both kinds of server: uvicorn's fast path (apps.serving.gateway.asgi, before
Django's handler) and Django's own views (a WSGI server, here the test client), which answer the same."""

import httpx
import orjson
import pytest
from django.test import Client

from apps.evaluation.models import ModelEndpoint
from apps.projects.models import Project
from apps.projects.services import api_key_create
from tests.serving.gateway import GatewayServer, logged

pytestmark = pytest.mark.django_db(transaction=True)

BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
def secret(project: Project, upstream: ModelEndpoint) -> str:
    return api_key_create(project=project, name="agent", scopes=["gateway"])[1]


def test_the_fast_path_answers_a_wrong_method_and_leaves_other_paths_to_django(
    gateway: GatewayServer, secret: str
) -> None:
    wrong = httpx.get(f"{gateway.url}/v1/chat/completions", headers={"Authorization": f"Bearer {secret}"})
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    assert httpx.get(f"{gateway.url}/healthz").status_code == 200  # Django's own route, through the same app
    assert httpx.get(f"{gateway.url}/v1/nothing-here").status_code == 404


def test_django_views_answer_the_same_calls_under_wsgi_streamed_whole(
    gateway: GatewayServer, secret: str, client: Client
) -> None:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    plain = client.post("/v1/chat/completions", orjson.dumps(BODY), content_type="application/json", **auth)
    assert plain.status_code == 200 and plain["x-downshift-route"] == "llm"
    assert plain.json()["choices"][0]["message"]["content"] == "positive"

    streamed = client.post(
        "/v1/chat/completions", orjson.dumps(BODY | {"stream": True}), content_type="application/json", **auth
    )
    assert streamed.status_code == 200 and streamed["content-type"].startswith("text/event-stream")
    assert streamed.content.rstrip().endswith(b"data: [DONE]")
    # Both records were written before the responses left: the view's event loop ends with the request.
    assert logged() == 2

    models = client.get("/v1/models", **auth)
    assert models.status_code == 200 and [m["id"] for m in models.json()["data"]] == ["gpt-4o"]
    assert client.get("/v1/models").status_code == 401
