from celery import shared_task


@shared_task(name="serving.drain_gateway_log")
def gateway_log_drain_task() -> int:
    """Celery beat, every GATEWAY_LOG_DRAIN_S: the gateway's logged calls into ingestion."""
    from apps.serving.services import gateway_log_drain

    return gateway_log_drain()
