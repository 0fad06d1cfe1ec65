"""Curation: PII redaction and training eligibility.

presidio and spaCy are imported here, before any module of this app, with torch and transformers
hidden: where the ml extra is installed, spaCy's thinc imports torch as soon as it can, presidio probes
torch for a GPU and imports transformers for NLP engines we do not use, which costs every process that
loads Django (the web workers above all) seconds and hundreds of MB. Each falls back when the import
fails, and spaCy runs on numpy. tests/common/test_no_torch.py checks it."""

from apps.common.imports import hidden

with hidden("torch", "transformers"):
    import presidio_analyzer  # noqa: F401
    import spacy  # noqa: F401
