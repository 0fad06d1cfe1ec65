"""Optional NER models for PII detection: a project can point to a spaCy pipeline or a Hugging Face
token-classification model on disk to find people, places and organisations our patterns miss.

A model is wrapped as a presidio recognizer. transformers (and so torch) is imported only when a
project configured a transformers model.
"""

import json
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

NER_ENTITIES = ("PERSON", "LOCATION", "ORGANIZATION")
LABELS = {
    "PERSON": "PERSON", "PER": "PERSON",
    "GPE": "LOCATION", "LOC": "LOCATION", "LOCATION": "LOCATION",
    "ORG": "ORGANIZATION", "ORGANIZATION": "ORGANIZATION",
}  # fmt: skip
SPACY_SCORE = 0.85  # spaCy's NER gives no confidence
# Where a long text is cut, best first: a line break, a sentence end, any whitespace.
CUTS = (re.compile(r".*\n", re.S), re.compile(r".*[.!?]\s", re.S), re.compile(r".*\s", re.S))


class NerModelError(ValueError):
    """A configured NER model that cannot be used; the message says what to fix."""


def _entity(label: str) -> str | None:
    """Our entity type for a model's label ("B-PER" and "PER" alike), None for labels we do not use."""
    return LABELS.get(label.split("-", 1)[-1].upper())


def ner_model_kind(path: str) -> str:
    """ "spacy" or "transformers", from the files in the model's directory."""
    root = Path(path).expanduser()
    if not root.exists():
        raise NerModelError(f"No NER model at {path}: the path does not exist.")
    if not root.is_dir():
        raise NerModelError(f"{path} is not a directory: point to the folder the model was saved to.")
    if (root / "config.cfg").is_file() and (root / "meta.json").is_file():
        return "spacy"
    config_file = root / "config.json"
    if not config_file.is_file():
        raise NerModelError(
            f"{path} is neither a spaCy pipeline (config.cfg and meta.json, as nlp.to_disk writes them) nor a "
            "transformers token-classification model (config.json, as save_pretrained writes it)."
        )
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError) as exc:
        raise NerModelError(f"{config_file} is not readable JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise NerModelError(f"{config_file} is not a transformers model config.")
    architectures = config.get("architectures") or []
    if architectures and not any(str(a).endswith("ForTokenClassification") for a in architectures):
        raise NerModelError(
            f"{path} holds a {architectures[0]} model; NER needs a token-classification model "
            "(an ...ForTokenClassification architecture)."
        )
    labels = config.get("id2label")
    if not isinstance(labels, dict) or not labels:
        raise NerModelError(
            f"{config_file} has no id2label, so it is not a token-classification model: "
            "an NER model lists its labels (O, B-PER, I-PER, ...) there."
        )
    if not any(_entity(str(label)) for label in labels.values()):
        raise NerModelError(
            f"The labels of {path} ({', '.join(map(str, labels.values()))}) name no person, location or "
            "organisation (PER, PERSON, LOC, GPE, ORG), so it would find nothing."
        )
    return "transformers"


class _NerRecognizer(EntityRecognizer):
    """Runs a model over a text in pieces and keeps the spans it labels as a person, place or organisation."""

    chunk_chars = 1_000

    def __init__(self) -> None:
        super().__init__(supported_entities=list(NER_ENTITIES), name=type(self).__name__)

    def load(self) -> None:
        pass

    def spans(self, text: str) -> Iterator[tuple[str, int, int, float]]:
        """(label, start, end, score) for each entity the model finds in a piece of text."""
        raise NotImplementedError

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        wanted = set(entities) & set(NER_ENTITIES)
        results = []
        if wanted:
            for offset, chunk in _chunks(text, self.chunk_chars):
                for label, start, end, score in self.spans(chunk):
                    entity = _entity(label)
                    if entity in wanted:
                        results.append(RecognizerResult(entity, offset + start, offset + end, score))
        return results


def _chunks(text: str, size: int) -> Iterator[tuple[int, str]]:
    """(offset, piece) for pieces of at most `size` characters, cut at a line, sentence or word boundary."""
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            window = text[start:end]
            cut = next((m.end() for m in (c.match(window) for c in CUTS) if m and m.end() > size // 2), size)
            end = start + cut
        if text[start:end].strip():
            yield start, text[start:end]
        start = end


class SpacyNerRecognizer(_NerRecognizer):
    chunk_chars = 100_000  # spaCy takes long texts (up to nlp.max_length); big pieces keep the context

    def __init__(self, nlp: Any) -> None:
        self.nlp = nlp
        super().__init__()

    def spans(self, text: str) -> Iterator[tuple[str, int, int, float]]:
        for ent in self.nlp(text).ents:
            yield ent.label_, ent.start_char, ent.end_char, SPACY_SCORE


class TransformersNerRecognizer(_NerRecognizer):
    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        tokenizer = pipe.tokenizer
        # Overlapping windows past the model's length, so a piece dense in tokens is read to its end.
        windows = tokenizer.is_fast and tokenizer.pad_token is not None
        self.call_kwargs = {"stride": tokenizer.model_max_length // 4} if windows else {}
        super().__init__()

    def spans(self, text: str) -> Iterator[tuple[str, int, int, float]]:
        for found in self.pipe(text, **self.call_kwargs):
            yield found["entity_group"], found["start"], found["end"], float(found["score"])


def _reason(exc: Exception) -> str:
    """A library's error in a line or two: the summary comes first, the cause last (after any traceback)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    return lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"


def _spacy_recognizer(root: str) -> EntityRecognizer:
    import spacy

    try:
        nlp = spacy.load(root)
    except Exception as exc:  # spaCy raises many kinds (missing factory, bad config, version mismatch)
        raise NerModelError(f"Could not load the spaCy pipeline at {root}: {_reason(exc)}") from exc
    if not any("doc.ents" in nlp.get_pipe_meta(name).assigns for name in nlp.pipe_names):
        raise NerModelError(
            f"The spaCy pipeline at {root} has no component that finds entities (ner or entity_ruler); "
            f"its components: {', '.join(nlp.pipe_names) or 'none'}."
        )
    return SpacyNerRecognizer(nlp)


def _transformers_recognizer(root: str) -> EntityRecognizer:
    try:
        import transformers
    except ImportError as exc:
        raise NerModelError(
            f"{root} is a transformers model but transformers is not installed here: "
            "install the ml extra (pip install '.[ml]') on the machines that scan calls."
        ) from exc
    try:
        pipe = transformers.pipeline(
            "token-classification", model=root, tokenizer=root, aggregation_strategy="simple", device=-1
        )
    except Exception as exc:  # missing weights or tokenizer files, unknown model type, corrupt files
        raise NerModelError(f"Could not load the transformers model at {root}: {_reason(exc)}") from exc
    tokenizer = pipe.tokenizer
    if tokenizer is None:
        raise NerModelError(f"The transformers model at {root} has no tokenizer files.")
    if tokenizer.model_max_length > 100_000:  # the tokenizer does not say; the model's positions do
        tokenizer.model_max_length = min(512, getattr(pipe.model.config, "max_position_embeddings", 512))
    return TransformersNerRecognizer(pipe)


@lru_cache(maxsize=4)
def _recognizer(root: str, kind: str, stamp: int) -> EntityRecognizer:
    return _spacy_recognizer(root) if kind == "spacy" else _transformers_recognizer(root)


def ner_recognizer_load(path: str) -> EntityRecognizer:
    """The model at `path` as a presidio recognizer of PERSON, LOCATION and ORGANIZATION. Loaded once per
    version of the model: saving the model again (which rewrites its top-level files) loads it afresh."""
    kind = ner_model_kind(path)
    root = Path(path).expanduser().resolve()
    stamp = max(p.stat().st_mtime_ns for p in (root, *root.iterdir()))
    return _recognizer(str(root), kind, stamp)
