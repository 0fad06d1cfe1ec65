"""A classifier specialist: all-MiniLM-L6-v2 sentence embeddings and a logistic regression (CPU).

For tasks whose answer is one label of a closed set. Validation accuracy, then accuracy on the frozen
test split beside the majority-class baseline; the model is saved with joblib beside its labels."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from workers.jobs.prompts import Answer
from workers.jobs.training import Cancelled, Progress, TrainingError, read_jsonl


def _param(default: Any, label: str, help: str = "", form: bool = True, **bounds: Any) -> Any:
    return field(default=default, metadata={"label": label, "help": help, "form": form, **bounds})


@dataclass
class ClassifierConfig:
    c: float = _param(1.0, "Regularisation (C)", "Larger: fits the training examples more closely.", min=1e-4, max=1e4)
    max_iter: int = _param(1000, "Iterations", form=False, min=10, max=100_000)
    balanced: bool = _param(False, "Balance the labels", "Weigh rare labels up.")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ClassifierConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in params.items() if k in known})


def _accuracy(predicted: Any, truth: list[str]) -> float | None:
    if not truth:
        return None
    return round(sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth), 4)


def train_classifier(
    *,
    data_dir: str | Path,
    out_dir: str | Path,
    params: dict[str, Any],
    progress: Progress,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Embed train/val/test texts, fit, score and save under out_dir/classifier. Returns metrics and
    the artifact path. `progress(fraction, stage, message, **update)` returns False to cancel."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    from workers.jobs.embedding import embed

    cfg = ClassifierConfig.from_params(params)
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    started = time.monotonic()

    def report(fraction: float, stage: str, message: str, **update: Any) -> None:
        if not progress(fraction, stage, message, **update):
            raise Cancelled

    splits = {name: read_jsonl(data_dir / f"{name}.jsonl") for name in ("train", "val", "test")}
    texts = {name: [str(r.get("text", "")) for r in rows] for name, rows in splits.items()}
    labels = {name: [str(r.get("label", "")) for r in rows] for name, rows in splits.items()}
    counts = Counter(labels["train"])
    if len(counts) < 2:
        raise TrainingError("A classifier needs training examples of at least two labels")
    everything = texts["train"] + texts["val"] + texts["test"]
    report(0.02, "embedding", f"Embedding {len(everything):,} texts", total_steps=len(everything))

    def embedded(done: int) -> None:
        report(0.02 + 0.68 * done / len(everything), "embedding", f"Embedded {done:,} of {len(everything):,} texts",
               step=done)  # fmt: skip

    vectors = embed(everything, progress=embedded)
    n_train, n_val = len(texts["train"]), len(texts["val"])
    x = {"train": vectors[:n_train], "val": vectors[n_train : n_train + n_val], "test": vectors[n_train + n_val :]}

    report(0.72, "fitting", f"Fitting a logistic regression on {n_train:,} examples")
    model = LogisticRegression(C=cfg.c, max_iter=cfg.max_iter, class_weight="balanced" if cfg.balanced else None)
    model.fit(x["train"], labels["train"])

    report(0.9, "evaluating", "Scoring the validation and test splits")
    majority, _ = counts.most_common(1)[0]
    predicted = {name: list(model.predict(x[name])) if len(x[name]) else [] for name in ("train", "val", "test")}
    metrics: dict[str, Any] = {
        "train_accuracy": _accuracy(predicted["train"], labels["train"]),
        "val_accuracy": _accuracy(predicted["val"], labels["val"]),
        "test_accuracy": _accuracy(predicted["test"], labels["test"]),
        "majority_label": majority,
        "majority_accuracy": _accuracy([majority] * len(labels["test"]), labels["test"]),
        "labels": sorted(counts),
        "train_examples": n_train,
        "val_examples": n_val,
        "test_examples": len(labels["test"]),
        "seconds": round(time.monotonic() - started, 2),
    }
    if metrics["test_accuracy"] is not None and metrics["majority_accuracy"] is not None:
        metrics["lift_over_majority"] = round(metrics["test_accuracy"] - metrics["majority_accuracy"], 4)

    report(0.96, "saving", "Saving the classifier")
    folder = out_dir / "classifier"
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, folder / "model.joblib")
    (folder / "labels.json").write_text(json.dumps([str(c) for c in model.classes_]))
    (folder / "metadata.json").write_text(
        json.dumps(
            {
                **(metadata or {}),
                "embedding_model": "sentence-transformers/all-MiniLM-L6-v2",
                "params": asdict(cfg),
                "metrics": metrics,
            },
            indent=2,
        )
    )
    return {"metrics": metrics, "method": "logreg", "notes": [], "adapter_path": str(folder)}


def classify(*, classifier_dir: str | Path, texts: list[str], progress: Progress, block: int = 64) -> dict[str, Any]:
    """A trained classifier's label for each text, reported in blocks through `progress(fraction, stage,
    message, answers=[Answer])` (the label as the assistant's content); False from progress cancels. Each text
    is embedded and classified on its own, as a served call would be, so its latency (and compute_ms) is its
    own time: a block's time shared out made every call of a 47-call block look 4.4 s slow under load."""
    import joblib

    from workers.jobs.embedding import embed

    folder = Path(classifier_dir)
    if not (folder / "model.joblib").is_file():
        raise TrainingError(f"The classifier's files are not on this worker (no {folder / 'model.joblib'})")
    model = joblib.load(folder / "model.joblib")
    seconds = 0.0
    for start in range(0, len(texts), block):
        chunk = texts[start : start + block]
        timed: list[tuple[str, float]] = []
        for text in chunk:
            tick = time.monotonic()
            label = str(model.predict(embed([text]))[0])
            timed.append((label, time.monotonic() - tick))
        seconds += sum(wall for _, wall in timed)
        answers = [
            Answer(
                index=start + i,
                message={"role": "assistant", "content": label},
                latency_ms=round(wall * 1000, 1),
                compute_ms=round(wall * 1000, 1),
                input_tokens=None,
                output_tokens=None,
            )
            for i, (label, wall) in enumerate(timed)
        ]
        done = start + len(chunk)
        if not progress(done / len(texts), "classifying", f"Classified {done:,} of {len(texts):,}", answers=answers):
            raise Cancelled
    return {"device": "cpu", "dtype": "float32", "seconds": round(seconds, 3), "notes": []}
