"""Celery tasks for fleet."""
