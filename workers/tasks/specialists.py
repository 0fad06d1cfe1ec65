"""Celery tasks for specialists."""
