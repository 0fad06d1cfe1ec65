"""LoRA training throughput: the project's job (workers.jobs.training.train_lora: packing, its own loop)
against a plain peft + Hugging Face Trainer loop without packing, on the same model and examples,
in one run. GPU only: without CUDA it says so and exits 0.

    .venv/bin/python bench/train.py                       # a random-init ~0.2B Llama, 1,500 examples
    .venv/bin/python bench/train.py --model /models/Qwen2.5-0.5B-Instruct --examples 3000

Examples: the calls of demo/agent_logs_sample.jsonl (all eight tasks, so lengths vary from ~100 to
~1,500 tokens) as chat lines (the request's messages and tools, the response as the final assistant
turn), rendered and masked by the job's own render_example (loss on the answer only) for both sides;
examples longer than --max-seq-len are left out of both. Without --model the tokenizer is a word-level
one trained on the sample (with a chat template that renders tools) and the model a randomly
initialised Llama (hidden 1024, 16 layers: about 0.2B parameters with that vocabulary): the speed of
a step does not depend on the weights. Nothing is downloaded.

1. Baseline: get_peft_model (the same LoRA r/alpha/dropout, all linear layers), Trainer with
   DataCollatorForSeq2Seq (each batch padded to its longest example, labels padded with -100),
   --batch-size examples per step, one epoch, bf16 when supported, gradient checkpointing as the job,
   no evaluation, no saving.
2. The job: train_lora on the same examples (written to a temporary train.jsonl, no validation split,
   no checkpoints), one epoch, packing into blocks of --max-seq-len tokens. Its batch size (blocks per
   step) is chosen so a step holds no more tokens than the baseline's average padded step (so the
   memory of activations is no larger); --packed-batch-size overrides.

Tokens/s counts the tokens of the examples (padding excluded) over the time spent in training steps,
after CUDA synchronisation: the Trainer's from its first step's start to its last step's end, the
job's as it reports it (the sum of its step times). Peak memory: torch.cuda.max_memory_allocated,
reset before each side. Target: the job >= 1.5x the baseline's tokens/s at no more peak memory.
Exit status 0 unless something breaks; --strict: 2 when the target is missed.
"""

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
SAMPLE = ROOT / "demo" / "agent_logs_sample.jsonl"

from tests.tiny_llama import chat_rows, save_llama  # noqa: E402  (after the path is set)


def sample_rows(limit: int, seed: int) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]
    random.Random(seed).shuffle(records)
    return chat_rows(records[:limit])


def build_model(folder: Path, rows: list[dict[str, Any]], hidden: int, layers: int) -> None:
    """A word-level tokenizer on the rows' text and a random-init Llama, saved as a model folder."""
    save_llama(
        folder,
        rows,
        hidden_size=hidden,
        intermediate_size=int(hidden * 2.75),
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64),
        num_key_value_heads=max(1, hidden // 128),
        max_position_embeddings=4096,
    )


def baseline(model_ref: str, examples: list[Any], args: argparse.Namespace, device: str) -> dict[str, Any]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    cuda = device == "cuda"
    bf16 = cuda and torch.cuda.is_bf16_supported()
    tokenizer = AutoTokenizer.from_pretrained(model_ref, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        model_ref, local_files_only=True, dtype=torch.bfloat16 if bf16 else torch.float32
    ).to(device)
    model.config.use_cache = False
    if cuda and args.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model = get_peft_model(
        model,
        LoraConfig(
            r=args.lora_r, lora_alpha=args.lora_r * 2, lora_dropout=0.05, target_modules="all-linear",
            task_type="CAUSAL_LM",
        ),
    )  # fmt: skip
    data = [{"input_ids": e.input_ids, "labels": e.labels, "attention_mask": [1] * len(e.input_ids)} for e in examples]
    collator = DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=-100)
    counted = {"tokens": 0, "padded": 0}

    def collate(features: list[dict[str, Any]]) -> Any:
        batch = collator(features)
        counted["tokens"] += int(batch["attention_mask"].sum())
        counted["padded"] += int(batch["attention_mask"].numel())
        return batch

    clock: dict[str, float] = {}

    class Clock(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, *a: Any, **k: Any) -> None:
            if "start" not in clock:
                if cuda:
                    torch.cuda.synchronize()
                clock["start"] = time.perf_counter()

        def on_step_end(self, *a: Any, **k: Any) -> None:
            if cuda:
                torch.cuda.synchronize()
            clock["end"] = time.perf_counter()

    out = Path(tempfile.mkdtemp(prefix="bench-train-baseline-"))
    training_args = TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=args.batch_size,
        num_train_epochs=1,
        learning_rate=args.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=0,
        bf16=bf16,
        logging_steps=10_000,
        save_strategy="no",
        eval_strategy="no",
        report_to=[],
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=True,
        use_cpu=not cuda,
        seed=args.seed,
    )
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer = Trainer(model=model, args=training_args, train_dataset=data, data_collator=collate, callbacks=[Clock()])
    result = trainer.train()
    seconds = clock["end"] - clock["start"]
    return {
        "tokens_per_s": counted["tokens"] / seconds,
        "seconds": seconds,
        "steps": result.global_step,
        "fill": counted["tokens"] / counted["padded"],
        "avg_padded_tokens_per_step": counted["padded"] / max(1, result.global_step),
        "peak_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        "train_loss": result.training_loss,
    }


def job(model_ref: str, rows: list[dict[str, Any]], args: argparse.Namespace, batch: int) -> dict[str, Any]:
    import torch

    from workers.jobs.training import train_lora

    data = Path(tempfile.mkdtemp(prefix="bench-train-data-"))
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    params = {
        "learning_rate": args.learning_rate,
        "epochs": 1,
        "batch_size": batch,
        "max_seq_len": args.max_seq_len,
        "packing": True,
        "gradient_checkpointing": args.gradient_checkpointing,
        "lora_r": args.lora_r,
        "lora_alpha": args.lora_r * 2,
        "lora_dropout": 0.05,
        "warmup_ratio": 0.0,
        "checkpoint_every": 10**6,
        "seed": args.seed,
    }
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    result = train_lora(
        model_ref=model_ref,
        data_dir=data,
        out_dir=Path(tempfile.mkdtemp(prefix="bench-train-job-")),
        params=params,
        progress=lambda *a, **k: True,
    )
    m = result["metrics"]
    return {
        "tokens_per_s": m["tokens_per_s"],
        "seconds": m["train_tokens"] / m["tokens_per_s"],
        "steps": m["steps"],
        "fill": m["fill"],
        "peak_mb": torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None,
        "train_loss": m["train_loss"],
        "method": result["method"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="A local model folder or a Hugging Face id in the cache (default: random)")
    parser.add_argument("--examples", type=int, default=1500, help="Sample calls to train on (at most 3,000)")
    parser.add_argument("--max-seq-len", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=8, help="The baseline's examples per step")
    parser.add_argument("--packed-batch-size", type=int, help="The job's blocks per step (default: same tokens)")
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--hidden", type=int, default=1024, help="Random model: hidden size")
    parser.add_argument("--layers", type=int, default=16, help="Random model: layers")
    parser.add_argument("--no-gradient-checkpointing", dest="gradient_checkpointing", action="store_false")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--strict", action="store_true", help="Exit 2 when the target is missed")
    parser.add_argument("--cpu-smoke", action="store_true", help=argparse.SUPPRESS)  # code paths only, no figures
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available() and not args.cpu_smoke:
        print("bench/train.py measures GPU training: no CUDA device here (torch.cuda.is_available() is False).")
        print("Run it on a GPU worker. Nothing was measured.")
        return 0
    device = "cuda" if torch.cuda.is_available() else "cpu"
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    from workers.jobs.training import render_example

    hf_logging.set_verbosity_error()
    rows = sample_rows(args.examples, args.seed)
    model_ref = args.model
    if model_ref is None:
        folder = Path(tempfile.mkdtemp(prefix="bench-train-model-"))
        build_model(folder, rows, args.hidden, args.layers)
        model_ref = str(folder)
    tokenizer = AutoTokenizer.from_pretrained(model_ref, local_files_only=True)
    kept, examples = [], []
    for row in rows:
        example = render_example(tokenizer, row["messages"], row["tools"])
        if example is not None and len(example.input_ids) <= args.max_seq_len:
            kept.append(row)
            examples.append(example)
    tokens = sum(len(e.input_ids) for e in examples)
    print(f"device {device} ({torch.cuda.get_device_name(0) if device == 'cuda' else 'CPU'}); model {model_ref}")
    print(f"{len(examples):,} of {len(rows):,} examples fit {args.max_seq_len} tokens; {tokens:,} tokens")

    base = baseline(model_ref, examples, args, device)
    packed_batch = args.packed_batch_size or max(1, math.floor(base["avg_padded_tokens_per_step"] / args.max_seq_len))
    torch.cuda.empty_cache() if device == "cuda" else None
    ours = job(model_ref, kept, args, packed_batch)

    def line(name: str, r: dict[str, Any], batch: str) -> str:
        peak = f"{r['peak_mb']:,.0f} MB" if r["peak_mb"] is not None else "n/a"
        return (
            f"  {name:<32} {r['tokens_per_s']:>10,.0f} tokens/s  {r['seconds']:7.1f} s  {r['steps']:5} steps "
            f"({batch})  fill {r['fill']:.0%}  peak {peak}  loss {r['train_loss']:.3f}"
        )

    ratio = ours["tokens_per_s"] / base["tokens_per_s"]
    print("Result")
    print(line("baseline peft + Trainer, padded", base, f"{args.batch_size} examples/step"))
    print(line("job, packed", ours, f"{packed_batch} x {args.max_seq_len}-token blocks/step"))
    print(f"  speed-up                          {ratio:.2f}x")
    ok = ratio >= 1.5
    if base["peak_mb"] is not None and ours["peak_mb"] is not None:
        memory_ok = ours["peak_mb"] <= base["peak_mb"] * 1.02
        print(f"  peak memory job / baseline        {ours['peak_mb'] / base['peak_mb']:.2f}")
        ok = ok and memory_ok
    print(f"  target >= 1.5x at no more memory: {'PASS' if ok else 'MISS'}")
    return 2 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
