"""The process's one Redis client, for the short-lived signals the apps send each other through Redis
(debounce locks, pub/sub); Celery keeps its own connections."""

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=1)
def redis_client() -> redis.Redis:
    """One client (and connection pool) per process."""
    return redis.Redis.from_url(settings.REDIS_URL)
