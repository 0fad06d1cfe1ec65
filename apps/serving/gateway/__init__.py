"""The gateway: an OpenAI-compatible /v1/chat/completions and /v1/models that sends each call to the LLM or
to its task's deployed specialist, and logs it for ingestion. It runs as an ASGI process (uvicorn) of this
Django project: async views, one pooled httpx.AsyncClient, and nothing on the hot path that waits on
Postgres (state.py caches keys and routes, log.py hands the call records to a Redis stream)."""
