"""The run: load (LoRA or QLoRA), train with validation and early stopping, checkpoint, save the adapter."""

from __future__ import annotations

import importlib.util
import json
import math
import random
import shutil
import socket
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workers.jobs.training.config import IGNORE, Cancelled, LoraConfig, Progress, TrainingError
from workers.jobs.training.data import Block, prepare

if TYPE_CHECKING:
    import torch


# --- the run ----------------------------------------------------------------------------------------


@dataclass
class Setup:
    model: Any
    tokenizer: Any
    device: str
    dtype: str
    method: str
    notes: list[str]
    gradient_checkpointing: bool


def _load(model_ref: str, cfg: LoraConfig, resume_adapter: Path | None) -> Setup:
    import torch
    from peft import LoraConfig as PeftLoraConfig
    from peft import PeftModel, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the worker's log is not a terminal
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    bf16 = cuda and torch.cuda.is_bf16_supported()
    dtype = torch.bfloat16 if bf16 else torch.float32
    notes: list[str] = []
    method = "lora"
    quantization = None
    if cfg.method == "qlora":
        if not cuda:
            notes.append("QLoRA needs a CUDA GPU; this worker has none, so the run trained plain LoRA")
        elif importlib.util.find_spec("bitsandbytes") is None:
            notes.append("QLoRA needs bitsandbytes (pip install '.[gpu]'); it is not installed, so plain LoRA")
        else:
            from transformers import BitsAndBytesConfig

            quantization = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=torch.bfloat16 if bf16 else torch.float16,
            )
            method = "qlora"
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_ref, local_files_only=True)
        model: Any = AutoModelForCausalLM.from_pretrained(
            model_ref,
            local_files_only=True,
            dtype=dtype,
            quantization_config=quantization,
            device_map={"": 0} if quantization is not None else None,
        )
    except OSError as exc:
        raise TrainingError(
            f"The weights for {model_ref} are not on this worker ({socket.gethostname()}): put them in its "
            f"Hugging Face cache (huggingface-cli download {model_ref}) or set the model's local path"
        ) from exc
    if not getattr(tokenizer, "chat_template", None):
        raise TrainingError(f"{model_ref} has no chat template: pick an instruction-tuned model")
    if quantization is None:
        model.to(device)
    model.config.use_cache = False
    checkpointing = cuda and cfg.gradient_checkpointing
    if quantization is not None:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=checkpointing)
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    torch.manual_seed(cfg.seed)
    if resume_adapter is not None:
        model = PeftModel.from_pretrained(model, str(resume_adapter), is_trainable=True)
    else:
        lora = PeftLoraConfig(
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lora)
    return Setup(model, tokenizer, device, str(dtype).removeprefix("torch."), method, notes, checkpointing)


def _tensors(blocks: Sequence[Block], pad_id: int, device: str, packed: bool) -> dict[str, torch.Tensor | None]:
    import torch

    if packed:  # equal lengths; no attention mask, so the model reads the examples apart from the position ids
        return {
            "input_ids": torch.tensor([b.input_ids for b in blocks], device=device),
            "labels": torch.tensor([b.labels for b in blocks], device=device),
            "position_ids": torch.tensor([b.position_ids for b in blocks], device=device),
            "attention_mask": None,
        }
    width = max(len(b.input_ids) for b in blocks)
    pad = [width - len(b.input_ids) for b in blocks]
    return {
        "input_ids": torch.tensor(
            [b.input_ids + [pad_id] * p for b, p in zip(blocks, pad, strict=True)], device=device
        ),
        "labels": torch.tensor([b.labels + [IGNORE] * p for b, p in zip(blocks, pad, strict=True)], device=device),
        "attention_mask": torch.tensor(
            [[1] * b.real + [0] * p for b, p in zip(blocks, pad, strict=True)], device=device
        ),
        "position_ids": None,
    }


def _loss(model: Any, batch: dict[str, torch.Tensor | None]) -> tuple[torch.Tensor, int]:
    """Mean loss over the batch's trained tokens, and how many there were."""
    out = model(**{k: v for k, v in batch.items() if v is not None})
    labels = batch["labels"]
    assert labels is not None
    return out.loss, int((labels[:, 1:] != IGNORE).sum())


def _evaluate(model: Any, blocks: Sequence[Block], cfg: LoraConfig, pad_id: int, device: str) -> float | None:
    import torch

    if not blocks:
        return None
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(blocks), cfg.batch_size):
            loss, n = _loss(model, _tensors(blocks[start : start + cfg.batch_size], pad_id, device, cfg.packing))
            total += float(loss) * n
            count += n
    model.train()
    return total / count if count else None


def _gpu_memory_mb() -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**20, 1) if torch.cuda.is_available() else None


def checkpoint_dir(out_dir: Path) -> Path | None:
    """The last complete checkpoint under out_dir, if any."""
    for name in ("checkpoint", "checkpoint.old"):
        path = out_dir / name
        if (path / "state.json").exists():
            return path
    return None


def checkpoint_step(out_dir: Path) -> int:
    path = checkpoint_dir(out_dir)
    return int(json.loads((path / "state.json").read_text())["step"]) if path else 0


def _save_checkpoint(
    out_dir: Path, model: Any, optimizer: Any, scheduler: Any, state: dict[str, Any], best: Any
) -> Path:
    """Written beside the old one and swapped in, so a worker dying mid-write leaves one whole checkpoint."""
    import torch

    tmp, final, old = out_dir / "checkpoint.tmp", out_dir / "checkpoint", out_dir / "checkpoint.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(str(tmp / "adapter"))
    rng: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    torch.save(
        {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng, "best": best},
        tmp / "trainer.pt",
    )
    (tmp / "state.json").write_text(json.dumps(state))
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def _micro_batches(n_blocks: int, batch_size: int, seed: int, start: int) -> Any:
    """Micro-batches of block indices from micro-batch `start` on: epoch e is a seeded shuffle, so
    a resumed run sees the same order."""
    per_epoch = math.ceil(n_blocks / batch_size)
    index = start
    while True:
        epoch, offset = divmod(index, per_epoch)
        order = list(range(n_blocks))
        random.Random(seed * 1000 + epoch).shuffle(order)
        yield epoch, order[offset * batch_size : (offset + 1) * batch_size]
        index += 1


def train_lora(
    *,
    model_ref: str,
    data_dir: str | Path,
    out_dir: str | Path,
    params: dict[str, Any],
    progress: Progress,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train, validate, checkpoint and save a LoRA adapter of `model_ref` under out_dir/adapter.

    Resumes from out_dir/checkpoint when one is there. `progress(fraction, stage, message, **update)`
    gets, besides the fraction: step, total_steps, tokens_per_s, eta_s, gpu_memory_mb, `log` (a history
    entry: step, train_loss, val_loss, lr, tokens_per_s), `resumed_from` (a step) and `checkpoint` (a path).
    Returns the run's metrics, method, notes and adapter path."""
    import torch
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    cfg = LoraConfig.from_params(params)
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    def report(fraction: float, stage: str, message: str, **update: Any) -> None:
        if not progress(fraction, stage, message, **update):
            raise Cancelled

    resume = checkpoint_dir(out_dir)
    report(0.01, "loading", f"Loading {model_ref}")
    setup = _load(model_ref, cfg, resume / "adapter" if resume else None)
    model, tokenizer = setup.model, setup.tokenizer
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    report(0.03, "preparing", "Rendering the examples with the chat template")
    data = prepare(tokenizer, data_dir, cfg)
    if data.too_long:
        setup.notes.append(f"{data.too_long:,} examples longer than {cfg.max_seq_len} tokens were left out")

    micro_per_step = cfg.grad_accum
    steps_per_epoch = max(1, math.ceil(len(data.train) / (cfg.batch_size * micro_per_step)))
    total = cfg.max_steps or cfg.epochs * steps_per_epoch
    eval_every = cfg.eval_every or max(1, total // 10)
    checkpoint_every = cfg.checkpoint_every or eval_every
    log_every = cfg.log_every or max(1, total // 200)
    warmup = round(total * cfg.warmup_ratio)

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    state: dict[str, Any] = {"step": 0, "best_val": None, "best_step": 0, "bad_evals": 0, "tokens": 0, "seconds": 0.0}
    best: dict[str, Any] | None = None
    if resume is not None:
        saved = torch.load(resume / "trainer.pt", map_location=setup.device, weights_only=False)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng"]["torch"].cpu())
        random.setstate(saved["rng"]["python"])
        if "cuda" in saved["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(saved["rng"]["cuda"])
        best = saved["best"]
        state.update(json.loads((resume / "state.json").read_text()))
    resumed_from = int(state["step"])
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()

    batches = _micro_batches(len(data.train), cfg.batch_size, cfg.seed, resumed_from * micro_per_step)
    model.train()
    started = time.monotonic()
    train_seconds, train_tokens = 0.0, 0  # this attempt's
    window = {"loss": 0.0, "n": 0, "tokens": 0, "seconds": 0.0}
    last_val: float | None = None
    last_train: float | None = None
    stopped_early = False
    epoch = resumed_from // steps_per_epoch
    message = f"Resumed at step {resumed_from} of {total}" if resumed_from else f"Training {total} steps"
    report(0.05, "training", message, step=resumed_from, total_steps=total, resumed_from=resumed_from)

    step = resumed_from
    while step < total:
        tick = time.monotonic()
        optimizer.zero_grad(set_to_none=True)
        step_loss, step_tokens = 0.0, 0
        for _ in range(micro_per_step):
            epoch, indices = next(batches)
            blocks = [data.train[i] for i in indices]
            loss, _ = _loss(model, _tensors(blocks, pad_id, setup.device, cfg.packing))
            (loss / micro_per_step).backward()
            step_loss += float(loss.detach()) / micro_per_step
            step_tokens += sum(b.real for b in blocks)
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        scheduler.step()
        step += 1
        if setup.device == "cuda":
            torch.cuda.synchronize()
        seconds = time.monotonic() - tick
        train_seconds += seconds
        train_tokens += step_tokens
        state["tokens"] += step_tokens
        window["loss"] += step_loss
        window["n"] += 1
        window["tokens"] += step_tokens
        window["seconds"] += seconds

        val_loss = None
        if data.val and (step % eval_every == 0 or step == total):
            val_loss = last_val = _evaluate(model, data.val, cfg, pad_id, setup.device)
            assert val_loss is not None
            if state["best_val"] is None or val_loss < state["best_val"]:
                state.update(best_val=val_loss, best_step=step, bad_evals=0)
                best = {k: v.detach().to("cpu", copy=True) for k, v in get_peft_model_state_dict(model).items()}
            else:
                state["bad_evals"] += 1
                stopped_early = 0 < cfg.early_stopping_patience <= state["bad_evals"]

        update: dict[str, Any] = {"step": step, "total_steps": total, "gpu_memory_mb": _gpu_memory_mb()}
        rate = train_tokens / train_seconds if train_seconds else None
        update["tokens_per_s"] = round(rate, 1) if rate else None
        # wall time, validation and checkpoints included: on a short run validation can take most of it
        update["eta_s"] = round((total - step) * (time.monotonic() - started) / (step - resumed_from), 1)
        if step % log_every == 0 or val_loss is not None or step == total or stopped_early:
            window_rate = window["tokens"] / window["seconds"] if window["seconds"] else 0.0
            update["log"] = {
                "step": step,
                "epoch": epoch,
                "train_loss": round(window["loss"] / window["n"], 5),
                "val_loss": round(val_loss, 5) if val_loss is not None else None,
                "lr": scheduler.get_last_lr()[0],
                "tokens_per_s": round(window_rate, 1),
            }
            last_train = update["log"]["train_loss"]
            window = {"loss": 0.0, "n": 0, "tokens": 0, "seconds": 0.0}
        state["step"] = step
        state["seconds"] = round(float(state["seconds"]) + seconds, 3)
        if step % checkpoint_every == 0 and step < total and not stopped_early:
            update["checkpoint"] = str(_save_checkpoint(out_dir, model, optimizer, scheduler, state, best))
        shown = f"Step {step:,} of {total:,}"
        if "log" in update:
            shown += f" · loss {update['log']['train_loss']:.4f}"
        if last_val is not None:
            shown += f" · validation {last_val:.4f}"
        report(0.05 + 0.9 * step / total, "training", shown, **update)
        if stopped_early:
            break

    report(0.96, "saving", "Saving the adapter")
    if best is not None:
        set_peft_model_state_dict(model, best)
    adapter = out_dir / "adapter"
    shutil.rmtree(adapter, ignore_errors=True)
    model.save_pretrained(str(adapter))
    tokenizer.save_pretrained(str(adapter))
    if stopped_early:
        setup.notes.append(
            f"Stopped early at step {step}: validation loss had not improved for {cfg.early_stopping_patience} "
            f"validations; the adapter is the one from step {state['best_step']}"
        )
    metrics = {
        "train_loss": last_train,
        "val_loss": round(state["best_val"], 5) if state["best_val"] is not None else None,
        "best_step": state["best_step"] or step,
        "steps": step,
        "total_steps": total,
        "stopped_early": stopped_early,
        "resumed_from": resumed_from,
        "train_examples": data.train_examples,
        "val_examples": data.val_examples,
        "train_tokens": data.train_tokens,
        "too_long": data.too_long,
        "unusable": data.unusable,
        "blocks": len(data.train),
        "fill": round(sum(b.real for b in data.train) / sum(len(b.input_ids) for b in data.train), 4),
        "tokens_per_s": round(state["tokens"] / float(state["seconds"]), 1) if state["seconds"] else None,
        "gpu_memory_mb": _gpu_memory_mb(),
        "seconds": round(time.monotonic() - started, 2),
    }
    import peft
    import transformers

    (adapter / "training.json").write_text(
        json.dumps(
            {
                **(metadata or {}),
                "base_model": model_ref,
                "method": setup.method,
                "params": asdict(cfg),
                "metrics": metrics,
                "notes": setup.notes,
                "device": setup.device,
                "dtype": setup.dtype,
                "gradient_checkpointing": setup.gradient_checkpointing,
                "versions": {
                    "torch": torch.__version__,
                    "transformers": transformers.__version__,
                    "peft": peft.__version__,
                },
            },
            indent=2,
        )
    )
    for name in ("checkpoint", "checkpoint.old", "checkpoint.tmp"):
        shutil.rmtree(out_dir / name, ignore_errors=True)
    return {"metrics": metrics, "method": setup.method, "notes": setup.notes, "adapter_path": str(adapter)}
