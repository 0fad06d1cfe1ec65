import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apps.specialists import execution, services
from apps.specialists.models import SpecialistKind, TrainingDataset, TrainingRun


def run_now(dataset: TrainingDataset, params: dict[str, Any] | None = None) -> TrainingRun:
    run = services.training_run_create(dataset=dataset, params=params, created_by=None)
    execution.training_run_execute(run_id=run.id)
    run.refresh_from_db()
    return run


def test_a_sentiment_classifier_beats_the_majority_class_by_a_wide_margin(classifier_dataset: TrainingDataset) -> None:
    import joblib

    from workers.jobs.embedding import embed

    run = run_now(classifier_dataset)
    assert run.status == "succeeded", run.error
    assert (run.queue, run.method, run.memory_estimate_mb) == ("cpu", "logreg", 0)
    assert run.gpu_worker == socket.gethostname()  # the worker that ran it
    m = run.metrics
    print(
        f"\nclassifier: test accuracy {m['test_accuracy']:.3f} on {m['test_examples']} calls, "
        f"majority class {m['majority_accuracy']:.3f}, validation {m['val_accuracy']:.3f}"
    )
    assert (m["train_examples"], m["val_examples"], m["test_examples"]) == (300, 37, 38)
    assert m["majority_label"] == "negative" and m["majority_accuracy"] == round(20 / 38, 4)
    assert m["test_accuracy"] >= m["majority_accuracy"] + 0.2
    assert m["labels"] == ["negative", "positive"]
    assert "Test accuracy" in run.message and "majority class" in run.message

    folder = Path(run.artifact_path)
    assert folder == execution.run_dir(run.id) / "classifier"
    model = joblib.load(folder / "model.joblib")
    assert json.loads((folder / "labels.json").read_text()) == ["negative", "positive"]
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["test_hash"] == classifier_dataset.test_hash and meta["metrics"]["test_accuracy"] == m["test_accuracy"]
    texts = ["Absolutely wonderful, the staff were lovely and the food was great.", "Terrible. Rude and slow."]
    assert list(model.predict(embed(texts))) == ["positive", "negative"]


def test_one_label_is_not_enough_for_a_classifier(make_dataset: Callable[..., TrainingDataset], trainer: Any) -> None:
    rows = {"train": [{"text": f"text {i}", "label": "yes"} for i in range(5)], "test": [{"text": "t", "label": "yes"}]}
    run = run_now(make_dataset(rows, kind=SpecialistKind.CLASSIFIER))
    assert run.status == "failed" and "at least two labels" in run.error


def test_classifier_parameters_reach_the_model(classifier_dataset: TrainingDataset) -> None:
    run = run_now(classifier_dataset, {"c": 0.5, "balanced": True})
    assert run.status == "succeeded", run.error
    meta = json.loads((Path(run.artifact_path) / "metadata.json").read_text())
    assert meta["params"] == {"c": 0.5, "max_iter": 1000, "balanced": True}
