"""Curation pages: the report (what redaction found, what may become training data), the policy
with its live preview, and re-scans."""

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.common import errors
from apps.common.charts import Bar, bar_list_chart, column_chart
from apps.common.pages import render_page, wants_fragment
from apps.curation import eligibility, selectors, services
from apps.curation.forms import CustomRecognizerFormSet, PolicyForm, custom_initial
from apps.curation.models import CurationPolicy
from apps.curation.ner import NerModelInfo, ner_model_info
from apps.curation.scanner import CustomPattern, PiiScanner, PolicySpec
from apps.projects.forms import add_domain_error
from apps.projects.pages import ProjectRequest, project_page

# --- what the engine finds ------------------------------------------------------------------------------

# (found by, misses) of the pattern types, whatever the NER model.
PATTERN_COVERAGE = {
    "EMAIL_ADDRESS": ("e-mail addresses with a known top-level domain",
                      "addresses written out to dodge filters (jane at example dot com)"),
    "PHONE_NUMBER": ("phone numbers in national and international formats (+ and a country code)",
                     "numbers of countries it is not set up for written without +, numbers spelled out in words"),
    "CREDIT_CARD": ("card numbers that pass the Luhn check, grouped or not",
                    "numbers split across fields or lines"),
    "IBAN_CODE": ("IBANs with a valid checksum, grouped or not",
                  "national account numbers that are not IBANs (a UK sort code and account number)"),
    "IP_ADDRESS": ("IPv4 and IPv6 addresses", "host names"),
    "US_SSN": ("US social security numbers", "other countries' national id numbers"),
    "CRYPTO": ("bitcoin addresses with a valid checksum", "other currencies' wallets (Ethereum 0x...)"),
    "STREET_ADDRESS": ("a house number and a street name with a street word in several languages (12 Baker Street, "
                       "Hauptstr. 5, 3 rue de la Paix), with the town and postcode after it",
                       "addresses with no number or no street word, post office boxes, addresses split across fields"),
    "US_ZIP_CODE": ("US ZIP and ZIP+4 codes after a state or a ZIP cue word",
                    "a five-digit code with nothing around it that says it is a ZIP code"),
    "SECRET": ("API keys and tokens (OpenAI, AWS, GitHub, Slack, Google, JWT, bearer headers, private keys) and "
               "the values of fields named like password, token or secret",
               "keys of other services with no telling prefix, in a field whose name does not say so"),
}  # fmt: skip
# (found by, misses) with an NER model that has a label for the type; {model} is its name and version.
NER_COVERAGE = {
    "PERSON": ("the NER model {model}: names in running text, in most forms people write them (full names, "
               "titles, surname first, hyphenated, an initial and a surname), scored up by cue words nearby (name, "
               "Mr, customer, regards); and, in any case, the names the words around them point to: after a label "
               "(Customer:, Name on card:, Recipient:), a title (Mr, Dr, Mme, Herr), a greeting (Dear, Hi, Hallo) "
               "or \"my name is\", a signature line after a sign-off, initials (J.E.), two known names in lower "
               "case or capitals (\"robyn chen\"), and the values of JSON fields named for a person",
               "names with no cue that the model does not take for names: lower-case or all-capitals names it "
               "does not know (\"zorblax vrentik\"), a surname alone, names inside identifiers (jsmith42). "
               "System prompts are read by the patterns and cues only"),
    "LOCATION": ("the NER model {model}: countries, cities and states, other places (rivers, regions), buildings, "
                 "airports and roads; and places the words around them point to (City:, Country |, \"lives in\", "
                 "\"based in\", \"depot in\"), every country's English name, and the town before \", Country\"",
                 "lower-case or all-capitals place names with no cue (\"delhi to mumbai\"), street addresses with "
                 "numbers and postcodes (STREET_ADDRESS), places the model takes for a person or an organisation"),
    "NRP": ("the NER model {model}: nationalities, religious and political groups (French, Buddhist, "
            "Republicans)",
            "groups written in lower case or capitals, and membership said in other words"),
    "ORGANIZATION": ("the NER model {model}: companies, agencies, institutions",
                     "lower-case names and names that are also common words"),
}  # fmt: skip
PATTERN_ONLY_PERSON = (
    'the name recognizer and the cues only: a known first name followed by a capitalised word ("Samuel '
    'Lindqvist"); names after a label, title, greeting or "my name is", signature lines, initials, two known '
    "names in lower case or capitals; and the values of JSON fields named for a person's name",
    'a name in running text with no cue: a first or last name alone, "Lindqvist, Samuel", first names it does not know',
)


@dataclass(frozen=True)
class TypeCoverage:
    entity: str
    enabled: bool
    found_by: str
    misses: str


def _engine(policy: CurationPolicy) -> dict[str, Any]:
    """The active NER model (or None) and, per type, what the policy's engine finds and misses."""
    name = services.ner_model_name(policy.ner_model_path)
    model: NerModelInfo | None = ner_model_info(name) if name else None
    usable = model is not None and not model.error
    title = f"{model.title}" if model else ""
    rows = []
    for entity, setting in services.policy_entities(policy).items():
        if entity in NER_COVERAGE and usable and model and (not model.entities or entity in model.entities):
            found_by, misses = NER_COVERAGE[entity]
            found_by = found_by.format(model=title)
        elif entity == "PERSON":
            found_by, misses = PATTERN_ONLY_PERSON
            if usable:
                misses += f"; the NER model {title} has no person label"
        elif entity in NER_COVERAGE:
            reason = f"the NER model {title} has no label for it" if usable else "it needs an NER model"
            found_by, misses = f"nothing: {reason}", "all of them"
        else:
            found_by, misses = PATTERN_COVERAGE.get(entity, ("a pattern recognizer", "see its documentation"))
        rows.append(TypeCoverage(entity, setting["enabled"], found_by, misses))
    return {"ner_model": model, "coverage": rows}


# --- report -------------------------------------------------------------------------------------------


def _findings_chart(report: selectors.CurationReport, types: list[str]) -> SafeString | None:
    if not report.findings:
        return None
    bars = []
    for day, counts in report.over_time:
        total = sum(counts.values())
        detail = ", ".join(f"{counts[t]} {t}" for t in types if counts.get(t)) or "nothing found"
        bars.append(
            Bar(
                label=f"{day:%b} {day.day}",
                value=total,
                segments=tuple(float(counts.get(t, 0)) for t in types),
                tooltip=f"{day:%a %b} {day.day}: {detail}",
            )
        )
    return column_chart(bars, title="Findings per day, by type", y_label="findings / day", stacked=True)


@require_GET
@project_page("view")
def report(request: ProjectRequest) -> HttpResponse:
    data = selectors.curation_report_get(project=request.project)
    policy = selectors.curation_policy_get(project=request.project)
    types = [t for t, _ in data.by_type]
    calls_url = reverse("calls:list", kwargs={"slug": request.project.slug})
    context: dict[str, Any] = {
        "report": data,
        "policy": policy,
        "stale": selectors.stale_call_count(project=request.project, policy=policy),
        "rescans": list(selectors.rescan_job_list(project=request.project)),
        "chart": _findings_chart(data, types),
        "legend": list(enumerate(types)),
        "fields_chart": bar_list_chart([Bar(label=f, value=n) for f, n in data.top_fields], title="Findings by field")
        if data.top_fields
        else None,
        "excluded": [
            (reason, eligibility.REASON_LABELS.get(reason, reason), n, f"{calls_url}?training={reason}")
            for reason, n in data.excluded
        ],
        **_engine(policy),
    }
    return render_page(request, "curation/report.html", context, fragment="rescan-panel")


# --- policy ---------------------------------------------------------------------------------------------


def _segments(scanner: PiiScanner, text: str) -> list[dict[str, Any]]:
    """The text cut into plain and found pieces, each found piece with its type, score and replacement."""
    pieces: list[dict[str, Any]] = []
    position = 0
    for f in scanner.findings(text):
        if f.start > position:
            pieces.append({"text": text[position : f.start]})
        value = text[f.start : f.end]
        pieces.append(
            {"text": value, "entity": f.entity_type, "score": f.score, "new": scanner.replacement(f.entity_type, value)}
        )
        position = f.end
    if position < len(text):
        pieces.append({"text": text[position:]})
    return pieces


def _bound_forms(request: ProjectRequest) -> tuple[PolicyForm, Any, list[CustomPattern] | None]:
    form = PolicyForm(request.POST)
    formset = CustomRecognizerFormSet(request.POST, prefix="custom")
    if not (form.is_valid() and formset.is_valid()):
        return form, formset, None
    custom = [p for f in formset.forms if (p := f.pattern_or_none()) is not None]
    return form, formset, custom


def _preview(request: ProjectRequest, form: PolicyForm, custom: list[CustomPattern] | None) -> dict[str, Any]:
    text = form.cleaned_data.get("preview_text", "") if custom is not None else ""
    if custom is None:
        return {"preview_error": "Fix the errors in the form to see the preview."}
    if not text.strip():
        return {"preview_pieces": None}
    try:
        spec: PolicySpec = services.policy_change_spec(project=request.project, change=form.change(custom))
    except errors.DomainError as exc:
        return {"preview_error": exc.message}
    scanner = PiiScanner(spec)
    pieces = _segments(scanner, text)
    return {"preview_pieces": pieces, "preview_found": sum(1 for p in pieces if "entity" in p)}


@require_http_methods(["GET", "POST"])
@project_page("manage_curation")
def policy(request: ProjectRequest) -> HttpResponse:
    current = selectors.curation_policy_get(project=request.project)
    status = 200
    context: dict[str, Any] = {"policy": current, **_engine(current)}
    if request.method == "GET":
        form = PolicyForm(initial=PolicyForm.initial_for(current))
        formset = CustomRecognizerFormSet(initial=custom_initial(current), prefix="custom")
    else:
        form, formset, custom = _bound_forms(request)
        if request.POST.get("action") == "preview":
            context.update(_preview(request, form, custom))
        elif custom is None:
            status = 400
        else:
            try:
                saved = services.curation_policy_update(
                    project=request.project, user=request.user, change=form.change(custom)
                )
            except errors.DomainError as exc:
                add_domain_error(form, exc)
                status = exc.status
            else:
                stale = selectors.stale_call_count(project=request.project, policy=saved)
                note = f"Policy saved (version {saved.version})."
                if stale:
                    note += f" {stale:,} stored calls were curated under an older version: re-scan them below."
                messages.success(request, note)
                return redirect("curation:report", slug=request.project.slug)
    context.update({"form": form, "formset": formset})
    return render_page(request, "curation/policy.html", context, fragment="policy-form", status=status)


@require_POST
@project_page("manage_curation")
def policy_preview(request: ProjectRequest) -> HttpResponse:
    """The live preview (htmx): what the policy as typed, unsaved, finds in the pasted text."""
    form, _, custom = _bound_forms(request)
    if not wants_fragment(request):
        return redirect("curation:policy", slug=request.project.slug)
    return render_page(request, "curation/policy.html", _preview(request, form, custom), fragment="preview")


# --- re-scan ----------------------------------------------------------------------------------------------


@require_POST
@project_page("manage_curation")
def rescan_start(request: ProjectRequest) -> HttpResponse:
    try:
        job = services.rescan_job_create(project=request.project, created_by=request.user)
    except errors.Conflict as exc:
        messages.info(request, exc.message)
        return redirect("curation:report", slug=request.project.slug)
    return redirect("curation:rescan_detail", slug=request.project.slug, job_id=job.id)


@require_GET
@project_page("view")
def rescan_detail(request: ProjectRequest, job_id: str) -> HttpResponse:
    job = selectors.rescan_job_get(project=request.project, job_id=job_id)
    return render_page(request, "curation/rescan_detail.html", {"job": job}, fragment="job-status")


@require_POST
@project_page("manage_curation")
def rescan_cancel(request: ProjectRequest, job_id: str) -> HttpResponse:
    job = selectors.rescan_job_get(project=request.project, job_id=job_id)
    if not job.is_terminal:
        job = services.rescan_job_cancel(job=job)
    if wants_fragment(request):
        return render_page(request, "curation/rescan_detail.html", {"job": job}, fragment="job-status")
    return redirect("curation:rescan_detail", slug=request.project.slug, job_id=job.id)
