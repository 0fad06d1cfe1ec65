from typing import Any

from celery import shared_task


@shared_task(name="serving.drain_gateway_log")
def gateway_log_drain_task() -> int:
    """Celery beat, every GATEWAY_LOG_DRAIN_S: the gateway's logged calls into ingestion."""
    from apps.serving.services import gateway_log_drain

    return gateway_log_drain()


@shared_task(name="serving.check_health")
def deployments_health_check_task() -> int:
    """Celery beat, every SERVING_HEALTH_CHECK_S: each active deployment's backend health recorded."""
    from apps.serving.backends import deployments_health_check

    return deployments_health_check()


@shared_task(name="serving.start_backend", acks_late=True, reject_on_worker_lost=True)
def deployment_backend_start_task(deployment_id: str) -> None:
    """A vllm_lora deployment's adapter loaded and the result recorded. Idempotent: loading an adapter that is
    loaded already succeeds."""
    from apps.serving.backends import deployment_backend_start

    deployment_backend_start(deployment_id=deployment_id)


@shared_task(name="serving.stop_backend", acks_late=True, reject_on_worker_lost=True)
def deployment_backend_stop_task(deployment_id: str) -> None:
    """A stopped vllm_lora deployment's adapter unloaded. Idempotent: an adapter already gone is fine."""
    from apps.serving.backends import deployment_backend_stop

    deployment_backend_stop(deployment_id=deployment_id)


def backend_start_wanted_receiver(sender: Any, *, deployment_id: Any, **kwargs: Any) -> None:
    """apps.serving.signals.backend_start_wanted (connected in ServingConfig.ready): load after commit."""
    deployment_backend_start_task.delay_on_commit(str(deployment_id))


def backend_stop_wanted_receiver(sender: Any, *, deployment_id: Any, **kwargs: Any) -> None:
    """apps.serving.signals.backend_stop_wanted: unload after commit."""
    deployment_backend_stop_task.delay_on_commit(str(deployment_id))


@shared_task(name="serving.check_breakers")
def deployments_breaker_check_task() -> int:
    """Celery beat, every BREAKER_CHECK_S: live specialists whose calls went wrong sent back to the LLM."""
    from apps.serving.breaker import deployments_breaker_check

    return deployments_breaker_check()


@shared_task(name="serving.check_drift")
def retrain_proposals_check_task() -> int:
    """Celery beat, every RETRAIN_CHECK_S: retraining proposed for specialists whose task drifted."""
    from apps.serving.retraining import retrain_proposals_check

    return retrain_proposals_check()


@shared_task(name="serving.advance_retraining")
def retrain_rounds_advance_task() -> int:
    """Celery beat, every RETRAIN_ADVANCE_S: each running retraining round moved to its next step."""
    from apps.serving.retraining import retrain_rounds_advance

    return retrain_rounds_advance()
