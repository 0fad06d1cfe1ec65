"""The model catalog: the shipped list (catalog.json), memory estimates, and the figures of a model
folder (services.catalog_model_add adds one; weights.py says where weights are).

Memory estimates (all in MiB, from the parameter count P alone, so they hold for any catalog entry):

- serving, bf16: P x 2 bytes of weights, +20% (CUDA context, allocator, buffers), + the KV cache of one
  4k-token sequence, estimated as KV_MB_PER_B_4K x P (averaged over grouped-KV models; models with full
  multi-head attention, such as Phi-3, need several times more).
- serving, 4-bit: P x 0.55 bytes (4-bit weights plus their scales), +20%, + the same bf16 KV cache.
- LoRA training, bf16: frozen bf16 weights (P x 2 bytes) + adapters of rank 16 on every linear layer
  (about 1% of P) with their fp32 copy, gradient and two Adam moments (16 bytes each) + activations
  with gradient checkpointing for batch x sequence tokens, +20%.
- QLoRA training: the same with 4-bit NF4 weights (P x 0.55 bytes) instead of bf16.

Activations per token, with gradient checkpointing (Korthikanti et al., 2022, without the attention
scores that flash attention never stores): the checkpoint at each layer's input (layers x hidden x 2
bytes), one layer recomputed during the backward pass (34 x hidden x 2 bytes), and the fp32 logits
with their gradient (2 x vocab x 4 bytes), which dominate for small models with large vocabularies.
The shape is estimated from P: hidden = 1536 x P^0.4 (within about 30% of Qwen2.5, Llama 3.2 and
Phi-3), 28 layers and a 128k vocabulary (typical of the 0.5-8B models here).
"""

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from apps.common.errors import DomainError
from apps.specialists.models import CatalogModel

CATALOG_PATH = Path(__file__).resolve().parent / "catalog.json"
MB = 1024 * 1024

OVERHEAD = 0.20
KV_MB_PER_B_4K = 120.0
BYTES_BF16 = 2.0
BYTES_4BIT = 0.55
LORA_FRACTION = 0.01
LORA_BYTES_PER_PARAM = 16.0  # fp32 weight + gradient + Adam m and v
LAYERS = 28
VOCAB = 128_000
DEFAULT_SEQ_LEN = 2048
DEFAULT_BATCH_SIZE = 2


@dataclass(frozen=True)
class MemoryEstimate:
    serve_bf16_mb: int
    serve_4bit_mb: int
    train_lora_mb: int
    train_qlora_mb: int
    seq_len: int
    batch_size: int

    @property
    def train_min_mb(self) -> int:
        return min(self.train_lora_mb, self.train_qlora_mb)


def _hidden(params_b: float) -> float:
    return 1536 * max(params_b, 0.01) ** 0.4


def activation_bytes_per_token(params_b: float) -> float:
    hidden = _hidden(params_b)
    return LAYERS * hidden * 2 + 34 * hidden * 2 + 2 * VOCAB * 4


def memory_estimate(
    params_b: float, *, seq_len: int = DEFAULT_SEQ_LEN, batch_size: int = DEFAULT_BATCH_SIZE
) -> MemoryEstimate:
    """See the module docstring for the formulas."""
    params = params_b * 1e9
    kv = KV_MB_PER_B_4K * params_b * MB
    adapters = params * LORA_FRACTION * LORA_BYTES_PER_PARAM
    activations = activation_bytes_per_token(params_b) * seq_len * batch_size

    def total(weight_bytes: float, extra: float) -> int:
        return round((params * weight_bytes + extra) * (1 + OVERHEAD) / MB)

    return MemoryEstimate(
        serve_bf16_mb=round(params * BYTES_BF16 * (1 + OVERHEAD) / MB + kv / MB),
        serve_4bit_mb=round(params * BYTES_4BIT * (1 + OVERHEAD) / MB + kv / MB),
        train_lora_mb=total(BYTES_BF16, adapters + activations),
        train_qlora_mb=total(BYTES_4BIT, adapters + activations),
        seq_len=seq_len,
        batch_size=batch_size,
    )


def model_memory(model: CatalogModel) -> MemoryEstimate:
    return memory_estimate(model.params_b)


# --- the shipped catalog ------------------------------------------------------------------------------

CATALOG_FIELDS = (
    "name",
    "family",
    "params_b",
    "licence",
    "licence_url",
    "context_window",
    "architecture",
    "chat_template",
    "tool_calling",
    "source_url",
)


@cache
def catalog_entries() -> tuple[dict[str, Any], ...]:
    data = json.loads(CATALOG_PATH.read_text())
    return tuple(data["models"])


def catalog_note(hf_id: str) -> str:
    """The shipped entry's caveats (uncertain figures, gated repos, custom code), if any."""
    for entry in catalog_entries():
        if entry["hf_id"] == hf_id:
            return str(entry.get("note", ""))
    return ""


def catalog_seed(model_cls: Any = CatalogModel) -> int:
    """Create or update the shipped models by hf_id (the data migration passes its historical model)."""
    for entry in catalog_entries():
        model_cls.objects.update_or_create(
            hf_id=entry["hf_id"],
            defaults={**{name: entry[name] for name in CATALOG_FIELDS}, "seeded": True},
        )
    return len(catalog_entries())


# --- adding a model -----------------------------------------------------------------------------------

HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class ConfigFigures:
    params_b: float | None
    context_window: int | None
    architecture: str
    chat_template: bool
    tool_calling: bool
    licence: str


def params_from_config(config: dict[str, Any]) -> float | None:
    """Parameters of a decoder-only transformer from its config.json: embeddings (twice when the output
    head is not tied) and per layer the attention (q, k, v, o with grouped KV heads) and a gated MLP."""
    cfg: dict[str, Any] = config["text_config"] if isinstance(config.get("text_config"), dict) else config
    hidden = cfg.get("hidden_size") or cfg.get("n_embd") or cfg.get("d_model")
    layers = cfg.get("num_hidden_layers") or cfg.get("n_layer") or cfg.get("num_layers")
    vocab = cfg.get("vocab_size")
    if not (isinstance(hidden, int) and isinstance(layers, int) and isinstance(vocab, int)):
        return None
    heads = cfg.get("num_attention_heads") or cfg.get("n_head") or max(1, hidden // 64)
    kv_heads = cfg.get("num_key_value_heads") or heads
    head_dim = cfg.get("head_dim") or hidden // heads
    intermediate = cfg.get("intermediate_size") or cfg.get("n_inner") or 4 * hidden
    tied = config.get("tie_word_embeddings", cfg.get("tie_word_embeddings", True))
    embeddings = vocab * hidden * (1 if tied else 2)
    attention = hidden * heads * head_dim * 2 + hidden * kv_heads * head_dim * 2
    mlp = 3 * hidden * intermediate
    total = embeddings + layers * (attention + mlp + 2 * hidden) + hidden
    return round(total / 1e9, 3)


def _readme_licence(folder: Path) -> str:
    readme = folder / "README.md"
    if not readme.is_file():
        return ""
    text = readme.read_text(errors="replace")
    if not text.startswith("---"):
        return ""
    front = text.split("---", 2)[1]
    match = re.search(r"^licen[cs]e:\s*(\S+)", front, re.M)
    return match.group(1).strip("\"'").lower() if match else ""


def read_model_folder(folder: Path) -> ConfigFigures:
    """Figures from a local model folder: config.json (parameters, context, architecture),
    tokenizer_config.json or chat_template.jinja (chat template, tools) and README.md (licence)."""
    try:
        config = json.loads((folder / "config.json").read_text())
    except FileNotFoundError as exc:
        raise DomainError(f"{folder} has no config.json: is it a model folder?", field="hf_id") from exc
    except ValueError as exc:
        raise DomainError(f"{folder}/config.json is not valid JSON: {exc}", field="hf_id") from exc
    cfg: dict[str, Any] = config["text_config"] if isinstance(config.get("text_config"), dict) else config
    context = cfg.get("max_position_embeddings") or cfg.get("n_positions") or cfg.get("max_sequence_length")
    architectures = config.get("architectures") or []
    template = ""
    try:
        tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
        raw = tokenizer_config.get("chat_template") or ""
        template = raw if isinstance(raw, str) else json.dumps(raw)
    except (FileNotFoundError, ValueError):
        pass
    if not template and (folder / "chat_template.jinja").is_file():
        template = (folder / "chat_template.jinja").read_text(errors="replace")
    return ConfigFigures(
        params_b=params_from_config(config),
        context_window=int(context) if isinstance(context, int) else None,
        architecture=str(architectures[0]) if architectures else "",
        chat_template=bool(template),
        tool_calling="tools" in template,
        licence=_readme_licence(folder),
    )
