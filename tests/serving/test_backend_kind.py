"""Where a candidate runs follows from what it is: a LoRA specialist on the vLLM server of its base model when
SERVING_VLLM_SERVERS names one, else locally."""

from typing import Any

import pytest

from apps.evaluation.models import Evaluation, ModelEndpoint
from apps.serving.services import backend_for
from apps.specialists.models import CatalogModel, TrainingRun

BASE = CatalogModel(hf_id="Qwen/Qwen2.5-1.5B-Instruct", name="Qwen2.5 1.5B Instruct")
VLLM = {"Qwen/Qwen2.5-1.5B-Instruct": "http://vllm:8000/v1"}
BY_NAME = {"Qwen2.5 1.5B Instruct": "http://v/v1"}


@pytest.mark.parametrize(
    ("candidate", "servers", "expected"),
    [
        ({"endpoint": ModelEndpoint()}, VLLM, "endpoint"),
        ({"training_run": TrainingRun(kind="classifier", base_model=BASE)}, VLLM, "classifier"),
        ({"training_run": TrainingRun(kind="lora", base_model=BASE)}, {}, "local_lora"),
        ({"training_run": TrainingRun(kind="lora", base_model=BASE)}, VLLM, "vllm_lora"),
        ({"training_run": TrainingRun(kind="lora", base_model=BASE)}, BY_NAME, "vllm_lora"),
        ({"training_run": TrainingRun(kind="lora", base_model=BASE)}, {"other/model": "http://v/v1"}, "local_lora"),
        ({"base_model": BASE, "shots": 4}, {}, "local_lora"),
        ({"base_model": BASE, "shots": 4}, VLLM, "local_lora"),  # no adapter: vLLM has nothing to load
    ],
)
def test_the_backend_follows_the_candidate(
    settings: Any, candidate: dict[str, Any], servers: dict[str, str], expected: str
) -> None:
    settings.SERVING_VLLM_SERVERS = servers
    assert backend_for(Evaluation(**candidate)) == expected
