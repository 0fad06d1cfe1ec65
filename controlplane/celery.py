import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")

app = Celery("downshift")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("cpu"), Queue("gpu"))
# Ingestion, curation and discovery run on "cpu"; training and serving jobs go to "gpu".
app.conf.task_routes = {
    "calls.*": {"queue": "cpu"},
    "curation.*": {"queue": "cpu"},
    "discovery.*": {"queue": "cpu"},
    "jobs.*": {"queue": "cpu"},
    "evaluation.*": {"queue": "cpu"},
    "serving.drain_gateway_log": {"queue": "cpu"},
    "serving.check_health": {"queue": "cpu"},
    "serving.check_breakers": {"queue": "cpu"},
    "serving.check_drift": {"queue": "cpu"},
    "serving.advance_retraining": {"queue": "cpu"},
    "serving.start_backend": {"queue": "cpu"},  # HTTP calls to a vLLM server: no GPU here
    "serving.stop_backend": {"queue": "cpu"},
}
# Each app's tasks live in apps/<app>/tasks.py (thin: fetch by id, call one service); the heavy, Django-free
# work they call lives in workers/.
app.autodiscover_tasks()
