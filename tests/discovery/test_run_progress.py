"""A discovery run reports progress while it reads (embeds) its calls, never writes progress inside a
transaction, and a Cancel asked for during any stage is answered at once and stops the run."""

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from django.db import connection

from apps.discovery import describe, pipeline, services
from apps.discovery.models import DiscoveryRun, TaskCluster
from apps.jobs import services as jobs
from apps.projects.models import Project
from workers.jobs import clustering


class _HashModel:
    """Stands in for MiniLM: one fixed unit vector per text, no download, no torch."""

    def encode(self, texts: list[str], **kwargs: Any) -> np.ndarray:
        out = np.empty((len(texts), 384), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            vector = np.random.default_rng(seed).standard_normal(384)
            out[i] = vector / np.linalg.norm(vector)
        return out


@pytest.fixture
def hash_model(monkeypatch: pytest.MonkeyPatch) -> _HashModel:
    model = _HashModel()
    monkeypatch.setattr("workers.jobs.embedding._model", lambda: model)
    return model


@pytest.fixture
def progress_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Every progress write of the run: its stage, fraction, message, and how many transactions were open."""
    log: list[dict[str, Any]] = []
    real = jobs.job_progress

    def recording(**kwargs: Any) -> bool:
        log.append({**kwargs, "atomic_depth": len(connection.atomic_blocks)})
        return real(**kwargs)

    monkeypatch.setattr(jobs, "job_progress", recording)
    yield log


def test_progress_moves_while_the_reading_stage_embeds_new_calls(
    sample_calls: Project,
    hash_model: _HashModel,
    progress_log: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipeline, "READ_SLICE", 16)
    run = DiscoveryRun.objects.create(project=sample_calls, min_cluster_size=10)

    pipeline.discovery_run_execute(run_id=run.id)

    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    reading = [entry for entry in progress_log if entry.get("stage") == "reading"]
    fractions = [entry["fraction"] for entry in reading]
    assert fractions == sorted(fractions) and 0 <= fractions[0] and fractions[-1] <= 0.5
    assert len({f for f in fractions if 0 < f < 0.5}) >= 8  # 120 calls, 16 at a time
    messages = [entry["message"] for entry in reading]
    assert "Reading 120 calls, 120 of them new" in messages
    assert any(m.startswith("Embedding the texts of new calls 17-32 of 120;") for m in messages)
    assert "Read 120 of 120 new calls; " in messages[-2] and messages[-1] == "Loading the vectors of 120 calls"
    assert run.texts_embedded > 0


def test_no_progress_is_written_inside_a_transaction(
    sample_calls: Project, hash_model: _HashModel, progress_log: list[dict[str, Any]]
) -> None:
    outside = len(connection.atomic_blocks)  # the test's own transaction
    run = DiscoveryRun.objects.create(project=sample_calls, min_cluster_size=10)

    pipeline.discovery_run_execute(run_id=run.id)

    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert {entry["stage"] for entry in progress_log if entry.get("stage")} == {"reading", "clustering", "describing"}
    assert [e for e in progress_log if e["atomic_depth"] != outside] == []
    assert TaskCluster.objects.filter(project=sample_calls, status="active").count() == 3


def _blocking(real: Callable[..., Any], entered: threading.Event, release: threading.Event) -> Callable[..., Any]:
    def wait_then_run(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(60)
        return real(*args, **kwargs)

    return wait_then_run


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("stage", ["reading", "clustering", "describing"])
def test_cancel_is_answered_at_once_and_stops_the_run_in_any_stage(
    stage: str, sample_calls: Project, hash_model: _HashModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    if stage == "reading":
        monkeypatch.setattr(hash_model, "encode", _blocking(hash_model.encode, entered, release))
    elif stage == "clustering":
        monkeypatch.setattr(clustering, "_pca", _blocking(clustering._pca, entered, release))
    else:
        monkeypatch.setattr(describe, "keywords", _blocking(describe.keywords, entered, release))
    run = DiscoveryRun.objects.create(project=sample_calls, min_cluster_size=10)

    def execute() -> None:
        try:
            pipeline.discovery_run_execute(run_id=run.id)
        finally:
            connection.close()

    worker = threading.Thread(target=execute)
    worker.start()
    try:
        assert entered.wait(120), "the run never reached the stage"
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '3s'")  # a row lock held by the run fails the cancel
        started = time.monotonic()
        services.discovery_run_cancel(run=run)
        answered = time.monotonic() - started
    finally:
        release.set()
        worker.join(120)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    run.refresh_from_db()
    assert answered < 3
    assert run.status == "cancelled" and run.stage == stage
    assert not TaskCluster.objects.filter(project=sample_calls).exists()
