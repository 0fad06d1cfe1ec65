"""The gateway's throttle: one key's flood is answered 429 (OpenAI's error shape, Retry-After) while another
key of the project is served."""

from typing import Any

import httpx

from apps.evaluation.models import ModelEndpoint
from apps.projects.models import Project
from apps.projects.services import api_key_create
from tests.serving.gateway import GatewayServer

BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello"}]}


def test_one_keys_flood_gets_429_while_another_key_is_served(
    gateway: GatewayServer, project: Project, upstream: ModelEndpoint, settings: Any
) -> None:
    settings.GATEWAY_REQUESTS_PER_KEY_PER_MINUTE = 10
    _, flood = api_key_create(project=project, name="flood", scopes=["gateway"])
    _, steady = api_key_create(project=project, name="steady", scopes=["gateway"])
    url = f"{gateway.url}/v1/chat/completions"
    with httpx.Client(timeout=10) as http:
        answers = [http.post(url, json=BODY, headers={"Authorization": f"Bearer {flood}"}) for _ in range(60)]
        served = [http.post(url, json=BODY, headers={"Authorization": f"Bearer {steady}"}) for _ in range(10)]
    assert all(a.status_code == 200 for a in answers[:10]) and all(a.status_code == 429 for a in answers[10:])
    refused = answers[-1]
    assert 0 < int(refused.headers["retry-after"]) <= 60
    error = refused.json()["error"]
    assert error["type"] == "requests" and error["code"] == "rate_limit_exceeded" and "try again" in error["message"]
    assert all(a.status_code == 200 for a in served)
