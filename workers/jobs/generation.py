"""A local language model's answers to logged requests: a catalog model as it is (zero-shot or with
examples in the prompt), or with a specialist's LoRA adapter. Greedy, in batches of similar length (left
padded), on the GPU in bf16 when there is one, else on the CPU in float32.

Each request is put as the training job put its examples (workers.jobs.prompts), so a specialist is asked
exactly as it was taught. Answers go back through `progress(fraction, stage, message, answers=[...])`
after each batch; it returns False when a person cancels, and the job then stops (Cancelled).

Latency is the batch's wall time (what each of its callers waited); compute_ms is the call's share of
it (wall time / batch size), what the call cost the machine.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from typing import Any

from workers.jobs.prompts import Answer, answer_message, chat_turns, template_support
from workers.jobs.training.config import Cancelled, Progress, TrainingError


class GenerationError(TrainingError):
    """The model cannot be loaded or asked (missing weights, no chat template): a person can act on it."""


def _load(model_ref: str, adapter_path: str | None) -> tuple[Any, Any, str, str]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(adapter_path or model_ref, local_files_only=True)
        model: Any = AutoModelForCausalLM.from_pretrained(model_ref, local_files_only=True, dtype=dtype)
    except OSError as exc:
        raise GenerationError(
            f"The weights for {model_ref} are not on this worker ({socket.gethostname()}): put them in its "
            f"Hugging Face cache (huggingface-cli download {model_ref}) or set the model's local path"
        ) from exc
    if not getattr(tokenizer, "chat_template", None):
        raise GenerationError(f"{model_ref} has no chat template: pick an instruction-tuned model")
    if adapter_path:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_path).merge_and_unload()
    model.to(device)
    model.eval()
    tokenizer.padding_side = "left"
    return model, tokenizer, device, str(dtype).removeprefix("torch.")


def _stop_ids(model: Any, tokenizer: Any) -> list[int]:
    found = model.generation_config.eos_token_id
    ids = set(found if isinstance(found, list) else [found] if found is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return sorted(ids)


def generate_answers(
    *,
    model_ref: str,
    requests: Sequence[dict[str, Any]],
    progress: Progress,
    adapter_path: str | None = None,
    examples: Sequence[Sequence[dict[str, Any]]] = (),
    max_new_tokens: int = 512,
    batch_size: int = 4,
) -> dict[str, Any]:
    """Answer each request (a logged chat.completions request: messages, tools, tool_choice,
    response_format) greedily. `examples` are conversations ending with their answer, put before each
    request's own turns (few-shot); a prompt too long for the model's context drops examples from the end,
    and one too long even without them is answered empty. Returns device, dtype, compute seconds, notes."""
    import torch

    def report(fraction: float, stage: str, message: str, **update: Any) -> None:
        if not progress(fraction, stage, message, **update):
            raise Cancelled

    report(0.0, "loading", f"Loading {model_ref}" + (" with the specialist's adapter" if adapter_path else ""))
    model, tokenizer, device, dtype = _load(model_ref, adapter_path)
    support = template_support(tokenizer)
    context = int(getattr(model.config, "max_position_embeddings", 0) or 0) or 2**31
    room = max(1, context - max_new_tokens)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    stops = _stop_ids(model, tokenizer)
    notes: list[str] = []

    prompts: list[tuple[int, list[int], bool]] = []  # (index, prompt ids, tools offered)
    too_long: list[int] = []
    fewer_shots = 0
    for index, request in enumerate(requests):
        for shots in range(len(examples), -1, -1):
            messages, tools = chat_turns(
                request.get("messages") or [],
                support=support,
                tools=request.get("tools"),
                tool_choice=request.get("tool_choice"),
                response_format=request.get("response_format"),
                examples=examples[:shots],
            )
            text = tokenizer.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=True)
            ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
            if len(ids) <= room:
                break
        if len(ids) > room:
            too_long.append(index)
            continue
        fewer_shots += shots < len(examples)
        offered = bool(request.get("tools")) and request.get("tool_choice") != "none"
        prompts.append((index, ids, offered))
    if fewer_shots:
        notes.append(f"{fewer_shots} prompts had fewer examples than asked, to fit the {context:,}-token context")

    total = len(requests)
    done = 0
    seconds = 0.0
    if too_long:
        notes.append(f"{len(too_long)} test calls are longer than the model's context: answered empty")
        empty = [Answer(i, {"role": "assistant", "content": ""}, 0.0, 0.0, None, 0) for i in too_long]
        done += len(empty)
        report(done / max(1, total), "generating", f"Answered {done:,} of {total:,} calls", answers=empty)
    prompts.sort(key=lambda p: len(p[1]))
    report(done / max(1, total), "generating", f"Answering {total:,} calls on {device}")
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        width = max(len(ids) for _, ids, _ in batch)
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for _, ids, _ in batch], device=device)
        mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for _, ids, _ in batch], device=device)
        tick = time.monotonic()
        with torch.no_grad():
            out = model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                pad_token_id=pad,
                eos_token_id=stops,
            )
        if device == "cuda":
            torch.cuda.synchronize()
        wall = time.monotonic() - tick
        seconds += wall
        answers = []
        for row, (index, ids, offered) in enumerate(batch):
            new = out[row, width:].tolist()
            end = next((i for i, token in enumerate(new) if token in stops), len(new))
            text = tokenizer.decode(new[:end], skip_special_tokens=True)
            answers.append(
                Answer(
                    index=index,
                    message=answer_message(text, tools_offered=offered),
                    latency_ms=round(wall * 1000, 1),
                    compute_ms=round(wall * 1000 / len(batch), 1),
                    input_tokens=len(ids),
                    output_tokens=end,
                )
            )
        done += len(batch)
        report(done / max(1, total), "generating", f"Answered {done:,} of {total:,} calls", answers=answers)
    return {"device": device, "dtype": dtype, "seconds": round(seconds, 3), "notes": notes}
