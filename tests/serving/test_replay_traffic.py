"""manage.py replay_traffic sends the sample's calls through the gateway to a stand-in LLM it starts and
registers once, and counts where they were answered."""

import json
import os
import re
import signal
import socket
import threading
from io import StringIO

import httpx
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.evaluation.models import ModelEndpoint
from apps.evaluation.services import endpoint_create
from apps.projects.models import ApiKey, Project
from apps.projects.services import api_key_create
from apps.serving.management.commands.replay_traffic import KEY_NAME
from apps.serving.standin import FINGERPRINT, STANDIN_NAME, StandIn, load
from tests.conftest import SAMPLE_PATH
from tests.serving.gateway import GatewayServer, logged, until


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _replay(gateway: str, project: Project, **options: object) -> str:
    out = StringIO()
    call_command("replay_traffic", project=project.slug, gateway=gateway, stdout=out, **options)
    return out.getvalue()


def test_the_calls_go_through_the_gateway_to_the_stand_in_and_are_counted(
    gateway: GatewayServer, project: Project
) -> None:
    output = _replay(gateway.url, project, calls=40, rate=200, standin_port=0, every=10)

    assert "summary: 40 calls answered of 40 sent" in output
    assert "routes: llm 40\n" in output
    assert "errors: none" in output
    assert output.count("answered · llm") == 4  # a progress line every 10 answers
    assert until(lambda: logged() == 40)
    endpoint = ModelEndpoint.objects.get(project=project, upstream=True)
    assert endpoint.name == STANDIN_NAME
    assert endpoint.models == ["*"]


def test_running_twice_registers_one_endpoint_and_keeps_one_key(gateway: GatewayServer, project: Project) -> None:
    port = _free_port()
    first = _replay(gateway.url, project, calls=5, rate=100, standin_port=port)
    second = _replay(gateway.url, project, calls=5, rate=100, standin_port=port)

    assert "routes: llm 5\n" in first and "routes: llm 5\n" in second
    assert ModelEndpoint.objects.filter(project=project).count() == 1
    keys = ApiKey.objects.filter(project=project, name=KEY_NAME)
    assert keys.count() == 2 and keys.filter(revoked_at__isnull=True).count() == 1
    assert keys.get(revoked_at__isnull=True).scopes == ["gateway"]


def test_the_stand_in_follows_to_another_port(gateway: GatewayServer, project: Project) -> None:
    _replay(gateway.url, project, calls=2, rate=100, standin_port=_free_port())
    port = _free_port()
    output = _replay(gateway.url, project, calls=5, rate=100, standin_port=port)

    assert ModelEndpoint.objects.get(project=project).base_url == f"http://127.0.0.1:{port}/v1"
    assert "summary: 5 calls answered of 5 sent" in output


def test_a_project_with_its_own_upstream_keeps_it(gateway: GatewayServer, project: Project) -> None:
    endpoint_create(
        project=project, name="openai", base_url="http://127.0.0.1:9/v1", model="gpt-4o", upstream=True, models=["*"]
    )
    output = _replay(gateway.url, project, calls=3, rate=100, standin_port=0)

    assert "the project's own upstream endpoint (openai) answers the calls" in output
    assert not ModelEndpoint.objects.filter(name=STANDIN_NAME).exists()
    assert "errors: HTTP 502 3" in output
    assert "is unreachable" in output


def test_an_unreachable_gateway_says_how_to_start_it(project: Project) -> None:
    with pytest.raises(CommandError, match=r"Start it: uvicorn controlplane\.asgi:application"):
        _replay(f"http://127.0.0.1:{_free_port()}", project, calls=1)
    assert not ApiKey.objects.filter(project=project).exists()


def test_an_unknown_project_is_a_clear_error(db: None) -> None:
    with pytest.raises(CommandError, match="No project 'nope'"):
        call_command("replay_traffic", project="nope", stdout=StringIO())


def test_a_stand_in_already_running_is_registered_and_its_label_reaches_the_agent(
    gateway: GatewayServer, project: Project
) -> None:
    with StandIn(load(SAMPLE_PATH)) as standin:
        output = _replay(gateway.url, project, calls=3, rate=100, upstream_url=standin.base_url)
        assert standin.served == 3
        _, secret = api_key_create(project=project, name="agent", scopes=["gateway"])
        request = json.loads(SAMPLE_PATH.read_text().splitlines()[0])["request"]
        response = httpx.post(
            f"{gateway.url}/v1/chat/completions", json=request, headers={"Authorization": f"Bearer {secret}"}
        )

    assert "routes: llm 3\n" in output
    assert ModelEndpoint.objects.get(project=project, upstream=True).base_url == standin.base_url
    assert response.headers["x-downshift-route"] == "llm"
    assert response.json()["system_fingerprint"] == FINGERPRINT


def test_ctrl_c_stops_the_replay_with_a_summary_and_frees_the_stand_ins_port(
    gateway: GatewayServer, project: Project
) -> None:
    port = _free_port()
    interrupt = threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGINT))
    interrupt.start()
    try:
        output = _replay(gateway.url, project, calls=10_000, rate=50, standin_port=port)
    finally:
        interrupt.cancel()

    assert "stopped" in output
    sent = int(re.search(r"of (\d+) sent", output).group(1))  # type: ignore[union-attr]
    assert 0 < sent < 10_000
    StandIn({}, port=port).server.server_close()  # the port is free for the next run
