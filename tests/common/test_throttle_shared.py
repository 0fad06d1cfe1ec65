"""The gateway's per-key limit: decided without waiting on Redis, counted there across processes (two
SharedLimit objects stand for two gateway processes), passed by at most a batch per process."""

import asyncio
import uuid

import pytest

from apps.common.throttle import SharedLimit

pytestmark = pytest.mark.django_db


async def _calls(limit: SharedLimit, ident: str, n: int, cap: int) -> list[int]:
    answers = []
    for _ in range(n):
        answers.append(limit.hit(ident, limit=cap))
        await asyncio.sleep(0.002)  # the flushes run between calls, as between requests
    await asyncio.sleep(0.1)
    return answers


def test_two_processes_share_one_limit() -> None:
    ident, cap = f"key-{uuid.uuid4()}", 100

    async def scenario() -> tuple[list[int], list[int]]:
        first, second = SharedLimit("test-shared"), SharedLimit("test-shared")
        a = await _calls(first, ident, 70, cap)
        b = await _calls(second, ident, 70, cap)
        return a, b

    a, b = asyncio.run(scenario())
    assert a.count(0) == 70  # within the limit
    served = b.count(0)
    assert 30 <= served <= 30 + cap // 20  # the first process's 70 counted; at most one batch over
    assert all(0 < wait <= 60 for wait in b if wait)


def test_a_limit_of_0_counts_nothing() -> None:
    assert asyncio.run(_calls(SharedLimit("test-off"), "k", 5, 0)) == [0] * 5
