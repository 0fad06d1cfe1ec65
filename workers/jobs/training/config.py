"""The parameters of a LoRA run (defaults, labels and bounds the form and API use) and its errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

Progress = Callable[..., bool]

IGNORE = -100


class Cancelled(Exception):
    """A person asked the run to stop."""


class TrainingError(Exception):
    """A data or configuration problem a person can act on (missing weights, no examples...)."""


def _param(default: Any, label: str, help: str = "", form: bool = True, **bounds: Any) -> Any:
    return field(default=default, metadata={"label": label, "help": help, "form": form, **bounds})


@dataclass
class LoraConfig:
    """Hyper-parameters of a LoRA run, with their defaults and the bounds people may set them to."""

    method: str = _param(
        "lora", "Method", "QLoRA loads the base model in 4 bits (needs a CUDA GPU).", choices=("lora", "qlora")
    )
    learning_rate: float = _param(2e-4, "Learning rate", min=1e-7, max=1.0)
    epochs: int = _param(3, "Epochs", "Passes over the training examples.", min=1, max=100)
    max_steps: int = _param(0, "Max steps", "0: the epochs decide.", min=0, max=1_000_000)
    batch_size: int = _param(4, "Batch size", "Packed blocks (or examples) per step.", min=1, max=512)
    grad_accum: int = _param(1, "Gradient accumulation", form=False, min=1, max=256)
    max_seq_len: int = _param(1024, "Max sequence length", "Tokens; longer examples are left out.", min=16, max=65536)
    packing: bool = _param(True, "Packing", "Several examples per block: fewer padding tokens, faster.")
    gradient_checkpointing: bool = _param(True, "Gradient checkpointing", "Less GPU memory, a bit slower (GPU only).")
    lora_r: int = _param(16, "LoRA rank (r)", min=1, max=512)
    lora_alpha: int = _param(32, "LoRA alpha", min=1, max=4096)
    lora_dropout: float = _param(0.05, "LoRA dropout", min=0.0, max=0.9)
    warmup_ratio: float = _param(0.03, "Warm-up share", form=False, min=0.0, max=0.5)
    weight_decay: float = _param(0.0, "Weight decay", form=False, min=0.0, max=1.0)
    eval_every: int = _param(0, "Validate every (steps)", "0: ten times per run.", form=False, min=0, max=1_000_000)
    early_stopping_patience: int = _param(
        3, "Early stopping patience", "Validations without improvement before stopping; 0: never.", min=0, max=1000
    )
    checkpoint_every: int = _param(
        0, "Checkpoint every (steps)", "0: at every validation.", form=False, min=0, max=1_000_000
    )
    log_every: int = _param(0, "Log every (steps)", "0: about 200 points per run.", form=False, min=0, max=1_000_000)
    seed: int = _param(13, "Seed", form=False, min=0, max=2**31 - 1)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> LoraConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in params.items() if k in known})
