"""The evidence a decision is taken on, copied from the evaluation into the decision's record."""

import hashlib
from pathlib import Path
from typing import Any

from apps.evaluation.models import Evaluation
from apps.evaluation.selectors import evaluation_candidate
from apps.specialists.models import TrainingRun

CHUNK = 1 << 20


def _decimal(value: Any) -> str | None:
    return None if value is None else str(value)


def artifact_hash(run: TrainingRun) -> str:
    """sha256 over a training run's artifact: each file's relative path and bytes, in path order. A hash
    the run recorded itself is used as it is; an artifact in a bucket or gone from disk has none here."""
    recorded = getattr(run, "artifact_hash", "") or (run.metrics or {}).get("artifact_sha256", "")
    if recorded:
        return str(recorded)
    folder = Path(run.artifact_path) if run.artifact_path and "://" not in run.artifact_path else None
    if folder is None or not folder.is_dir():
        return ""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def _candidate(evaluation: Evaluation) -> dict[str, Any]:
    words = evaluation_candidate(evaluation)
    found: dict[str, Any] = {"kind": words.kind, "name": words.name, "detail": words.detail}
    if evaluation.endpoint is not None:
        endpoint = evaluation.endpoint
        found |= {"endpoint": str(endpoint.id), "model": endpoint.model, "base_url": endpoint.base_url}
    elif evaluation.training_run is not None:
        run = evaluation.training_run
        found |= {
            "training_run": str(run.id),
            "specialist": run.kind,
            "base_model": run.base_model.hf_id if run.base_model else None,
            "artifact_path": run.artifact_path,
            "artifact_hash": artifact_hash(run),
        }
    elif evaluation.base_model is not None:
        found |= {"base_model": evaluation.base_model.hf_id, "shots": evaluation.shots}
    return found


def evaluation_evidence(evaluation: Evaluation) -> dict[str, Any]:
    """What the evaluation showed, as plain JSON, to freeze in a decision."""
    return {
        "evaluation": str(evaluation.id),
        "candidate": _candidate(evaluation),
        "kind": evaluation.kind,
        "target": evaluation.target,
        "test_calls": evaluation.test_calls,
        "test_hash": evaluation.test_hash,
        "agreement": {
            "value": evaluation.agreement,
            "ci_low": evaluation.agreement_low,
            "ci_high": evaluation.agreement_high,
            "agreed": evaluation.agreed,
        },
        "verdict": evaluation.verdict,
        "calls_to_settle": evaluation.calls_to_settle,
        "metrics": evaluation.metrics,
        "latency": {"p50_ms": evaluation.latency_p50_ms, "p95_ms": evaluation.latency_p95_ms},
        "cost": {
            "candidate_per_1k_calls": _decimal(evaluation.cost_per_1k_calls),
            "llm_per_1k_calls": _decimal(evaluation.llm_cost_per_1k_calls),
        },
        "finished_at": evaluation.finished_at.isoformat() if evaluation.finished_at else None,
    }
