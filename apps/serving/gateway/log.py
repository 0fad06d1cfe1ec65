"""The gateway's call log: one record per call (the POST /api/v1/calls format, with the route in its
metadata) appended to the Redis stream downshift:gateway:log before the call's answer leaves (core.Call.capture;
a shadow or sampled call's record, completed after its answer, is appended in the background). The drain
(services.gateway_log_drain, a Celery beat task) reads it in batches through a consumer group, ingests each
project's records (curation applies) and then acknowledges and deletes them: nothing of a call stays in
Redis once stored, and the gateway itself never writes to Postgres."""

import logging
import os
import socket
from typing import Any

import orjson
import redis

from apps.common.redis_client import redis_client

logger = logging.getLogger(__name__)

STREAM = "downshift:gateway:log"
GROUP = "ingest"
MAX_LEN = 100_000  # approximate: a drain that is down for long loses the oldest records, not the gateway


def append(project_id: Any, record: dict[str, Any]) -> bool:
    """Called in a thread; a Redis error loses the record (False), never the call."""
    try:
        redis_client().xadd(
            STREAM,
            {"project": str(project_id), "record": orjson.dumps(record)},
            maxlen=MAX_LEN,
            approximate=True,
        )
    except redis.RedisError as exc:
        logger.warning("gateway: a call record was not logged (%s)", type(exc).__name__)
        return False
    return True


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def ensure_group() -> None:
    try:
        redis_client().xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


Entry = tuple[bytes, dict[bytes, bytes]]


def read(*, count: int, consumer: str, reclaim_idle_ms: int) -> list[Entry]:
    """Entries another consumer took and never acknowledged (it died) for over `reclaim_idle_ms` first,
    then new ones."""
    client = redis_client()
    claimed: Any = client.xautoclaim(
        STREAM, GROUP, consumer, min_idle_time=reclaim_idle_ms, start_id="0-0", count=count
    )
    entries: list[Entry] = list(claimed[1]) if claimed and len(claimed) > 1 else []
    if len(entries) < count:
        found: Any = client.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=count - len(entries))
        for _, items in found or []:
            entries.extend(items)
    return [(entry_id, fields) for entry_id, fields in entries if fields]


def done(entry_ids: list[bytes]) -> None:
    if entry_ids:
        client = redis_client()
        client.xack(STREAM, GROUP, *entry_ids)
        client.xdel(STREAM, *entry_ids)
