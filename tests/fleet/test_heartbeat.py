"""The worker's side: registration on worker_ready, heartbeats, the admins' decisions applied through
Celery's remote control (mocked: it needs a broker fan-out), and the clean stop."""

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.fleet import heartbeat as hb
from apps.fleet.models import GpuWorker
from apps.fleet.selectors import STOPPED_AT
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from apps.specialists.models import CatalogModel, TrainingRun
from tests.fleet.conftest import H200, PreforkLikePool, fake_consumer


@pytest.fixture(autouse=True)
def _no_thread_and_fixed_gpus(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(hb.Heartbeat, "start", lambda self: None)
    monkeypatch.setattr(hb, "gpu_snapshot", lambda **_: [H200])
    yield
    hb._current = None


def test_worker_ready_registers_the_worker(db: None) -> None:
    hb.on_worker_ready(sender=fake_consumer("celery@gpu-1", queues=("gpu", "cpu")))
    worker = GpuWorker.objects.get(name="celery@gpu-1")
    assert worker.queues == ["cpu", "gpu"] and worker.gpus == [H200] and worker.concurrency == 1
    assert worker.host and not worker.draining and worker.current_job == ""
    assert timezone.now() - worker.heartbeat_at < timedelta(seconds=5)
    assert hb._current is not None and hb._current.name == "celery@gpu-1"


def test_registering_again_updates_the_row_and_keeps_the_admins_decisions(
    make_worker: Callable[..., GpuWorker],
) -> None:
    make_worker("celery@gpu-1", age_s=3600, gpus=[], queues=["old"], draining=True, concurrency=4)
    hb.on_worker_ready(sender=fake_consumer("celery@gpu-1", pool=PreforkLikePool(2)))
    worker = GpuWorker.objects.get(name="celery@gpu-1")
    assert worker.queues == ["gpu"] and worker.gpus == [H200]
    assert worker.draining and worker.concurrency == 4  # a prefork pool is resized to it by the heartbeat
    assert timezone.now() - worker.heartbeat_at < timedelta(seconds=5)
    assert GpuWorker.objects.count() == 1


def test_a_solo_pool_records_the_one_job_it_really_runs(make_worker: Callable[..., GpuWorker]) -> None:
    make_worker("celery@gpu-1", concurrency=4)
    hb.on_worker_ready(sender=fake_consumer("celery@gpu-1"))
    assert GpuWorker.objects.get(name="celery@gpu-1").concurrency == 1


def test_a_heartbeat_updates_gpus_heartbeat_and_current_job(
    make_worker: Callable[..., GpuWorker],
    make_run: Callable[..., TrainingRun],
    project: Project,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_worker("celery@gpu-1", age_s=40, gpus=[])
    run = make_run(project, status=JobStatus.RUNNING, gpu_worker="celery@gpu-1", heartbeat_at=timezone.now())
    busy = {**H200, "memory_used_mb": 90000, "utilization": 99}
    monkeypatch.setattr(hb, "gpu_snapshot", lambda **_: [busy])
    beat = hb.Heartbeat.from_consumer(fake_consumer("celery@gpu-1"))
    beat.beat()
    worker = GpuWorker.objects.get(name="celery@gpu-1")
    assert worker.gpus == [busy] and worker.current_job == str(run.id)
    assert timezone.now() - worker.heartbeat_at < timedelta(seconds=5)
    beat.app.control.cancel_consumer.assert_not_called()


def test_a_heartbeat_registers_again_when_the_row_was_deleted(db: None) -> None:
    beat = hb.Heartbeat.from_consumer(fake_consumer("celery@gpu-1"))
    beat.beat()
    assert GpuWorker.objects.filter(name="celery@gpu-1").exists()


def test_draining_makes_the_heartbeat_stop_consuming_and_resuming_starts_again(
    make_worker: Callable[..., GpuWorker],
) -> None:
    make_worker("celery@gpu-1")
    beat = hb.Heartbeat.from_consumer(fake_consumer("celery@gpu-1", queues=("gpu", "gpu-large")))
    control: Any = beat.app.control
    beat.beat()
    control.cancel_consumer.assert_not_called()

    GpuWorker.objects.filter(name="celery@gpu-1").update(draining=True)
    beat.beat()
    assert [c.args for c in control.cancel_consumer.call_args_list] == [("gpu",), ("gpu-large",)]
    assert all(c.kwargs == {"destination": ["celery@gpu-1"]} for c in control.cancel_consumer.call_args_list)
    beat.beat()
    assert control.cancel_consumer.call_count == 2  # once, not at every heartbeat
    control.add_consumer.assert_not_called()

    GpuWorker.objects.filter(name="celery@gpu-1").update(draining=False)
    beat.beat()
    assert [c.args for c in control.add_consumer.call_args_list] == [("gpu",), ("gpu-large",)]
    assert all(c.kwargs == {"destination": ["celery@gpu-1"]} for c in control.add_consumer.call_args_list)


def test_a_worker_drained_before_it_started_stops_consuming_at_its_first_heartbeat(
    make_worker: Callable[..., GpuWorker],
) -> None:
    make_worker("celery@gpu-1", draining=True)
    beat = hb.Heartbeat.from_consumer(fake_consumer("celery@gpu-1"))
    beat.register()
    beat.beat()
    beat.app.control.cancel_consumer.assert_called_once_with("gpu", destination=["celery@gpu-1"])


def test_concurrency_resizes_a_pool_that_can(make_worker: Callable[..., GpuWorker]) -> None:
    make_worker("celery@gpu-1", concurrency=2)
    beat = hb.Heartbeat.from_consumer(fake_consumer("celery@gpu-1", pool=PreforkLikePool(2)))
    control: Any = beat.app.control
    GpuWorker.objects.filter(name="celery@gpu-1").update(concurrency=5)
    beat.beat()
    control.pool_grow.assert_called_once_with(3, destination=["celery@gpu-1"])
    GpuWorker.objects.filter(name="celery@gpu-1").update(concurrency=1)
    beat.beat()
    control.pool_shrink.assert_called_once_with(4, destination=["celery@gpu-1"])
    beat.beat()
    assert control.pool_grow.call_count == 1 and control.pool_shrink.call_count == 1


def test_a_solo_pool_does_not_resize_and_keeps_the_number_recorded(
    make_worker: Callable[..., GpuWorker], caplog: pytest.LogCaptureFixture
) -> None:
    make_worker("celery@gpu-1")
    beat = hb.Heartbeat.from_consumer(fake_consumer("celery@gpu-1"))
    assert not beat.can_resize and beat.cuda_in_process
    GpuWorker.objects.filter(name="celery@gpu-1").update(concurrency=3)
    beat.beat()
    beat.beat()
    beat.app.control.pool_grow.assert_not_called()
    assert GpuWorker.objects.get(name="celery@gpu-1").concurrency == 3
    assert sum("cannot resize" in r.getMessage() for r in caplog.records) == 1


def test_an_autoscaled_pool_is_not_resized(make_worker: Callable[..., GpuWorker]) -> None:
    consumer = fake_consumer("celery@gpu-1", pool=PreforkLikePool(2))
    consumer.controller.autoscaler = object()
    assert not hb.Heartbeat.from_consumer(consumer).can_resize


def test_shutdown_marks_the_worker_stopped(db: None) -> None:
    hb.on_worker_ready(sender=fake_consumer("celery@gpu-1"))
    hb.on_worker_shutdown(sender=None)
    worker = GpuWorker.objects.get(name="celery@gpu-1")
    assert worker.heartbeat_at == STOPPED_AT and hb._current is None


def test_registration_and_heartbeats_report_the_weights_the_worker_has(
    db: None, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # nothing downloaded
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\0")
    CatalogModel.objects.create(
        hf_id="local/tiny", name="Tiny", params_b=0.1, licence="mit", context_window=512, local_path=str(folder)
    )
    hb.on_worker_ready(sender=fake_consumer("celery@gpu-1"))
    worker = GpuWorker.objects.get(name="celery@gpu-1")
    assert worker.weights["local/tiny"] == [True, f"Weights in {folder}."]
    assert worker.has_weights("local/tiny") and not worker.has_weights("Qwen/Qwen2.5-0.5B-Instruct")
    assert "huggingface-cli download Qwen/Qwen2.5-0.5B-Instruct" in worker.weights["Qwen/Qwen2.5-0.5B-Instruct"][1]

    (folder / "model.safetensors").unlink()  # gone: the next heartbeat says so
    hb.Heartbeat.from_consumer(fake_consumer("celery@gpu-1")).beat()
    assert not GpuWorker.objects.get(name="celery@gpu-1").has_weights("local/tiny")


def test_the_heartbeat_does_not_touch_training_runs(
    make_worker: Callable[..., GpuWorker],
    make_run: Callable[..., TrainingRun],
    project: Project,
) -> None:
    make_worker("celery@gpu-1")
    make_worker("celery@gpu-2", age_s=300)
    old = timezone.now() - timedelta(minutes=5)
    run = make_run(project, status=JobStatus.RUNNING, gpu_worker="celery@gpu-2", heartbeat_at=old, attempt=1)
    hb.Heartbeat.from_consumer(fake_consumer("celery@gpu-1")).beat()
    run.refresh_from_db()
    assert run.status == JobStatus.RUNNING  # requeuing it is the jobs sweep's business (tests/fleet/test_sweep.py)
