"""Engineers request approval of an evaluated candidate: a record with the rollout they propose."""

import pytest
from django.contrib.auth.models import User

from apps.approvals.models import Decision, SwapApproval
from apps.approvals.services import Actor, swap_approval_decide, swap_approval_request
from apps.common.errors import Conflict, PermissionDenied
from apps.evaluation.models import Evaluation
from apps.projects.models import Project
from apps.projects.services import api_key_create

pytestmark = pytest.mark.django_db


def test_an_engineer_requests_approval(engineer: User, ready: Evaluation) -> None:
    record = swap_approval_request(evaluation=ready, actor=Actor(user=engineer), comment="Ready on 40 calls.")
    assert (record.decision, record.who, record.comment) == (Decision.REQUEST, "engineer", "Ready on 40 calls.")
    assert record.rollout == {"shadow": True, "canary_percent": 10, "escalate_on_invalid": True}
    assert record.evidence["test_hash"] == ready.test_hash


def test_a_comment_is_optional_on_a_request(engineer: User, ready: Evaluation) -> None:
    assert swap_approval_request(evaluation=ready, actor=Actor(user=engineer)).comment == ""


def test_a_viewer_cannot_request(viewer: User, ready: Evaluation) -> None:
    with pytest.raises(PermissionDenied, match=r"Your role \(Viewer\) cannot request approval"):
        swap_approval_request(evaluation=ready, actor=Actor(user=viewer))


def test_a_key_requests_with_the_discover_scope(ready: Evaluation, project: Project) -> None:
    reader, _ = api_key_create(project=project, name="reader", scopes=["read"])
    with pytest.raises(PermissionDenied, match="lacks the 'discover' scope"):
        swap_approval_request(evaluation=ready, actor=Actor(api_key=reader))
    key, _ = api_key_create(project=project, name="ci")
    assert swap_approval_request(evaluation=ready, actor=Actor(api_key=key)).who == "API key ci"


def test_a_pending_request_is_not_made_twice(engineer: User, owner: User, ready: Evaluation) -> None:
    swap_approval_request(evaluation=ready, actor=Actor(user=engineer))
    with pytest.raises(Conflict, match="requested already"):
        swap_approval_request(evaluation=ready, actor=Actor(user=engineer))
    swap_approval_decide(evaluation=ready, actor=Actor(user=owner), decision="reject", comment="Not this week.")
    swap_approval_request(evaluation=ready, actor=Actor(user=engineer), comment="Again, after the fix.")
    assert SwapApproval.objects.filter(decision=Decision.REQUEST).count() == 2


def test_an_approved_candidate_is_not_requested_again(engineer: User, owner: User, ready: Evaluation) -> None:
    swap_approval_decide(evaluation=ready, actor=Actor(user=owner), decision="approve", comment="Go.")
    with pytest.raises(Conflict, match="approved already"):
        swap_approval_request(evaluation=ready, actor=Actor(user=engineer))
