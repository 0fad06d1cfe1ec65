"""LoRA / QLoRA fine-tuning of a small causal LM on one task's chat examples.

Each example is rendered with the base model's own chat template (tools included) and trained on
the assistant's final turn only. Examples are packed into blocks of `max_seq_len` tokens; position
ids restart at every example, so the model's attention mask keeps packed examples apart. A plain
PyTorch loop with validation loss, early stopping, checkpoints that a later attempt resumes from, and
a `progress(fraction, stage, message, **update)` callback that returns False when a person cancels.

Torch and transformers are imported inside the functions: the web process imports `LoraConfig`
(defaults and bounds of the parameters) without pulling in torch.

- config.py: the parameters and errors; data.py: rendering, label masks, packing; loop.py: the run.
"""

from workers.jobs.training.config import IGNORE, Cancelled, LoraConfig, Progress, TrainingError
from workers.jobs.training.data import (
    Block,
    Example,
    normalise_messages,
    pack,
    prepare,
    read_jsonl,
    render_example,
    unpacked,
)
from workers.jobs.training.loop import checkpoint_dir, checkpoint_step, train_lora

__all__ = [
    "IGNORE",
    "Block",
    "Cancelled",
    "Example",
    "LoraConfig",
    "Progress",
    "TrainingError",
    "checkpoint_dir",
    "checkpoint_step",
    "normalise_messages",
    "pack",
    "prepare",
    "read_jsonl",
    "render_example",
    "train_lora",
    "unpacked",
]
