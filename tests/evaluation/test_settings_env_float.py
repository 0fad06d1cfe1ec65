"""The number reader behind EVALUATION_TEST_FRACTION and EVALUATION_TARGET."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from controlplane.env import env_float


def test_reads_a_number_or_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_FLOAT", "0.9")
    assert env_float("X_FLOAT", 0.5) == 0.9
    assert env_float("X_MISSING", 0.5) == 0.5
    monkeypatch.setenv("X_FLOAT", " ")
    assert env_float("X_FLOAT", 0.5) == 0.5


def test_a_malformed_or_out_of_range_value_is_improperly_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_FLOAT", "most")
    with pytest.raises(ImproperlyConfigured, match="X_FLOAT must be a number"):
        env_float("X_FLOAT", 0.5)
    monkeypatch.setenv("X_FLOAT", "1.5")
    with pytest.raises(ImproperlyConfigured, match=r"at most 1\.0"):
        env_float("X_FLOAT", 0.5, maximum=1.0)
    monkeypatch.setenv("X_FLOAT", "0")
    with pytest.raises(ImproperlyConfigured, match=r"at least 0\.01"):
        env_float("X_FLOAT", 0.5, minimum=0.01)
    monkeypatch.setenv("X_FLOAT", "nan")
    with pytest.raises(ImproperlyConfigured, match="finite"):
        env_float("X_FLOAT", 0.5, minimum=0.01)
