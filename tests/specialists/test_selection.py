from typing import Any

import pytest
from django.utils import timezone

from apps.fleet.models import GpuWorker
from apps.fleet.selectors import largest_gpu_mb
from apps.projects.models import Project
from apps.specialists.models import CatalogModel
from apps.specialists.selection import candidates_rank
from tests.specialists.selection_helpers import catalog_model, conversation, make_task, only_models, stored

pytestmark = pytest.mark.django_db
EVERY_LICENCE = ["apache-2.0", "mit", "llama3.2", "gemma", "qwen-research", "cc-by-nc-4.0"]
EVERY_LICENCE += ["nvidia-open-model-license", "nvidia-community-model-license"]


def task_with_prompts(project: Project, prompt_tokens: int, **fields: Any) -> Any:
    calls = stored(project, conversation("p", 3, usage={"prompt_tokens": prompt_tokens, "completion_tokens": 5}))
    return make_task(project, calls=calls, **fields)


def by_hf_id(ranking: Any) -> dict[str, Any]:
    return {c.model.hf_id: c for c in ranking.candidates if c.model}


def test_tool_call_tasks_rank_tool_calling_models_first(project: Project) -> None:
    task = task_with_prompts(project, 800, output_kind="tool_calls", labels=[])
    ranking = candidates_rank(task, licence_allow_list=EVERY_LICENCE, gpu_memory_mb=80_000)
    eligible = [c for c in ranking.candidates if c.eligible]
    assert eligible and all(c.model.tool_calling for c in eligible)
    first_other = next(i for i, c in enumerate(ranking.candidates) if not c.model.tool_calling)
    assert all(c.model.tool_calling for c in ranking.candidates[:first_other])
    phi3 = by_hf_id(ranking)["microsoft/Phi-3-mini-4k-instruct"]
    assert not phi3.eligible and "not trained to call tools" in " ".join(phi3.failed_constraints)
    assert "Trained to call tools, as this task does." in ranking.recommended.reasons
    assert all(c.kind == "lora" for c in ranking.candidates)  # no classifier for tool calls


def test_a_context_window_shorter_than_the_long_prompts_is_refused(project: Project) -> None:
    task = task_with_prompts(project, 6000, output_kind="json", labels=[])
    ranking = candidates_rank(task, licence_allow_list=EVERY_LICENCE, gpu_memory_mb=80_000)
    models = by_hf_id(ranking)
    assert ranking.prompt_p99 == 6000
    short = models["microsoft/Phi-3-mini-4k-instruct"]
    assert not short.eligible
    assert short.failed_constraints == [
        "Its context window (4,096 tokens) is shorter than this task's long prompts (99% are up to 6,000 tokens)."
    ]
    smol = models["HuggingFaceTB/SmolLM2-1.7B-Instruct"]
    assert smol.eligible and any("Little room left" in r for r in smol.reasons)
    assert models["Qwen/Qwen2.5-1.5B-Instruct"].eligible


def test_unknown_prompt_lengths_are_said_not_guessed(project: Project) -> None:
    calls = stored(project, conversation("n", 2, usage={}))
    task = make_task(project, calls=calls, output_kind="json", labels=[])
    ranking = candidates_rank(task, licence_allow_list=["apache-2.0"], gpu_memory_mb=80_000)
    assert ranking.prompt_p99 is None
    assert any("Prompt lengths are not known" in note for note in ranking.notes)
    assert by_hf_id(ranking)["microsoft/Phi-3-mini-4k-instruct"].failed_constraints == [
        "Its licence (mit) is not on the allowed list (apache-2.0); an admin can allow it with "
        "SPECIALIST_LICENCE_ALLOW."
    ]


def test_licences_outside_the_allow_list_are_not_eligible(project: Project, settings: Any) -> None:
    task = task_with_prompts(project, 500, output_kind="json", labels=[])
    settings.SPECIALIST_LICENCE_ALLOW = ["apache-2.0", "mit"]
    llama = by_hf_id(candidates_rank(task, gpu_memory_mb=80_000))["meta-llama/Llama-3.2-1B-Instruct"]
    assert not llama.eligible and "licence (llama3.2)" in llama.failed_constraints[0]
    allowed = candidates_rank(task, licence_allow_list=["apache-2.0", "LLAMA3.2"], gpu_memory_mb=80_000)
    assert by_hf_id(allowed)["meta-llama/Llama-3.2-1B-Instruct"].eligible


def test_models_too_big_for_the_largest_gpu_are_refused(project: Project) -> None:
    task = task_with_prompts(project, 500, output_kind="text", labels=[])
    ranking = candidates_rank(task, licence_allow_list=EVERY_LICENCE, gpu_memory_mb=12_000)
    models = by_hf_id(ranking)
    big = models["Qwen/Qwen2.5-7B-Instruct"]
    assert not big.eligible and big.failed_constraints[0].startswith("Too big for the largest GPU (11.7 GB)")
    mid = models["Qwen/Qwen3-4B"]  # LoRA in bf16 does not fit; QLoRA does
    assert mid.eligible and mid.reasons[1].startswith("Fits the GPU only with 4-bit weights (QLoRA")
    assert not ranking.gpu_assumed and not any("No GPU worker" in n for n in ranking.notes)


def test_the_largest_registered_gpu_is_the_limit(project: Project) -> None:
    assert largest_gpu_mb() is None
    now = timezone.now()
    for name, sizes in (("a", [24_564, 81_559]), ("b", [143_771]), ("c", [])):
        GpuWorker.objects.create(
            name=f"celery@{name}",
            host=name,
            gpus=[{"index": i, "name": "GPU", "memory_total_mb": mb} for i, mb in enumerate(sizes)],
            started_at=now,
            heartbeat_at=now,
        )
    assert largest_gpu_mb() == 143_771


def test_without_a_gpu_worker_a_24_gb_gpu_is_assumed_and_said(project: Project) -> None:
    task = task_with_prompts(project, 500, output_kind="json", labels=[])
    ranking = candidates_rank(task, licence_allow_list=EVERY_LICENCE, gpu_memory_mb=None)
    assert ranking.gpu_memory_mb == 24_576 and ranking.gpu_assumed
    assert "No GPU worker has registered yet, so a 24.0 GB GPU is assumed (DEFAULT_GPU_MEMORY_MB)." in ranking.notes
    assert not by_hf_id(ranking)["Qwen/Qwen2.5-7B-Instruct"].reasons[1].startswith("Fine-tunes in")


def test_narrow_answers_prefer_the_smallest_model_likely_enough(project: Project) -> None:
    tiny = catalog_model(params_b=0.135, name="Tiny")
    small = catalog_model(params_b=0.5, name="Small")
    large = catalog_model(params_b=7.0, name="Large")
    only_models(tiny, small, large)
    task = task_with_prompts(project, 500, output_kind="sql", labels=[])
    ranking = candidates_rank(task, licence_allow_list=["apache-2.0"], gpu_memory_mb=80_000)
    assert [c.name for c in ranking.candidates] == ["Small", "Tiny", "Large"]
    assert ranking.recommended is not None and ranking.recommended.name == "Small"
    assert ranking.recommended.reasons[0].startswith("Small (0.5B parameters): enough for a narrow, checkable answer")


def test_free_text_prefers_a_larger_model(project: Project) -> None:
    small = catalog_model(params_b=0.5, name="Small")
    mid = catalog_model(params_b=3.0, name="Mid")
    only_models(small, mid)
    task = task_with_prompts(project, 500, output_kind="text", labels=[])
    ranking = candidates_rank(task, licence_allow_list=["apache-2.0"], gpu_memory_mb=80_000)
    assert [c.name for c in ranking.candidates] == ["Mid", "Small"]
    assert "quality may fall short" in ranking.candidates[1].reasons[0]


def test_a_model_without_a_chat_template_ranks_lower(project: Project) -> None:
    plain = catalog_model(params_b=0.5, name="Plain", chat_template=False)
    chat = catalog_model(params_b=0.5, name="Chat")
    only_models(plain, chat)
    task = task_with_prompts(project, 500, output_kind="json", labels=[])
    ranking = candidates_rank(task, licence_allow_list=["apache-2.0"], gpu_memory_mb=80_000)
    assert [c.name for c in ranking.candidates] == ["Chat", "Plain"]
    assert "no chat template" in ranking.candidates[1].reasons[-1]


def test_a_closed_label_set_also_gets_a_classifier_and_it_is_recommended(project: Project) -> None:
    task = task_with_prompts(project, 300, output_kind="label", labels=["positive", "negative", "neutral"])
    ranking = candidates_rank(task, licence_allow_list=["apache-2.0"], gpu_memory_mb=80_000)
    classifier = ranking.recommended
    assert classifier is not None and classifier.model is None and classifier.kind == "classifier"
    assert classifier.key == "classifier" and classifier.memory is None
    assert "one of 3 labels" in classifier.reasons[0] and "trains on CPU in minutes" in classifier.reasons[0]
    assert sum(1 for c in ranking.candidates if c.kind == "classifier") == 1


def test_other_output_kinds_get_no_classifier(project: Project) -> None:
    task = task_with_prompts(project, 300, output_kind="json", labels=[])
    ranking = candidates_rank(task, licence_allow_list=["apache-2.0"], gpu_memory_mb=80_000)
    assert all(c.model is not None for c in ranking.candidates)


def test_eligible_come_first_and_nothing_is_recommended_when_none_is(project: Project) -> None:
    task = task_with_prompts(project, 200_000, output_kind="json", labels=[])
    ranking = candidates_rank(task, licence_allow_list=EVERY_LICENCE, gpu_memory_mb=80_000)
    assert ranking.candidates and not any(c.eligible for c in ranking.candidates)
    assert ranking.recommended is None


def test_disabled_models_are_not_candidates(project: Project) -> None:
    CatalogModel.objects.filter(hf_id="Qwen/Qwen2.5-0.5B-Instruct").update(enabled=False)
    task = task_with_prompts(project, 300, output_kind="json", labels=[])
    assert "Qwen/Qwen2.5-0.5B-Instruct" not in by_hf_id(candidates_rank(task, gpu_memory_mb=80_000))


def test_reasons_are_sentences(project: Project) -> None:
    task = task_with_prompts(project, 3000, output_kind="label")
    ranking = candidates_rank(task, licence_allow_list=["apache-2.0"], gpu_memory_mb=None)
    for candidate in ranking.candidates:
        for text in [*candidate.reasons, *candidate.failed_constraints]:
            assert text[0].isupper() and text.endswith("."), text
