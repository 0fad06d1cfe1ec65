"""The API's throttle: a key's requests per minute, and an address's requests with a wrong key; 429 with
Retry-After in the API's error shape."""

import time
from typing import Any

from django.test import Client

from apps.projects.models import Project
from apps.projects.services import api_key_create


def _get(secret: str, address: str = "10.0.0.1") -> Any:
    return Client(REMOTE_ADDR=address).get("/api/v1/clusters", HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_a_flood_of_wrong_keys_from_one_address_is_answered_429(project: Project, settings: Any) -> None:
    settings.API_BAD_KEYS_PER_ADDRESS_PER_MINUTE = 30
    _, secret = api_key_create(project=project, name="agent")
    answers = [_get(f"ds_wrong{n}", address="10.0.0.66") for n in range(500)]
    assert all(a.status_code == 401 for a in answers[:30])
    assert all(a.status_code == 429 for a in answers[30:])
    last = answers[-1]
    assert 0 < int(last["Retry-After"]) <= 60
    assert last.json()["code"] == "throttled" and "wrong API key" in last.json()["message"]
    assert _get(secret, address="10.0.0.66").status_code == 429  # the address, whatever it sends
    assert _get(secret, address="10.0.0.2").status_code == 200


def test_a_keys_flood_is_answered_429_while_another_key_is_served(project: Project, settings: Any) -> None:
    settings.API_REQUESTS_PER_KEY_PER_MINUTE = 20
    # Counts live in whole-minute windows: start the flood well inside one, so no count resets halfway.
    if (left := 60 - time.time() % 60) < 20:
        time.sleep(left + 0.1)
    _, flood = api_key_create(project=project, name="flood")
    _, steady = api_key_create(project=project, name="steady")
    answers = [_get(flood) for _ in range(100)]
    assert all(a.status_code == 200 for a in answers[:20]) and all(a.status_code == 429 for a in answers[20:])
    assert 0 < int(answers[-1]["Retry-After"]) <= 60 and answers[-1].json()["code"] == "throttled"
    assert all(_get(steady).status_code == 200 for _ in range(20))


def test_limits_of_zero_turn_the_throttle_off(project: Project, settings: Any) -> None:
    settings.API_REQUESTS_PER_KEY_PER_MINUTE = settings.API_BAD_KEYS_PER_ADDRESS_PER_MINUTE = 0
    _, secret = api_key_create(project=project, name="agent")
    assert all(_get("ds_wrong").status_code == 401 for _ in range(50))
    assert all(_get(secret).status_code == 200 for _ in range(50))
