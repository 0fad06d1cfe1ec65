"""A project's curation policy drives what ingest redacts and how (read back from the stored rows)."""

import importlib
from pathlib import Path
from typing import Any

import pytest
import spacy
from django.apps import apps

from apps.calls.ingest import Batch
from apps.calls.models import Call
from apps.calls.services import calls_ingest
from apps.common.errors import DomainError
from apps.curation.models import DEFAULT_NER_MODEL, CurationPolicy
from apps.curation.scanner import CustomPattern
from apps.curation.selectors import curation_policy_get
from apps.curation.services import POLICY_TYPES, PolicyChange, curation_policy_update, policy_entities
from apps.projects.models import Project
from tests.conftest import make_call


def change(**overrides: Any) -> PolicyChange:
    values: dict[str, Any] = {
        "entities": {e: (e != "ORGANIZATION", 0.4) for e in POLICY_TYPES},
        "allow_list": [],
        "custom": [],
        "operator": "replace",
        "ner_model_path": DEFAULT_NER_MODEL,
        "max_call_tokens": 8192,
    }
    values.update(overrides)
    return PolicyChange(**values)


def ingest(project: Project, *texts: str) -> list[Call]:
    records = [make_call(request={"model": "gpt-4o", "messages": [{"role": "user", "content": t}]}) for t in texts]
    calls_ingest(project=project, batch=Batch(records=list(enumerate(records))))
    stored = {c.client_id: c for c in Call.objects.filter(project=project)}
    return [stored[r["id"]] for r in records]


def user_text(call: Call) -> str:
    return str(call.request["messages"][0]["content"])


def test_a_new_project_has_the_default_policy(project: Project) -> None:
    policy = curation_policy_get(project=project)
    entities = policy_entities(policy)
    assert policy.version == 1 and policy.operator == "replace" and policy.ner_model_path == DEFAULT_NER_MODEL
    assert entities["EMAIL_ADDRESS"] == {"enabled": True, "threshold": 0.4}
    assert entities["LOCATION"]["enabled"] is True and entities["NRP"]["enabled"] is True
    assert entities["ORGANIZATION"]["enabled"] is False


def test_saving_bumps_the_version(project: Project) -> None:
    policy = curation_policy_update(project=project, user=None, change=change(allow_list=["  help@acme.example.com "]))
    assert policy.version == 2 and policy.allow_list == ["help@acme.example.com"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"custom": [CustomPattern("EMPLOYEE_ID", "(")]}, "custom"),
        ({"custom": [CustomPattern("EMPLOYEE_ID", "x*")]}, "custom"),
        ({"custom": [CustomPattern("lower", "EMP-\\d+")]}, "custom"),
        ({"custom": [CustomPattern("EMAIL_ADDRESS", "@")]}, "custom"),
        ({"operator": "shred"}, "operator"),
        ({"ner_model_path": "/nowhere/model"}, "ner_model_path"),
        ({"entities": {"EMAIL_ADDRESS": (True, 1.5)}}, "threshold_EMAIL_ADDRESS"),
    ],
)
def test_bad_policies_are_refused_with_the_field(project: Project, overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(DomainError) as caught:
        curation_policy_update(project=project, user=None, change=change(**overrides))
    assert caught.value.field == field
    assert curation_policy_get(project=project).version == 1


def test_a_switched_off_type_is_stored_and_a_threshold_is_honoured(project: Project) -> None:
    entities = {e: (e != "PERSON", 0.4) for e in POLICY_TYPES}
    entities["PHONE_NUMBER"] = (True, 0.99)  # phone findings score below this
    curation_policy_update(project=project, user=None, change=change(entities=entities))
    [call] = ingest(project, "Samuel Lindqvist, ann@example.com, call 415-555-0134")
    assert user_text(call) == "Samuel Lindqvist, <EMAIL_ADDRESS>, call 415-555-0134"
    assert call.pii_counts == {"EMAIL_ADDRESS": 1}


def test_allow_listed_values_survive_ingest(project: Project) -> None:
    curation_policy_update(project=project, user=None, change=change(allow_list=["Support@Acme.example.com"]))
    [call] = ingest(project, "Write to support@acme.example.com, not ann@example.com")
    assert user_text(call) == "Write to support@acme.example.com, not <EMAIL_ADDRESS>"


def test_a_custom_recognizer_redacts_its_type(project: Project) -> None:
    curation_policy_update(
        project=project, user=None, change=change(custom=[CustomPattern("EMPLOYEE_ID", r"\bEMP-\d{6}\b", 0.9)])
    )
    [call] = ingest(project, "Badge EMP-123456 was lost")
    assert user_text(call) == "Badge <EMPLOYEE_ID> was lost"
    assert call.pii_counts == {"EMPLOYEE_ID": 1} and call.pii_fields == {"user message": 1}


def test_mask_operator_on_ingest(project: Project) -> None:
    curation_policy_update(project=project, user=None, change=change(operator="mask"))
    [call] = ingest(project, "Mail ann@example.com")
    assert user_text(call) == "Mail ***@*******.***"


def test_pseudonyms_are_consistent_in_a_project_and_differ_across_projects(
    project: Project, other_project: Project
) -> None:
    for p in (project, other_project):
        curation_policy_update(project=p, user=None, change=change(operator="pseudonymise"))
    texts = (
        "Hi, Samuel Lindqvist here (ann.lee@example.com)",
        "samuel lindqvist again: Samuel Lindqvist, ann.lee@example.com!",
    )
    mine = [user_text(c) for c in ingest(project, *texts)]
    theirs = [user_text(c) for c in ingest(other_project, texts[0])]
    assert all("Lindqvist" not in t and "ann.lee" not in t for t in mine + theirs)
    first = mine[0].removeprefix("Hi, ").split(" here")[0]
    email = mine[0].split("(")[1].rstrip(")")
    assert first in mine[1] and email in mine[1]  # same person, same fake, in another call
    assert theirs[0] != mine[0]


def test_calls_remember_the_policy_version_they_were_curated_under(project: Project) -> None:
    [first] = ingest(project, "one")
    curation_policy_update(project=project, user=None, change=change())
    ingest(project, "one", "two")
    versions = sorted(Call.objects.filter(project=project).values_list("curation_version", flat=True))
    assert first.curation_version == 1 and versions == [1, 2, 2]


def test_the_default_model_finds_names_places_and_groups_on_ingest(project: Project) -> None:
    [call] = ingest(project, "The French couple, Tanaka and Giulia Rossi, moved from Lisbon to Oslo.")
    assert user_text(call) == "The <NRP> couple, <PERSON> and <PERSON>, moved from <LOCATION> to <LOCATION>."
    assert call.pii_counts == {"NRP": 1, "PERSON": 2, "LOCATION": 2}


@pytest.mark.parametrize("choice", ["", "none", " None "])
def test_the_pattern_only_engine_is_a_policy_choice(project: Project, choice: str) -> None:
    policy = curation_policy_update(project=project, user=None, change=change(ner_model_path=choice))
    assert policy.ner_model_path == ""
    [call] = ingest(project, "The French couple, Tanaka and Samuel Lindqvist, moved from Lisbon to Oslo.")
    assert user_text(call) == "The French couple, Tanaka and <PERSON>, moved from Lisbon to Oslo."


def test_a_type_the_model_finds_can_be_switched_off(project: Project) -> None:
    entities = {e: (e not in ("NRP", "ORGANIZATION"), 0.4) for e in POLICY_TYPES}
    curation_policy_update(project=project, user=None, change=change(entities=entities))
    [call] = ingest(project, "The French couple moved from Lisbon.")
    assert user_text(call) == "The French couple moved from <LOCATION>."


def test_a_spacy_pipeline_folder_is_a_policy_choice(project: Project, tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(  # type: ignore[attr-defined]
        [{"label": "PERSON", "pattern": "Zorblax Vrentik"}, {"label": "GPE", "pattern": "Quelltown"}]
    )
    nlp.to_disk(tmp_path / "ruler")
    policy = curation_policy_update(project=project, user=None, change=change(ner_model_path=str(tmp_path / "ruler")))
    assert policy.ner_model_path == str(tmp_path / "ruler")
    [call] = ingest(project, "Zorblax Vrentik flew to Quelltown, not Tanaka.")
    assert user_text(call) == "<PERSON> flew to <LOCATION>, not Tanaka."


def test_the_migration_moves_policies_without_a_model_to_the_default(project: Project, other_project: Project) -> None:
    migration = importlib.import_module("apps.curation.migrations.0003_policy_default_ner_model")
    CurationPolicy.objects.create(project=project, ner_model_path="", version=4)
    CurationPolicy.objects.create(project=other_project, ner_model_path="/models/ours", version=2)

    migration.to_the_default_model(apps, None)
    assert sorted(CurationPolicy.objects.values_list("ner_model_path", "version")) == [
        ("/models/ours", 2),
        (DEFAULT_NER_MODEL, 5),  # its stored calls, curated without NER, are due for a re-scan
    ]
    migration.back_to_none(apps, None)
    assert CurationPolicy.objects.get(project=project).ner_model_path == ""
