"""Serving specialists: Django-free backends that answer OpenAI-compatible requests."""
