"""manage.py serve_specialists: the CPU backend (workers.serving.local_backend) for classifier and
local_lora deployments, at SERVING_LOCAL_BACKEND_URL. Its own process: the web and gateway processes never
import torch."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import connections

from apps.serving.selectors import local_specialist_get, local_specialist_names
from apps.specialists.models import SpecialistKind


def resolve(name: str) -> Any:
    """The Target a model name stands for (None: no such specialist). Each request runs in a thread of its
    own, so its database connection is closed here."""
    from workers.jobs.local_models import model_folder
    from workers.serving.local_backend import CLASSIFIER, LORA, NotServable, Target

    try:
        run = local_specialist_get(name=name)
    finally:
        connections.close_all()
    if run is None:
        return None
    if not run.artifact_path or not Path(run.artifact_path).exists():
        raise NotServable(f"The specialist's files are not on this host (no {run.artifact_path or 'artifact'})")
    if run.kind == SpecialistKind.CLASSIFIER:
        return Target(kind=CLASSIFIER, path=run.artifact_path)
    if run.base_model is None:
        raise NotServable("The specialist has no base model")
    model = run.base_model
    return Target(
        kind=LORA, path=run.artifact_path, base=model_folder(model.local_path or model.hf_id, settings.MODEL_CACHE_DIR)
    )


def names() -> list[str]:
    try:
        return local_specialist_names()
    finally:
        connections.close_all()


def specialists() -> Any:
    from workers.serving.local_backend import Specialists

    return Specialists(
        resolve=resolve,
        names=names,
        max_tokens=settings.SERVING_LOCAL_MAX_TOKENS,
        threads=settings.SERVING_LOCAL_TORCH_THREADS,
    )


class Command(BaseCommand):
    help = "Serve classifier and local_lora deployments (OpenAI-compatible, /v1/chat/completions) on this host."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8003)

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        from workers.serving.local_backend import serve

        server = serve(host=host, port=port, specialists=specialists())
        self.stdout.write(f"Serving specialists at http://{host}:{port}/v1 (Ctrl-C to stop)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
