"""Chat examples rendered with the base model's template, labelled on the assistant's final turn, packed."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workers.jobs.prompts import chat_turns, normalise_messages, template_support
from workers.jobs.training.config import IGNORE, LoraConfig, TrainingError

if TYPE_CHECKING:
    pass


# --- rendering and packing --------------------------------------------------------------------------


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]


@dataclass
class Block:
    input_ids: list[int]
    labels: list[int]
    position_ids: list[int]
    real: int  # tokens that are not padding


def render_example(
    tokenizer: Any,
    messages: Sequence[dict[str, Any]],
    tools: Sequence[dict[str, Any]] | None = None,
    response_format: Any = None,
) -> Example | None:
    """Token ids and labels of one conversation; labels are IGNORE except on the final assistant turn.

    The conversation is put as evaluation asks the specialist later (workers.jobs.prompts.chat_turns:
    tools and response_format through the template or as instructions). The prompt (every message before
    the last, plus the generation prompt) is rendered on its own; a token is trained on when it holds any
    character past the part the prompt shares with the full text. None when the conversation does not end
    with an assistant turn."""
    messages = normalise_messages(messages)
    if len(messages) < 2 or messages[-1].get("role") != "assistant":
        return None
    messages, tools_arg = chat_turns(
        messages, support=template_support(tokenizer), tools=tools, response_format=response_format
    )
    full = tokenizer.apply_chat_template(messages, tools=tools_arg, tokenize=False)
    prompt = tokenizer.apply_chat_template(messages[:-1], tools=tools_arg, tokenize=False, add_generation_prompt=True)
    boundary = next(
        (i for i, (a, b) in enumerate(zip(full, prompt, strict=False)) if a != b), min(len(full), len(prompt))
    )
    if getattr(tokenizer, "is_fast", False):
        encoded = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(encoded["input_ids"])
        labels = [
            tok if end > boundary else IGNORE for tok, (_, end) in zip(ids, encoded["offset_mapping"], strict=True)
        ]
    else:
        ids = list(tokenizer(full, add_special_tokens=False)["input_ids"])
        n_prompt = len(tokenizer(full[:boundary], add_special_tokens=False)["input_ids"])
        labels = [IGNORE] * n_prompt + ids[n_prompt:]
    eos = tokenizer.eos_token_id
    if eos is not None and eos not in ids[-2:]:
        ids.append(eos)
        labels.append(eos)
    if all(label == IGNORE for label in labels):
        return None
    return Example(ids, labels)


def pack(examples: Sequence[Example], block_size: int, pad_id: int) -> list[Block]:
    """Concatenate examples into blocks of exactly `block_size` tokens (the last one padded). An
    example may continue into the next block; position ids count from 0 at each example's start."""
    blocks: list[Block] = []
    ids: list[int] = []
    labels: list[int] = []
    positions: list[int] = []
    for example in examples:
        ids += example.input_ids
        labels += example.labels
        positions += range(len(example.input_ids))
        while len(ids) >= block_size:
            blocks.append(Block(ids[:block_size], labels[:block_size], positions[:block_size], block_size))
            ids, labels, positions = ids[block_size:], labels[block_size:], positions[block_size:]
    if ids and any(label != IGNORE for label in labels):
        pad = block_size - len(ids)
        blocks.append(Block(ids + [pad_id] * pad, labels + [IGNORE] * pad, positions + list(range(pad)), len(ids)))
    return blocks


def unpacked(examples: Sequence[Example]) -> list[Block]:
    return [Block(e.input_ids, e.labels, list(range(len(e.input_ids))), len(e.input_ids)) for e in examples]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open("rb") as f:
        return [json.loads(line) for line in f if line.strip()]


@dataclass
class Prepared:
    train: list[Block]
    val: list[Block]
    train_examples: int
    val_examples: int
    train_tokens: int
    too_long: int  # examples left out: longer than max_seq_len (cutting them would cut the answer)
    unusable: int  # not ending with an assistant turn


def prepare(tokenizer: Any, data_dir: Path, cfg: LoraConfig) -> Prepared:
    """Read train/val JSONL, render, leave out what does not fit in max_seq_len, shuffle (seeded), pack."""
    counts = {"too_long": 0, "unusable": 0}

    def load(name: str) -> list[Example]:
        out = []
        for row in read_jsonl(data_dir / f"{name}.jsonl"):
            example = render_example(tokenizer, row.get("messages") or [], row.get("tools"), row.get("response_format"))
            if example is None:
                counts["unusable"] += 1
            elif len(example.input_ids) > cfg.max_seq_len:
                counts["too_long"] += 1
            else:
                out.append(example)
        return out

    train, val = load("train"), load("val")
    if not train:
        if counts["too_long"]:
            raise TrainingError(
                f"Every training example is longer than max_seq_len ({cfg.max_seq_len} tokens): raise it"
            )
        raise TrainingError(f"No usable training examples in {data_dir / 'train.jsonl'}")
    random.Random(cfg.seed).shuffle(train)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    group = (lambda xs: pack(xs, cfg.max_seq_len, pad)) if cfg.packing else unpacked
    return Prepared(
        train=group(train),
        val=group(val),
        train_examples=len(train),
        val_examples=len(val),
        train_tokens=sum(len(e.input_ids) for e in train),
        **counts,
    )
