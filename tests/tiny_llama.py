"""A small random-weight Llama and a word-level tokenizer built from chat rows, saved as a local
model folder: what the training tests and bench/train.py load through the same path as a real model
(nothing is downloaded). Plain functions, no Django, so the bench can import them too."""

import json
from pathlib import Path
from typing import Any

# Renders tools, tool calls and tool results; the assistant turn starts with "<|assistant|> ".
CHAT_TEMPLATE = (
    "{%- if tools %}<|tools|> {% for t in tools %}{{ t | tojson }} {% endfor %}<|end|>\n{% endif %}"
    "{%- for m in messages %}<|{{ m['role'] }}|> {% if m['content'] %}{{ m['content'] }}{% endif %}"
    "{%- if m.get('tool_calls') %}{% for c in m['tool_calls'] %} <|call|> {{ c['function']['name'] }} "
    "{{ c['function']['arguments'] | tojson }}{% endfor %}{% endif %} <|end|>\n{% endfor %}"
    "{%- if add_generation_prompt %}<|assistant|> {% endif %}"
)
SPECIAL = ["<pad>", "<unk>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>", "<|tool|>", "<|tools|>", "<|call|>"]


def chat_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """LoRA dataset lines: the request's messages plus the response as the final assistant turn."""
    return [
        {"messages": [*r["request"]["messages"], r["response"]], "tools": r["request"].get("tools") or []}
        for r in records
    ]


def _corpus(rows: list[dict[str, Any]]) -> list[str]:
    texts = []
    for row in rows:
        texts.append(json.dumps(row["tools"]))
        for m in row["messages"]:
            texts.append(str(m.get("content") or ""))
            for call in m.get("tool_calls") or []:
                texts.append(call["function"]["name"] + " " + json.dumps(json.loads(call["function"]["arguments"])))
    return texts


def build_tokenizer(rows: list[dict[str, Any]]) -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tokenizer.train_from_iterator(_corpus(rows), trainers.WordLevelTrainer(special_tokens=SPECIAL))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", pad_token="<pad>", eos_token="<|end|>"
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


# The tests' model: 2 layers, hidden 32. A frozen lm_head of std 0.02 keeps every logit near zero
# (nothing to learn), hence the larger initializer range.
TINY = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 1024,
    "initializer_range": 0.3,
}


def save_llama(folder: Path, rows: list[dict[str, Any]], **config: Any) -> Path:
    """A Llama of `config` (LlamaConfig fields; TINY by default) and a tokenizer built on `rows`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(rows)
    llama = LlamaConfig(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        **(config or TINY),
    )
    torch.manual_seed(0)
    LlamaForCausalLM(llama).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
