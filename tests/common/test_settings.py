from pathlib import Path

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured

from controlplane.embedded import embedded_redis_url
from controlplane.env import env_bool, env_int, env_list
from controlplane.settings import _database_from_url


def test_typed_env_readers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_INT", "12")
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env_int("X_INT", 1) == 12 and env_int("X_MISSING", 7) == 7
    assert env_bool("X_BOOL", False) is True
    assert env_list("X_LIST", []) == ["a", "b", "c"]


def test_malformed_values_are_improperly_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_INT", "many")
    monkeypatch.setenv("X_BOOL", "perhaps")
    with pytest.raises(ImproperlyConfigured, match="X_INT"):
        env_int("X_INT", 1)
    with pytest.raises(ImproperlyConfigured, match="X_BOOL"):
        env_bool("X_BOOL", True)
    monkeypatch.setenv("X_INT", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("X_INT", 5, minimum=1)


def test_database_urls_with_host_or_socket() -> None:
    tcp = _database_from_url("postgresql://me:secret@db.internal:6543/downshift?sslmode=require")
    assert (tcp["NAME"], tcp["USER"], tcp["PASSWORD"], tcp["HOST"], tcp["PORT"]) == (
        "downshift",
        "me",
        "secret",
        "db.internal",
        "6543",
    )
    assert tcp["OPTIONS"] == {"sslmode": "require"}
    socket = _database_from_url("postgresql://postgres:@/downshift?host=/tmp/pg")
    assert socket["HOST"] == "/tmp/pg"
    with pytest.raises(ImproperlyConfigured):
        _database_from_url("postgresql://host-without-db")


def test_the_embedded_redis_starts_once_and_answers(tmp_path: Path) -> None:
    var = Path("/tmp") / f"ds-{tmp_path.name[-12:]}"  # a unix socket path must stay short
    url = embedded_redis_url(var)
    try:
        client = redis.Redis.from_url(url)
        client.set("k", "v")
        assert embedded_redis_url(var) == url  # a second process reuses the running server
        assert client.get("k") == b"v"
    finally:
        redis.Redis.from_url(url).shutdown(nosave=True)
