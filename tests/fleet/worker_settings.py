"""Settings for the Celery workers the fleet tests start: they beat every second and count as gone after 3."""

from controlplane.settings import *  # noqa: F403

JOB_HEARTBEAT_S = 1
JOB_STALE_S = 3
