"""Upstream endpoints: the model names each serves (fnmatch patterns), and the one a model's calls go to."""

import time

import pytest

from apps.common.errors import DomainError
from apps.evaluation.models import ModelEndpoint
from apps.evaluation.selectors import upstream_for
from apps.evaluation.services import endpoint_create
from apps.projects.models import Project

pytestmark = pytest.mark.django_db


def upstream(project: Project, name: str, models: list[str] | None, *, is_upstream: bool = True) -> ModelEndpoint:
    return endpoint_create(
        project=project, name=name, base_url="https://llm.example/v1", model="m", upstream=is_upstream, models=models
    )


def test_an_endpoint_serves_any_model_by_default_and_is_no_upstream(project: Project) -> None:
    endpoint = endpoint_create(project=project, name="candidate", base_url="http://h/v1", model="m")
    assert (endpoint.upstream, endpoint.models) == (False, ["*"])
    assert upstream_for(project=project, model_name="gpt-4o") is None


def test_the_most_specific_pattern_wins(project: Project) -> None:
    anything = upstream(project, "fallback", None)
    openai = upstream(project, "openai", ["gpt-4o*", "o3"])
    mini = upstream(project, "mini", ["gpt-4o-mini*"])
    exact = upstream(project, "pinned", ["gpt-4o-mini-2024-07-18"])
    upstream(project, "not-upstream", ["gpt-4o-mini-2024-07-18"], is_upstream=False)
    assert upstream_for(project=project, model_name="gpt-4o-mini-2024-07-18") == exact
    assert upstream_for(project=project, model_name="gpt-4o-mini") == mini
    assert upstream_for(project=project, model_name="gpt-4o") == openai
    assert upstream_for(project=project, model_name="o3") == openai
    assert upstream_for(project=project, model_name="claude-sonnet-4") == anything
    assert upstream_for(project=project, model_name="GPT-4O") == anything, "matching is case-sensitive"


def test_a_tie_goes_to_the_endpoint_added_first(project: Project, other_project: Project) -> None:
    first = upstream(project, "zeta", ["claude-*"])
    time.sleep(0.01)
    upstream(project, "alpha", ["claude-*"])
    assert upstream_for(project=project, model_name="claude-haiku") == first
    assert upstream_for(project=other_project, model_name="claude-haiku") is None


def test_patterns_are_stripped_and_repeats_dropped(project: Project) -> None:
    assert upstream(project, "a", [" gpt-4o* ", "gpt-4o*", "o3"]).models == ["gpt-4o*", "o3"]


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ([], "at least one model"),
        (["gpt-4o", "  "], "never empty"),
        (["x" * 201], "at most 200 characters"),
        ([f"model-{i}" for i in range(51)], "At most 50 model patterns"),
    ],
)
def test_bad_patterns_are_refused(project: Project, models: list[str], message: str) -> None:
    with pytest.raises(DomainError, match=message) as info:
        upstream(project, "bad", models)
    assert (info.value.field, info.value.status) == ("models", 422)
    assert not ModelEndpoint.objects.exists()
