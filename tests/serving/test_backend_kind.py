"""Where a candidate runs follows from what it is; LoRA specialists run locally or on vLLM by setting."""

from typing import Any

import pytest

from apps.evaluation.models import Evaluation, ModelEndpoint
from apps.serving.services import backend_for
from apps.specialists.models import CatalogModel, TrainingRun


@pytest.mark.parametrize(
    ("candidate", "lora_backend", "expected"),
    [
        ({"endpoint": ModelEndpoint()}, "vllm", "endpoint"),
        ({"training_run": TrainingRun(kind="classifier")}, "vllm", "classifier"),
        ({"training_run": TrainingRun(kind="lora")}, "local", "local_lora"),
        ({"training_run": TrainingRun(kind="lora")}, "vllm", "vllm_lora"),
        ({"base_model": CatalogModel(), "shots": 4}, "local", "local_lora"),
        ({"base_model": CatalogModel(), "shots": 4}, "vllm", "vllm_lora"),
    ],
)
def test_the_backend_follows_the_candidate(
    settings: Any, candidate: dict[str, Any], lora_backend: str, expected: str
) -> None:
    settings.SERVING_LORA_BACKEND = lora_backend
    assert backend_for(Evaluation(**candidate)) == expected
