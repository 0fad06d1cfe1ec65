import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.common import throttle
from apps.common.redis_client import redis_client
from apps.projects.models import ApiKey, Project, Role
from apps.projects.services import api_key_create, membership_set, project_create

SAMPLE_PATH = Path(__file__).resolve().parent.parent / "demo" / "agent_logs_sample.jsonl"
_counter = itertools.count()


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.UPLOAD_DIR = tmp_path / "media" / "uploads"


@pytest.fixture(autouse=True)
def _throttle_counts() -> None:
    """Each test starts with no throttle counts or lockouts (they live in Redis, which outlives a test)."""
    found = list(redis_client().scan_iter(f"{throttle.PREFIX}*", count=1000))
    if found:
        redis_client().delete(*found)


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    def make(username: str = "", **extra: Any) -> User:
        name = username or f"user{next(_counter)}"
        return User.objects.create_user(username=name, password="pw-for-tests", **extra)

    return make


@pytest.fixture
def make_project(db: None) -> Callable[..., Project]:
    def make(slug: str = "") -> Project:
        return project_create(slug=slug or f"project-{next(_counter)}")

    return make


@pytest.fixture
def project(make_project: Callable[..., Project]) -> Project:
    return make_project("acme")


@pytest.fixture
def other_project(make_project: Callable[..., Project]) -> Project:
    return make_project("globex")


def _member(make_user: Callable[..., User], project: Project, role: str) -> User:
    user = make_user(role)
    membership_set(project=project, user=user, role=role)
    return user


@pytest.fixture
def admin_user(make_user: Callable[..., User], project: Project) -> User:
    return _member(make_user, project, Role.ADMIN)


@pytest.fixture
def owner(make_user: Callable[..., User], project: Project) -> User:
    return _member(make_user, project, Role.OWNER)


@pytest.fixture
def engineer(make_user: Callable[..., User], project: Project) -> User:
    return _member(make_user, project, Role.ENGINEER)


@pytest.fixture
def viewer(make_user: Callable[..., User], project: Project) -> User:
    return _member(make_user, project, Role.VIEWER)


@pytest.fixture
def outsider(make_user: Callable[..., User], other_project: Project) -> User:
    """A member of another project only."""
    return _member(make_user, other_project, Role.ADMIN)


@pytest.fixture
def login(client: Client) -> Callable[[User], Client]:
    def do(user: User) -> Client:
        client.force_login(user)
        return client

    return do


@pytest.fixture
def api_key(project: Project) -> tuple[ApiKey, str]:
    return api_key_create(project=project, name="agent")


@pytest.fixture
def api_client(client: Client, api_key: tuple[ApiKey, str]) -> Client:
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {api_key[1]}"
    return client


@pytest.fixture(scope="session")
def sample_records() -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in SAMPLE_PATH.read_bytes().splitlines()]


def make_call(**overrides: Any) -> dict[str, Any]:
    """A minimal valid call record; keyword arguments replace top-level fields."""
    record: dict[str, Any] = {
        "id": f"call-{next(_counter)}",
        "agent": "support-bot",
        "request": {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "Classify the ticket."},
                {"role": "user", "content": "My card was charged twice."},
            ],
        },
        "response": {"role": "assistant", "content": "billing"},
        "latency_ms": 420,
        "usage": {"prompt_tokens": 1000, "completion_tokens": 100},
    }
    record.update(overrides)
    return record


def make_leaky_call(call_id: str) -> dict[str, Any]:
    """A call with PII in every field kind: content parts, tool-call arguments, a tool result, the
    response's tool call, metadata values and secret-named keys."""
    record = make_call(
        id=call_id, metadata={"customer": {"phone": "+1 512-555-0117"}, "api_key": "sk-proj-abcdefghijklmnopqrstuvwx"}
    )
    record["request"]["tools"] = [
        {"type": "function", "function": {"name": "invite", "parameters": {"type": "object"}}}
    ]
    record["request"]["messages"] += [
        {"role": "user", "content": [{"type": "text", "text": "Invite ann.lee@example.com, card 4111 1111 1111 1111"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "t1",
                    "type": "function",
                    "function": {
                        "name": "invite",
                        "arguments": json.dumps({"email": "ann.lee@example.com", "note": "Call 415-555-0199"}),
                    },
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "t1",
            "content": json.dumps({"password": "hunter2", "by": "Samuel Lindqvist"}),
        },
    ]
    record["response"] = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "t2",
                "type": "function",
                "function": {"name": "pay", "arguments": json.dumps({"iban": "GB82 WEST 1234 5698 7654 32"})},
            }
        ],
    }
    return record
