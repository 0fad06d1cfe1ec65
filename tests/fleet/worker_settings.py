"""Settings for the Celery worker that test_worker_process.py starts: it beats every second."""

from controlplane.settings import *  # noqa: F403

FLEET_HEARTBEAT_S = 1
