from collections.abc import Callable
from typing import Any
from unittest import mock

from django.contrib.auth.models import User
from django.test import Client

from apps.fleet.models import GpuWorker
from apps.projects.models import Project
from apps.specialists import services
from apps.specialists.models import TrainingDataset, TrainingRun

HX = {"HTTP_HX_REQUEST": "true"}


def train_url(dataset: TrainingDataset) -> str:
    return f"/p/{dataset.project.slug}/specialists/datasets/{dataset.id}/train/"


def run_url(run: TrainingRun, suffix: str = "") -> str:
    return f"/p/{run.project.slug}/specialists/runs/{run.id}/{suffix}"


def a_run(dataset: TrainingDataset, **fields: Any) -> TrainingRun:
    run = services.training_run_create(dataset=dataset, params={}, created_by=None)
    TrainingRun.objects.filter(id=run.id).update(**fields)
    run.refresh_from_db()
    return run


# --- the form ----------------------------------------------------------------------------------------


def test_the_form_shows_the_defaults_to_edit(
    login: Callable[[User], Client], engineer: User, lora_dataset: TrainingDataset
) -> None:
    response = login(engineer).get(train_url(lora_dataset))
    assert response.status_code == 200
    html = response.content.decode()
    for name, value in (("learning_rate", "0.0002"), ("epochs", "3"), ("lora_r", "16"), ("lora_alpha", "32"),
                        ("batch_size", "4"), ("max_seq_len", "1024"), ("early_stopping_patience", "3")):  # fmt: skip
        assert f'name="{name}" value="{value}"' in html, name
    for name in ("max_steps", "lora_dropout", "packing", "gradient_checkpointing", "method"):
        assert f'name="{name}"' in html
    assert 'value="qlora"' in html and "Start training" in html


def test_a_classifier_dataset_has_no_lora_fields(
    login: Callable[[User], Client], engineer: User, classifier_dataset: TrainingDataset
) -> None:
    html = login(engineer).get(train_url(classifier_dataset)).content.decode()
    assert 'name="c"' in html and 'name="balanced"' in html
    for name in ("lora_r", "lora_alpha", "lora_dropout", "method", "packing", "max_seq_len"):
        assert f'name="{name}"' not in html


def test_starting_a_run_redirects_to_its_page(
    login: Callable[[User], Client],
    engineer: User,
    lora_dataset: TrainingDataset,
    django_capture_on_commit_callbacks: Any,
) -> None:
    form = {
        "method": "lora", "learning_rate": "0.001", "epochs": "2", "max_steps": "0", "batch_size": "8",
        "max_seq_len": "512", "packing": "on", "lora_r": "8", "lora_alpha": "16", "lora_dropout": "0.1",
        "early_stopping_patience": "2",
    }  # fmt: skip
    with django_capture_on_commit_callbacks() as callbacks:
        response = login(engineer).post(train_url(lora_dataset), form)
    run = TrainingRun.objects.get(dataset=lora_dataset)
    assert response.status_code == 302 and response["Location"] == run_url(run)
    assert run.params["learning_rate"] == 0.001 and run.params["batch_size"] == 8 and run.params["lora_r"] == 8
    assert run.params["packing"] is True and run.params["gradient_checkpointing"] is False  # unticked
    assert run.params["warmup_ratio"] == 0.03  # not on the form: the default
    assert run.created_by == engineer and len(callbacks) == 1


def test_the_form_says_when_no_worker_could_run_it_and_the_post_is_refused(
    login: Callable[[User], Client], engineer: User, lora_dataset: TrainingDataset
) -> None:
    GpuWorker.objects.all().delete()
    client = login(engineer)
    html = client.get(train_url(lora_dataset)).content.decode()
    assert "No worker can run this training yet." in html
    assert "No GPU worker has registered; start one with `celery -A controlplane worker -Q gpu` (see README)." in html
    response = client.post(train_url(lora_dataset), {"method": "lora", "learning_rate": "0.001", "epochs": "1",
                                                     "max_steps": "0", "batch_size": "4", "max_seq_len": "512",
                                                     "lora_r": "8", "lora_alpha": "16", "lora_dropout": "0",
                                                     "early_stopping_patience": "1"})  # fmt: skip
    assert response.status_code == 409 and "No GPU worker has registered" in response.content.decode()
    assert not TrainingRun.objects.exists()


def test_the_form_of_a_dataset_still_building_says_so(
    login: Callable[[User], Client], engineer: User, lora_dataset: TrainingDataset
) -> None:
    TrainingDataset.objects.filter(id=lora_dataset.id).update(status="running")
    html = login(engineer).get(train_url(lora_dataset)).content.decode()
    assert "This dataset is not built (running)" in html and "No worker can run" not in html


def test_a_queued_run_says_what_it_waits_for_on_its_page(
    login: Callable[[User], Client], viewer: User, lora_dataset: TrainingDataset
) -> None:
    run = a_run(lora_dataset)
    GpuWorker.objects.filter(name="celery@tests").update(draining=True)
    html = login(viewer).get(run_url(run), **HX).content.decode()
    assert "Waiting: every worker on the gpu queue is draining (celery@tests)" in html


def test_a_bad_value_shows_the_form_again_with_the_error(
    login: Callable[[User], Client], engineer: User, lora_dataset: TrainingDataset
) -> None:
    response = login(engineer).post(train_url(lora_dataset), {"learning_rate": "-1", "epochs": "3"})
    assert response.status_code == 400
    assert "greater than or equal to" in response.content.decode()
    assert not TrainingRun.objects.exists()


def test_viewers_see_the_form_but_cannot_start_a_run(
    login: Callable[[User], Client], viewer: User, lora_dataset: TrainingDataset
) -> None:
    client = login(viewer)
    response = client.get(train_url(lora_dataset))
    assert response.status_code == 200 and "Start training</button>" not in response.content.decode()
    assert client.post(train_url(lora_dataset), {"epochs": "1"}).status_code == 403


def test_outsiders_get_404_and_strangers_the_login_page(
    login: Callable[[User], Client], client: Client, outsider: User, lora_dataset: TrainingDataset,
    make_dataset: Callable[..., TrainingDataset], other_project: Project, lora_rows: Any, engineer: User,
) -> None:  # fmt: skip
    response = client.get(train_url(lora_dataset))
    assert response.status_code == 302 and "/login" in response["Location"]
    assert login(outsider).get(train_url(lora_dataset)).status_code == 404
    theirs = make_dataset(lora_rows, target=other_project)
    wrong_project = f"/p/{lora_dataset.project.slug}/specialists/datasets/{theirs.id}/train/"
    assert login(engineer).get(wrong_project).status_code == 404


def test_the_form_answers_only_get_and_post(
    login: Callable[[User], Client], engineer: User, lora_dataset: TrainingDataset
) -> None:
    assert login(engineer).put(train_url(lora_dataset)).status_code == 405


# --- the run's page ----------------------------------------------------------------------------------


def test_a_running_run_polls_with_its_figures_and_curve(
    login: Callable[[User], Client], viewer: User, lora_dataset: TrainingDataset
) -> None:
    history = [
        {"step": 1, "epoch": 0, "train_loss": 3.0, "val_loss": None, "lr": 0.1, "tokens_per_s": 800.0},
        {"step": 2, "epoch": 0, "train_loss": 2.5, "val_loss": 2.8, "lr": 0.1, "tokens_per_s": 820.0},
    ]
    run = a_run(
        lora_dataset, status="running", stage="training", progress=0.4, step=2, total_steps=5, history=history,
        tokens_per_s=812.0, eta_s=95.0, gpu_memory_mb=20480.0, gpu_worker="celery@gpu-1",
    )  # fmt: skip
    client = login(viewer)
    page = client.get(run_url(run)).content.decode()
    assert "<html" in page and 'id="run-status"' in page and "Parameters" in page
    fragment = client.get(run_url(run), **HX)
    html = fragment.content.decode()
    assert fragment.status_code == 200 and "<html" not in html and html.lstrip().startswith('<section id="run-status"')
    assert 'hx-trigger="every 2s"' in html and "progress-bar w-40" in html
    assert "2</div>" in html or "2 <span" in html
    assert "of 5" in html and "812" in html and "1 min 35 s" in html and "20,480 MB" in html
    assert "<svg" in html and "polyline" in html and "Validation loss at step 2: 2.8000" in html
    assert "Cancel run" not in html  # a viewer cannot cancel


def test_a_finished_run_stops_polling_and_shows_the_artifact(
    login: Callable[[User], Client], engineer: User, lora_dataset: TrainingDataset
) -> None:
    run = a_run(
        lora_dataset, status="succeeded", progress=1.0, artifact_path="/var/artifacts/training/x/adapter",
        metrics={"val_loss": 1.2345, "notes": ["QLoRA needs a CUDA GPU; this worker has none"]},
    )  # fmt: skip
    html = login(engineer).get(run_url(run), **HX).content.decode()
    assert "hx-trigger" not in html and "Cancel run" not in html
    assert "/var/artifacts/training/x/adapter" in html and "QLoRA needs a CUDA GPU" in html and "1.2345" in html


def test_a_classifier_run_shows_accuracy_against_the_majority_class(
    login: Callable[[User], Client], viewer: User, classifier_dataset: TrainingDataset
) -> None:
    run = a_run(
        classifier_dataset, status="succeeded",
        metrics={"test_accuracy": 0.9, "majority_accuracy": 0.52, "majority_label": "negative", "val_accuracy": 0.95},
    )  # fmt: skip
    html = login(viewer).get(run_url(run)).content.decode()
    assert "Test accuracy" in html and "90.0%" in html and "52.0%" in html and "always “negative”" in html
    assert "Tokens/s" not in html


def test_cancelling_from_the_page(
    login: Callable[[User], Client], engineer: User, lora_dataset: TrainingDataset
) -> None:
    running = a_run(lora_dataset, status="running")
    client = login(engineer)
    assert "Cancel run" in client.get(run_url(running)).content.decode()
    response = client.post(run_url(running, "cancel/"), **HX)
    assert response.status_code == 200 and "cancelling" in response.content.decode()
    running.refresh_from_db()
    assert running.cancel_requested and running.status == "running"
    queued = a_run(lora_dataset)
    response = client.post(run_url(queued, "cancel/"))
    assert response.status_code == 302 and response["Location"] == run_url(queued)
    queued.refresh_from_db()
    assert queued.status == "cancelled"


def test_viewers_cannot_cancel_and_outsiders_get_404(
    login: Callable[[User], Client], viewer: User, outsider: User, lora_dataset: TrainingDataset
) -> None:
    run = a_run(lora_dataset, status="running")
    assert login(viewer).post(run_url(run, "cancel/")).status_code == 403
    run.refresh_from_db()
    assert not run.cancel_requested
    assert login(outsider).get(run_url(run)).status_code == 404
    assert login(outsider).post(run_url(run, "cancel/")).status_code == 404


def test_the_run_page_answers_only_get(
    login: Callable[[User], Client], engineer: User, lora_dataset: TrainingDataset
) -> None:
    run = a_run(lora_dataset)
    client = login(engineer)
    assert client.post(run_url(run)).status_code == 405
    assert client.get(run_url(run, "cancel/")).status_code == 405
    with mock.patch("apps.specialists.services.training_run_cancel") as cancel:
        client.get(run_url(run, "cancel/"))
    cancel.assert_not_called()
