"""People's decisions (names, merges, splits, keep-on-LLM) survive the next discovery run."""

from collections.abc import Callable

from apps.calls.models import Call
from apps.discovery import selectors, services
from apps.discovery.models import ClusterStatus, DiscoveryRun, RunKind, TaskCluster
from apps.projects.models import Project
from tests.discovery.conftest import cluster_of


def test_a_renamed_task_keeps_its_name_and_description_after_a_run(
    discovered: Project, run_discovery: Callable[..., DiscoveryRun], task_of: dict[str, str]
) -> None:
    sql = cluster_of(discovered, task_of, "text_to_sql")
    services.task_cluster_update(cluster=sql, name="Course questions to SQL", description="Advising bot")

    run_discovery(min_cluster_size=10)

    again = cluster_of(discovered, task_of, "text_to_sql")
    assert again.id == sql.id
    assert (again.name, again.description, again.edited) == ("Course questions to SQL", "Advising bot", True)


def test_an_untouched_task_gets_a_fresh_generated_name(
    discovered: Project, run_discovery: Callable[..., DiscoveryRun], task_of: dict[str, str]
) -> None:
    sql = cluster_of(discovered, task_of, "text_to_sql")
    TaskCluster.objects.filter(id=sql.id).update(name="stale")

    run_discovery(min_cluster_size=10)

    assert TaskCluster.objects.get(id=sql.id).name != "stale"


def test_a_generated_name_never_takes_the_name_people_gave_another_task(
    discovered: Project, run_discovery: Callable[..., DiscoveryRun], task_of: dict[str, str]
) -> None:
    sql = cluster_of(discovered, task_of, "text_to_sql")
    sentiment = cluster_of(discovered, task_of, "sentiment_classification")
    assert sentiment.name == "Classify customer review sentiment"
    services.task_cluster_update(cluster=sql, name="Classify customer review sentiment")

    run_discovery(min_cluster_size=10)

    names = list(TaskCluster.objects.filter(project=discovered, status="active").values_list("name", flat=True))
    assert len(set(names)) == len(names) == 3
    assert TaskCluster.objects.get(id=sql.id).name == "Classify customer review sentiment"
    renamed = TaskCluster.objects.get(id=sentiment.id).name
    assert renamed.startswith("Classify customer review sentiment (") and len(renamed) <= 60


def test_merged_tasks_stay_merged_after_a_run(
    discovered: Project, run_discovery: Callable[..., DiscoveryRun], task_of: dict[str, str]
) -> None:
    sentiment = cluster_of(discovered, task_of, "sentiment_classification")
    triage = cluster_of(discovered, task_of, "ticket_triage_json")
    services.task_cluster_merge(cluster=triage, into=sentiment)
    assert Call.objects.filter(project=discovered, task_cluster=sentiment).count() == 80

    run = run_discovery(min_cluster_size=10)

    assert Call.objects.filter(project=discovered, task_cluster=sentiment).count() >= 78
    assert TaskCluster.objects.get(id=triage.id).status == ClusterStatus.MERGED
    assert TaskCluster.objects.filter(project=discovered, status="active").count() == 2
    assert run.changes["new"] == []


def test_a_split_makes_parts_that_survive_a_run(
    discovered: Project, run_discovery: Callable[..., DiscoveryRun], task_of: dict[str, str]
) -> None:
    """Merge two tasks by mistake, then split the result: the split finds the two tasks again, and
    the next full run keeps the split."""
    sentiment = cluster_of(discovered, task_of, "sentiment_classification")
    triage = cluster_of(discovered, task_of, "ticket_triage_json")
    merged = services.task_cluster_merge(cluster=triage, into=sentiment)

    split = run_discovery(kind=RunKind.SPLIT, target=merged)

    assert split.changes["split"] is True
    assert selectors.drift_get(project=discovered).arrived == 0  # a split moves calls; none arrived
    parts = list(TaskCluster.objects.filter(parent=merged))
    assert len(parts) == 2
    assert TaskCluster.objects.get(id=merged.id).status == ClusterStatus.SPLIT
    for part in parts:
        truths = {task_of[c] for c in Call.objects.filter(task_cluster=part).values_list("client_id", flat=True)}
        assert len(truths) == 1, truths
    # each part is named from its own calls' instruction
    assert {p.name for p in parts} == {"Classify customer review sentiment", "Route customer message as JSON"}

    run_discovery(min_cluster_size=10)

    assert {c.id for c in TaskCluster.objects.filter(project=discovered, status="active")} >= {p.id for p in parts}
    for part in parts:
        assert Call.objects.filter(task_cluster=part).count() >= 38


def test_a_split_of_one_homogeneous_task_changes_nothing(
    discovered: Project, run_discovery: Callable[..., DiscoveryRun], task_of: dict[str, str]
) -> None:
    sentiment = cluster_of(discovered, task_of, "sentiment_classification")

    run = run_discovery(kind=RunKind.SPLIT, target=sentiment, min_cluster_size=30)

    assert run.changes == {"split": False}
    assert "holds one task" in run.message
    assert TaskCluster.objects.get(id=sentiment.id).status == ClusterStatus.ACTIVE


def test_keep_on_llm_survives_a_run(
    discovered: Project, run_discovery: Callable[..., DiscoveryRun], task_of: dict[str, str]
) -> None:
    triage = cluster_of(discovered, task_of, "ticket_triage_json")
    services.task_cluster_update(cluster=triage, keep_on_llm=True)

    run_discovery(min_cluster_size=10)

    assert TaskCluster.objects.get(id=triage.id).keep_on_llm is True
