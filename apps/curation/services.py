"""Redaction before storage: every ingest path (REST, NDJSON, uploads, import_calls) calls redact_rows."""

from collections import Counter
from typing import TYPE_CHECKING

from apps.calls.ingest import CallRow, preview_of
from apps.projects.models import Project

if TYPE_CHECKING:
    from apps.curation.pii import PiiScanner

_scanner: "PiiScanner | None" = None


def _default_scanner() -> "PiiScanner":
    """Built once per process (presidio and spaCy load lazily); keeps its content-hash cache across requests."""
    global _scanner
    if _scanner is None:
        from apps.curation.pii import PiiScanner

        _scanner = PiiScanner()
    return _scanner


def pii_scanner_get(*, project: Project) -> "PiiScanner":
    """The scanner for a project's policy. Every project uses the default policy for now."""
    return _default_scanner()


def redact_rows(*, project: Project, rows: list[CallRow]) -> None:
    """Redact validated calls in place, before anything is written; record what was found, by type."""
    if not rows:
        return
    scanner = pii_scanner_get(project=project)
    for row in rows:
        request, response, metadata, counts = scanner.redact_call(
            request=row.request, response=row.response, metadata=row.metadata
        )
        if row.error:
            row.error = scanner.redact_text(row.error, counts)
        if counts:
            row.request, row.response, row.metadata = request, response, metadata
            row.preview = preview_of(request)
        row.pii_counts = dict(counts)


def pii_scanner_warm_up() -> None:
    """Load the engine and run it once, so the first ingest request does not pay for it."""
    scanner = _default_scanner()
    scanner.redact_text("warm-up: jane@example.com, +1 415-555-0134, Samuel Lindqvist", Counter())
    scanner.cache.clear()
