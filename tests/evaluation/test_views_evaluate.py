"""Starting an evaluation from the task's evaluation report: the panel lists the task's finished specialists,
the catalog's models and the project's endpoints with their newest evaluation; its form calls the service the
API calls; running evaluations show their progress and can be cancelled."""

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.discovery.models import TaskCluster
from apps.evaluation.models import Evaluation, ModelEndpoint
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from apps.specialists.models import CatalogModel, SpecialistKind, TrainingDataset, TrainingRun
from tests.approvals.factories import endpoint, evaluated, label_task
from tests.evaluation.test_views_report import text
from tests.specialists.workers_helpers import gpu, register

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


@pytest.fixture
def task(project: Project) -> TaskCluster:
    return label_task(project)


@pytest.fixture
def qwen(project: Project) -> ModelEndpoint:
    return endpoint(project)


def training_run(task: TaskCluster, status: str = JobStatus.SUCCEEDED) -> TrainingRun:
    dataset = TrainingDataset.objects.create(project=task.project, cluster=task, status=JobStatus.SUCCEEDED)
    return TrainingRun.objects.create(
        project=task.project,
        cluster=task,
        dataset=dataset,
        kind=SpecialistKind.CLASSIFIER,
        method="logreg",
        queue="cpu",
        status=status,
        artifact_path="/artifacts/classifier" if status == JobStatus.SUCCEEDED else "",
    )


def report(cluster: TaskCluster) -> str:
    return f"/p/{cluster.project.slug}/tasks/{cluster.id}/evaluation/"


def start(cluster: TaskCluster) -> str:
    return f"{report(cluster)}start/"


def cancel(evaluation: Evaluation) -> str:
    return f"{report(evaluation.cluster)}{evaluation.id}/cancel/"


def panel(html: str) -> str:
    return html.split('<section id="evaluate-panel"')[1].split("</section>")[0]


def errors(html: str, field: str) -> str:
    """The text of the error list shown by a field of the form."""
    found = re.search(rf'<ul class="errorlist" id="{field}-errors"[^>]*>(.*?)</ul>', html, re.S)
    return text(found.group(1)).strip() if found else ""


def test_the_panel_lists_the_candidates_and_what_became_of_them(
    login: Callable[[User], Client], engineer: User, task: TaskCluster, qwen: ModelEndpoint, project: Project
) -> None:
    run = training_run(task)
    training_run(task, status=JobStatus.RUNNING)  # not finished: not offered
    done = evaluated(task, qwen, wrong=2)
    tiny = endpoint(project, name="tiny", model="smollm2-135m")
    running = evaluated(task, tiny, status=JobStatus.RUNNING)
    endpoint(project, name="fresh", model="phi-4-mini")
    model = CatalogModel.objects.get(hf_id=QWEN)
    Evaluation.objects.create(
        project=project, cluster=task, base_model=model, shots=3, kind="label", target=0.9, status=JobStatus.FAILED
    )

    html = login(engineer).get(report(task)).content.decode()
    form = panel(html)
    assert f'action="{start(task)}"' in form and "csrfmiddlewaretoken" in form
    assert form.count(f'value="training_run:{run.id}"') == 1 and form.count('value="training_run:') == 1
    assert f'value="endpoint:{qwen.id}"' in form and f'value="endpoint:{tiny.id}"' in form
    option = f"Qwen2.5 0.5B Instruct · {model.params_b:g}B · {QWEN} · evaluated 3-shot"
    assert f'<option value="{model.id}">{option}</option>' in form
    assert 'name="shots" min="0" max="16"' in form
    words = text(form)
    assert "MiniLM classifier training run" in words and "Not evaluated on this task yet" in words
    assert "Evaluated just now: Succeeded · 95.0%" in words
    assert "Being evaluated: Running · 40%" in words
    assert "Qwen2.5 0.5B Instruct, 3-shot: Evaluated just now: Failed" in words
    assert (
        f'href="{report(task)}?candidate={done.id}"' in form and f'href="{report(task)}?candidate={running.id}"' in form
    )
    assert 'href="#evaluate-panel">Evaluate a candidate</a>' in html


def test_with_no_endpoint_the_panel_says_how_to_register_one(
    login: Callable[[User], Client], owner: User, task: TaskCluster
) -> None:
    html = login(owner).get(report(task)).content.decode()
    words = text(panel(html))
    assert "No model endpoint registered yet" in words and "/api/v1/endpoints" in words
    assert "No training run of this task has finished. Train a specialist" in words


def test_an_engineer_starts_an_evaluation_and_it_is_queued_after_commit(
    login: Callable[[User], Client],
    engineer: User,
    task: TaskCluster,
    qwen: ModelEndpoint,
    django_capture_on_commit_callbacks: Any,
) -> None:
    client = login(engineer)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(start(task), {"candidate": f"endpoint:{qwen.id}", "shots": "0", "target": "0.9"})
    assert response.status_code == 302 and response["Location"] == f"{report(task)}#evaluation-jobs"
    assert len(callbacks) == 1
    evaluation = Evaluation.objects.get()
    assert (evaluation.endpoint, evaluation.cluster, evaluation.target, evaluation.created_by) == (
        qwen,
        task,
        0.9,
        engineer,
    )
    assert (evaluation.status, evaluation.shots, evaluation.training_run, evaluation.base_model) == (
        "queued",
        None,
        None,
        None,
    )
    page = client.get(report(task)).content.decode()
    assert "qwen-small is queued: waiting for a worker on the cpu queue" in text(page)
    jobs = page.split('<section id="evaluation-jobs"')[1].split("</section>")[0]
    assert 'hx-trigger="every 2s"' in jobs and 'role="progressbar"' in jobs and "Cancel" in jobs


def test_a_specialist_and_a_base_model_with_shots_are_started_with_htmx(
    login: Callable[[User], Client], owner: User, task: TaskCluster, django_capture_on_commit_callbacks: Any
) -> None:
    run = training_run(task)
    model = CatalogModel.objects.get(hf_id=QWEN)
    register("celery@box", queues=("cpu", "gpu"), gpus=[gpu(80_000)], has=(model,), encoder=True)
    client = login(owner)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(start(task), {"candidate": f"training_run:{run.id}", "shots": "0"}, **HX)
    assert response.status_code == 200 and len(callbacks) == 1
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="evaluate-panel"') and "<html" not in html
    assert "MiniLM classifier is queued" in text(html)
    assert '<section id="evaluation-jobs"' in html and 'hx-swap-oob="true"' in html
    assert Evaluation.objects.get().training_run == run

    # A model picked in the list is the candidate even when its option was not ticked.
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(start(task), {"candidate": "", "base_model": str(model.id), "shots": "4"}, **HX)
    assert response.status_code == 200 and len(callbacks) == 1
    evaluation = Evaluation.objects.get(base_model=model)
    assert (evaluation.shots, evaluation.queue, evaluation.target) == (4, "gpu", 0.95)


@pytest.mark.parametrize(
    ("shots", "status", "message"),
    [
        ("17", 422, "shots is the number of examples in the prompt: 0 to 16."),
        ("-1", 422, "shots is the number of examples in the prompt: 0 to 16."),
        ("two", 400, "shots is the number of examples in the prompt: a whole number from 0 to 16."),
    ],
)
def test_bad_shots_show_the_form_again_with_the_error_and_the_values_sent(
    login: Callable[[User], Client], engineer: User, task: TaskCluster, shots: str, status: int, message: str
) -> None:
    model = CatalogModel.objects.get(hf_id=QWEN)
    sent = {"candidate": "base_model", "base_model": str(model.id), "shots": shots, "target": "0.85"}
    client = login(engineer)
    response = client.post(start(task), sent)
    assert response.status_code == status
    html = response.content.decode()
    assert "<html" in html and errors(html, "shots") == message
    assert 'The evaluation was not started: <a href="#evaluate-panel">' in html
    form = panel(html)
    assert f'value="{shots}"' in form and 'value="0.85"' in form
    assert 'value="base_model" checked' in form and f'<option value="{model.id}" selected>' in form
    fragment = client.post(start(task), sent, **HX)
    assert fragment.status_code == status and fragment.content.decode().lstrip().startswith(
        '<section id="evaluate-panel"'
    )
    assert errors(fragment.content.decode(), "shots") == message
    assert not Evaluation.objects.exists()


def test_the_services_refusals_are_shown_by_the_field_they_name(
    login: Callable[[User], Client], engineer: User, task: TaskCluster, qwen: ModelEndpoint
) -> None:
    client = login(engineer)
    response = client.post(start(task), {"candidate": f"endpoint:{qwen.id}", "target": "1.5"})
    assert response.status_code == 422
    assert errors(response.content.decode(), "target") == "The target is an agreement above 0 and below 1."
    assert f'value="endpoint:{qwen.id}" checked' in response.content.decode()

    response = client.post(start(task), {"shots": "0"})
    assert (
        response.status_code == 422
        and errors(response.content.decode(), "candidate") == "Choose a candidate to evaluate."
    )

    # No GPU worker: refused at once, by the model chosen.
    model = CatalogModel.objects.get(hf_id=QWEN)
    response = client.post(start(task), {"candidate": "base_model", "base_model": str(model.id), "shots": "2"})
    assert response.status_code == 409 and "No GPU worker has registered" in errors(
        response.content.decode(), "base-model"
    )

    unfinished = training_run(task, status=JobStatus.RUNNING)
    response = client.post(start(task), {"candidate": f"training_run:{unfinished.id}"})
    assert response.status_code == 409
    assert errors(response.content.decode(), "candidate") == (
        "This training run has not finished: evaluate a run that succeeded."
    )
    response = client.post(start(task), {"candidate": "endpoint:not-an-id"})
    assert response.status_code == 400
    assert errors(response.content.decode(), "candidate") == "No such model endpoint in this project"
    assert not Evaluation.objects.exists()


def test_a_candidate_evaluated_already_is_queued_again_only_when_asked(
    login: Callable[[User], Client], engineer: User, task: TaskCluster, qwen: ModelEndpoint
) -> None:
    evaluated(task, qwen, wrong=2)
    client = login(engineer)
    response = client.post(start(task), {"candidate": f"endpoint:{qwen.id}"}, **HX)
    assert response.status_code == 409
    html = response.content.decode()
    assert errors(html, "candidate") == (
        "qwen-small was evaluated on this task already: 95.0% agreement. Tick “Evaluate it again” to queue another "
        "evaluation of it."
    )
    assert 'name="again"' in html and Evaluation.objects.count() == 1
    response = client.post(start(task), {"candidate": f"endpoint:{qwen.id}", "again": "1"}, **HX)
    assert response.status_code == 200 and Evaluation.objects.count() == 2
    response = client.post(start(task), {"candidate": f"endpoint:{qwen.id}"}, **HX)
    assert response.status_code == 409
    assert "qwen-small is being evaluated on this task (queued, 0%)" in errors(response.content.decode(), "candidate")
    assert Evaluation.objects.count() == 2


def test_a_viewer_reads_who_may_start_one_and_is_refused(
    login: Callable[[User], Client], viewer: User, task: TaskCluster, qwen: ModelEndpoint
) -> None:
    client = login(viewer)
    running = evaluated(task, qwen, status=JobStatus.RUNNING)
    html = client.get(report(task)).content.decode()
    words = text(panel(html))
    assert "Engineers, owners and admins of" in words and "start and cancel evaluations" in words
    assert 'name="candidate"' not in html and "/cancel/" not in html and 'href="#evaluate-panel"' not in html
    assert client.post(start(task), {"candidate": f"endpoint:{qwen.id}"}).status_code == 403
    assert client.post(cancel(running)).status_code == 403
    assert Evaluation.objects.count() == 1
    assert Evaluation.objects.get().status == JobStatus.RUNNING and not Evaluation.objects.get().cancel_requested


def test_another_projects_task_or_evaluation_is_404(
    login: Callable[[User], Client], engineer: User, task: TaskCluster, other_project: Project
) -> None:
    theirs = label_task(other_project, calls=2)
    their_endpoint = endpoint(other_project)
    their_run = evaluated(theirs, their_endpoint, status=JobStatus.RUNNING)
    client = login(engineer)
    assert client.post(start(theirs).replace(other_project.slug, "acme"), {"candidate": ""}).status_code == 404
    assert client.post(cancel(their_run).replace(other_project.slug, "acme")).status_code == 404
    # Their evaluation under this project's task is not found either.
    assert client.post(f"{report(task)}{their_run.id}/cancel/").status_code == 404
    response = client.post(start(task), {"candidate": f"endpoint:{their_endpoint.id}"})
    assert response.status_code == 400 and Evaluation.objects.filter(cluster=task).count() == 0
    assert Evaluation.objects.get().cancel_requested is False


def test_cancel_stops_a_queued_evaluation_at_once_and_a_running_one_after_its_calls(
    login: Callable[[User], Client], engineer: User, task: TaskCluster, qwen: ModelEndpoint, project: Project
) -> None:
    client = login(engineer)
    running = evaluated(task, qwen, status=JobStatus.RUNNING)
    queued = evaluated(task, endpoint(project, name="tiny"), status=JobStatus.QUEUED)
    html = client.get(report(task)).content.decode()
    assert f'action="{cancel(queued)}"' in html and "Cancel the evaluation of tiny" in html

    response = client.post(cancel(queued), **HX)
    assert response.status_code == 200
    queued.refresh_from_db()
    assert queued.status == JobStatus.CANCELLED
    fragment = response.content.decode()
    assert fragment.lstrip().startswith('<section id="evaluation-jobs"') and "tiny" not in fragment

    response = client.post(cancel(running))
    assert response.status_code == 302 and response["Location"] == report(task)
    running.refresh_from_db()
    assert (running.status, running.cancel_requested) == (JobStatus.RUNNING, True)
    page = client.get(report(task)).content.decode()
    assert "The evaluation of qwen-small stops after the calls in flight." in text(page)
    jobs = page.split('<section id="evaluation-jobs"')[1].split("</section>")[0]
    assert "Stopping after the calls in flight" in jobs and f'action="{cancel(running)}"' not in jobs

    Evaluation.objects.filter(id=running.id).update(status=JobStatus.CANCELLED)
    assert client.post(cancel(running), **HX)["HX-Refresh"] == "true"


def test_get_on_the_form_posts_is_405(
    login: Callable[[User], Client], engineer: User, task: TaskCluster, qwen: ModelEndpoint
) -> None:
    running = evaluated(task, qwen, status=JobStatus.RUNNING)
    client = login(engineer)
    assert client.get(start(task)).status_code == 405
    assert client.get(cancel(running)).status_code == 405
