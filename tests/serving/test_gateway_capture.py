"""The gateway's call log: a call is logged before its answer leaves (a gateway killed after answering has
lost nothing), and the client's Idempotency-Key names its record, so a retried call is stored once."""

import orjson
import pytest
import redis
from django.conf import settings
from openai import OpenAI

from apps.calls.models import Call
from apps.serving.gateway import log
from apps.serving.tasks import gateway_log_drain_task
from tests.serving.gateway import logged

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = [{"role": "user", "content": "Hi"}]


def _ids() -> list[str]:
    entries = redis.Redis.from_url(settings.REDIS_URL).xrange(log.STREAM)
    return [orjson.loads(fields[b"record"])["id"] for _, fields in entries]


def test_a_call_is_logged_before_its_answer_arrives_plain_or_streamed(agent: OpenAI) -> None:
    agent.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert logged() == 1
    chunks = list(agent.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))  # type: ignore[arg-type]
    assert chunks and logged() == 2


def test_a_call_retried_under_one_idempotency_key_is_stored_once(agent: OpenAI) -> None:
    for _ in range(2):
        agent.chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,  # type: ignore[arg-type]
            extra_headers={"Idempotency-Key": "agent-call-1"},
        )
    agent.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    ids = _ids()
    assert ids[:2] == ["gw-agent-call-1", "gw-agent-call-1"] and ids[2] != ids[0]
    assert gateway_log_drain_task() == 2
    assert Call.objects.filter(client_id="gw-agent-call-1").count() == 1


def test_a_long_idempotency_key_names_the_record_by_its_hash(agent: OpenAI) -> None:
    agent.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,  # type: ignore[arg-type]
        extra_headers={"Idempotency-Key": "k" * 500},
    )
    [record_id] = _ids()
    assert record_id.startswith("gw-sha256-") and len(record_id) < 200
    assert gateway_log_drain_task() == 1
