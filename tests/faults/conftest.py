"""Fixtures for the fault tests: the environment every subprocess starts from, and a list of things to clean
up that runs whatever happened (servers first, then the data stores, then their folders)."""

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.faults.procs import ROOT

# Each test here finishes in well under this; a hung restart fails the test instead of the CI run.
FAULT_TIMEOUT_S = 240


@pytest.fixture
def base_env() -> dict[str, str]:
    """The environment of the product's processes: this run's settings, minus anything a test sets."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_")}
    env.update(DJANGO_SETTINGS_MODULE="controlplane.settings", PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


@pytest.fixture
def cleanup() -> Iterator[Callable[[Callable[[], Any]], None]]:
    """Register a cleanup; they run last-registered first, each even when an earlier one fails."""
    steps: list[Callable[[], Any]] = []
    yield steps.append
    errors = []
    for step in reversed(steps):
        try:
            step()
        except Exception as exc:
            errors.append(exc)
    if errors:
        raise errors[0]
