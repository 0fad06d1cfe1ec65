from celery import shared_task


@shared_task(name="serving.drain_gateway_log")
def gateway_log_drain_task() -> int:
    """Celery beat, every GATEWAY_LOG_DRAIN_S: the gateway's logged calls into ingestion."""
    from apps.serving.services import gateway_log_drain

    return gateway_log_drain()


@shared_task(name="serving.check_health")
def deployments_health_check_task() -> int:
    """Celery beat, every SERVING_HEALTH_CHECK_S: each active deployment's backend health recorded."""
    from apps.serving.services import deployments_health_check

    return deployments_health_check()
