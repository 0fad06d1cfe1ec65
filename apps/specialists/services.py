"""Writes: the catalog, datasets (created here, built by the job in datasets.py) and training runs
(created, cancelled, put back to wait for a GPU, finished; run by the job in execution.py).

Services never import the tasks: work is sent with apps.jobs.services.job_enqueue, after commit."""

from pathlib import Path
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, User
from django.db import transaction
from django.db.models import F

from apps.common.errors import Conflict, DomainError
from apps.common.ids import as_uuid
from apps.discovery.models import TaskCluster
from apps.discovery.texts import OutputKind
from apps.jobs import services as jobs
from apps.jobs.models import JobStatus
from apps.specialists import selectors
from apps.specialists.catalog import HF_ID, read_model_folder
from apps.specialists.models import CatalogModel, DatasetExample, SpecialistKind, TrainingDataset, TrainingRun
from apps.specialists.params import memory_estimate_mb, training_params

MAX_HELD_OUT = 0.5  # validation + test may take at most half the groups
GPU_WAIT_S = 30  # a run put back to wait for a GPU is sent again after this long
GPU_WAIT_MAX = 120  # an hour of waiting, then the run fails with the reason


# --- the catalog --------------------------------------------------------------------------------------


@transaction.atomic
def catalog_model_add(
    *,
    hf_id_or_path: str,
    name: str = "",
    family: str = "",
    params_b: float | None = None,
    licence: str = "",
    licence_url: str = "",
    context_window: int | None = None,
    architecture: str = "",
    chat_template: bool | None = None,
    tool_calling: bool | None = None,
    source_url: str = "",
    added_by: User | None = None,
) -> CatalogModel:
    """Add a model an admin chose. A local folder is read (figures given here win over what it says);
    a Hugging Face id needs the figures, since nothing is downloaded."""
    ref = hf_id_or_path.strip()
    if not ref:
        raise DomainError("Give a Hugging Face id (owner/name) or a local folder.", field="hf_id")
    folder = Path(ref).expanduser()
    local_path = ""
    if folder.is_dir():
        folder = folder.resolve()
        found = read_model_folder(folder)
        ref = local_path = str(folder)
        params_b = params_b or found.params_b
        context_window = context_window or found.context_window
        architecture = architecture or found.architecture
        chat_template = found.chat_template if chat_template is None else chat_template
        tool_calling = found.tool_calling if tool_calling is None else tool_calling
        licence = licence or found.licence
        name = name or folder.name
    elif ref.startswith(("/", ".", "~")):
        raise DomainError(f"No folder at {ref} on this machine.", field="hf_id")
    elif not HF_ID.match(ref):
        raise DomainError("A Hugging Face id looks like owner/name, e.g. Qwen/Qwen2.5-0.5B-Instruct.", field="hf_id")
    if CatalogModel.objects.filter(hf_id=ref).exists():
        raise Conflict(f"{ref} is in the catalog already.", field="hf_id")
    if not params_b or params_b <= 0:
        raise DomainError("Give the number of parameters (in billions).", field="params_b")
    if not context_window or context_window <= 0:
        raise DomainError("Give the context window (in tokens).", field="context_window")
    if not licence.strip():
        raise DomainError("Give the model's licence (an SPDX id such as apache-2.0).", field="licence")
    return CatalogModel.objects.create(
        hf_id=ref,
        name=name or ref.rsplit("/", 1)[-1],
        family=family,
        params_b=params_b,
        licence=licence.strip().lower(),
        licence_url=licence_url,
        context_window=context_window,
        architecture=architecture,
        chat_template=True if chat_template is None else chat_template,
        tool_calling=bool(tool_calling),
        source_url=source_url or (f"https://huggingface.co/{ref}" if not local_path else ""),
        local_path=local_path,
        seeded=False,
        added_by=added_by,
    )


# --- datasets -----------------------------------------------------------------------------------------


def _dataset_validate(
    *, cluster: TaskCluster, base_model: CatalogModel | None, kind: str, val_fraction: float, test_fraction: float
) -> None:
    if kind not in SpecialistKind.values:
        raise DomainError(f"Unknown kind {kind!r}: use lora or classifier.", field="kind", status=422, code="invalid")
    if kind == SpecialistKind.LORA and base_model is None:
        raise DomainError("Choose a base model for a LoRA specialist.", field="base_model", status=422, code="invalid")
    if kind == SpecialistKind.CLASSIFIER:
        if base_model is not None:
            raise DomainError(
                "A classifier has no base model; leave it empty.", field="base_model", status=422, code="invalid"
            )
        if cluster.output_kind != OutputKind.LABEL:
            raise DomainError(
                "A classifier needs a task whose answers are labels from a closed set.",
                field="kind",
                status=422,
                code="invalid",
            )
    if base_model is not None and not base_model.enabled:
        raise DomainError(f"{base_model.name} is disabled in the catalog.", field="base_model", status=422)
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= value < 1:
            raise DomainError(f"{name} must be at least 0 and below 1.", field=name, status=422, code="invalid")
    if val_fraction + test_fraction > MAX_HELD_OUT:
        raise DomainError(
            "Validation and test together may take at most half of the calls.",
            field="test_fraction",
            status=422,
            code="invalid",
        )


NOTHING_TO_TRAIN_ON = (
    "This task has no trainable calls with an answer: nothing to train on. Check the curation report for why "
    "its calls were excluded."
)


@transaction.atomic
def dataset_create(
    *,
    cluster: TaskCluster,
    base_model: CatalogModel | None,
    kind: str = SpecialistKind.LORA,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 13,
    created_by: AbstractBaseUser | None = None,
) -> TrainingDataset:
    """Queue the build of a dataset (datasets.dataset_build_run, on the cpu queue): the choices are checked
    here, the calls are read by the job."""
    _dataset_validate(
        cluster=cluster, base_model=base_model, kind=kind, val_fraction=val_fraction, test_fraction=test_fraction
    )
    if not selectors.dataset_calls(cluster=cluster).exists():
        raise DomainError(NOTHING_TO_TRAIN_ON, code="no_data", status=400)
    dataset = TrainingDataset.objects.create(
        project=cluster.project,
        cluster=cluster,
        kind=kind,
        base_model=base_model,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        created_by=created_by,  # type: ignore[misc]
        stage="queued",
        message="Waiting for a worker on the cpu queue",
    )
    jobs.job_enqueue(job=dataset)
    return dataset


def _held(dataset: TrainingDataset) -> Any:
    """The dataset's row, locked, while the build that claimed it still holds it."""
    return TrainingDataset.objects.select_for_update().filter(
        id=dataset.id, status=JobStatus.RUNNING, attempt=dataset.attempt
    )


@transaction.atomic
def dataset_examples_clear(*, dataset: TrainingDataset) -> bool:
    """Drop what an earlier attempt stored, so this one redoes it. False: the build is no longer ours."""
    if not _held(dataset).exists():
        return False
    DatasetExample.objects.filter(dataset=dataset).delete()
    return True


@transaction.atomic
def dataset_examples_add(*, dataset: TrainingDataset, examples: list[DatasetExample]) -> bool:
    """Store one chunk of examples, fenced like every job write: the row lock keeps a newer claim from
    slipping in between the check and the insert. False: the build is no longer ours, nothing stored."""
    if not _held(dataset).exists():
        return False
    DatasetExample.objects.bulk_create(examples)
    return True


def dataset_build_succeed(*, dataset: TrainingDataset, folder: Path, counts: dict[str, int], **fields: Any) -> bool:
    total = sum(counts.values())
    return jobs.job_succeed(
        job=dataset,
        message=f"Built: {counts['train']:,} training, {counts['val']:,} validation and {counts['test']:,} test "
        f"examples from {total:,} calls",
        path=str(folder),
        train_count=counts["train"],
        val_count=counts["val"],
        test_count=counts["test"],
        **fields,
    )


# --- training runs ------------------------------------------------------------------------------------


@transaction.atomic
def training_run_create(
    *, dataset: TrainingDataset, params: dict[str, Any] | None, created_by: AbstractBaseUser | None
) -> TrainingRun:
    """Queue a run on a built dataset: LoRA on the gpu queue, a classifier on the cpu queue. Refused, with
    what to do, when no registered worker could ever run it (selectors.training_run_blocker)."""
    if dataset.status != JobStatus.SUCCEEDED:
        words = "failed: build it again" if dataset.status == JobStatus.FAILED else "is not built yet: wait for it"
        raise DomainError(f"This dataset {words}", field="dataset", code="not_built", status=409)
    if not dataset.train_count:
        raise DomainError("This dataset has no training examples: build one from more calls", field="dataset")
    kind = dataset.kind
    lora = kind == SpecialistKind.LORA
    base = dataset.base_model if lora else None
    if lora and base is None:
        raise DomainError("A LoRA specialist needs a base model: build the dataset for one", field="dataset")
    filled = training_params(kind=kind, overrides=params)
    method = filled["method"] if lora else "logreg"  # the field holds 8 characters
    memory = memory_estimate_mb(params_b=base.params_b, params=filled) if base else 0
    blocker = selectors.training_run_blocker(kind=kind, base_model=base, method=method, memory_estimate_mb=memory)
    if blocker:
        raise DomainError(blocker, code="cannot_run", status=409)
    run = TrainingRun.objects.create(
        project=dataset.project,
        cluster=dataset.cluster,
        dataset=dataset,
        kind=kind,
        base_model=base,
        method=method,
        params=filled,
        queue="gpu" if lora else "cpu",
        memory_estimate_mb=memory,
        created_by=created_by,  # type: ignore[misc]
        stage="queued",
    )
    run.message = selectors.training_run_queue_note(run=run)[:500]
    TrainingRun.objects.filter(id=run.id).update(message=run.message)
    jobs.job_enqueue(job=run)
    return run


def training_run_cancel(*, run: TrainingRun) -> TrainingRun:
    result = jobs.job_request_cancel(job=run)
    assert isinstance(result, TrainingRun)
    return result


def training_run_cancel_on_worker(*, worker_name: str, job_id: str) -> TrainingRun:
    """Cancel the run a worker runs (its row's current job, else the run that names it)."""
    uid = as_uuid(job_id)
    run = TrainingRun.objects.filter(id=uid).first() if uid else None
    if run is None or run.is_terminal:
        running = selectors.training_run_running_on(worker_name=worker_name)
        run = TrainingRun.objects.filter(id=running).first() if running else None
    if run is None:
        raise Conflict(f"{worker_name} is not running a training run")
    return training_run_cancel(run=run)


@transaction.atomic
def training_run_defer(*, run: TrainingRun, reason: str) -> None:
    """The worker that got the run cannot start it now (no room on its GPU, draining, QLoRA without a
    GPU): the run stays queued, says why, and is sent again in GPU_WAIT_S seconds (the job kind's send
    options add the countdown while gpu_waits > 0), for another worker or for this one once it has room.
    After GPU_WAIT_MAX tries it fails with the reason."""
    if run.gpu_waits >= GPU_WAIT_MAX:
        claimed = jobs.job_claim(model=TrainingRun, job_id=run.id)
        if claimed is not None:
            minutes = round(run.gpu_waits * GPU_WAIT_S / 60)
            jobs.job_fail(
                job=claimed,
                error=f"{reason} for {minutes} minutes: free a GPU, or lower the batch size or sequence length, "
                "or use QLoRA",
            )
        return
    # Compare-and-set on the count: of two copies of the message, only one sends the run again.
    if TrainingRun.objects.filter(id=run.id, status=JobStatus.QUEUED, gpu_waits=run.gpu_waits).update(
        message=reason[:500], gpu_waits=F("gpu_waits") + 1
    ):
        run.gpu_waits += 1
        jobs.job_enqueue(job=run)


def training_run_started(*, run: TrainingRun, worker_name: str) -> bool:
    """The claimed run names the worker (Celery node) it runs on. False: cancelled or no longer ours."""
    return jobs.job_progress(
        job=run, fraction=0.0, stage="starting", message=f"Starting on {worker_name}", gpu_worker=worker_name
    )


def _summary(run: TrainingRun, result: dict[str, Any]) -> str:
    m = result["metrics"]
    if run.kind == SpecialistKind.CLASSIFIER:
        text = f"Test accuracy {m['test_accuracy']:.1%}" if m.get("test_accuracy") is not None else "Trained"
        if m.get("majority_accuracy") is not None:
            text += f" (majority class {m['majority_accuracy']:.1%})"
    else:
        text = f"{m['steps']:,} steps"
        if m.get("val_loss") is not None:
            text += f"; best validation loss {m['val_loss']:.4f} at step {m['best_step']:,}"
    return "; ".join([text, *result["notes"]])


def training_run_succeed(*, run: TrainingRun, result: dict[str, Any], artifact_uri: str = "") -> bool:
    """Record the job's result and end the run, in one fenced write. False: no longer ours."""
    metrics = {**result["metrics"], "notes": result["notes"]}
    if artifact_uri:
        metrics["artifact_uri"] = artifact_uri
    return jobs.job_succeed(
        job=run,
        message=_summary(run, result),
        metrics=metrics,
        method=result["method"],
        artifact_path=result["adapter_path"],
        checkpoint_path="",
        eta_s=0,
    )
