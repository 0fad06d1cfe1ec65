from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from apps.common.errors import NotFound, PermissionDenied
from apps.common.ids import as_uuid
from apps.projects.models import ApiKey, Membership, OneTimePassword, Project, Role


def project_list(*, user: User) -> QuerySet[Project]:
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user)


def membership_get(*, project: Project, user: User | AnonymousUser) -> Membership | None:
    """The person's membership; a superuser acts as an admin of every project."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Membership(project=project, user=user, role=Role.ADMIN)
    return Membership.objects.filter(project=project, user=user).first()


def project_get_for_user(*, slug: str, user: User | AnonymousUser, ability: str = "view") -> tuple[Project, Membership]:
    """A project the person belongs to; 404 for outsiders, 403 when the role lacks the ability."""
    project = Project.objects.filter(slug=slug).first()
    membership = membership_get(project=project, user=user) if project else None
    if project is None or membership is None:
        raise NotFound("No such project")
    if not membership.can(ability):
        raise PermissionDenied(f"Your role ({membership.get_role_display()}) cannot do this")
    return project, membership


def membership_list(*, project: Project) -> QuerySet[Membership]:
    return Membership.objects.filter(project=project).select_related("user")


def api_key_list(*, project: Project) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(project=project).select_related("created_by")


def api_key_get(*, project: Project, key_id: str) -> ApiKey:
    uid = as_uuid(key_id)
    key = ApiKey.objects.filter(project=project, id=uid).first() if uid else None
    if key is None:
        raise NotFound("No such API key")
    return key


def membership_get_by_username(*, project: Project, username: str) -> Membership:
    membership = Membership.objects.filter(project=project, user__username=username).select_related("user").first()
    if membership is None:
        raise NotFound("That person is not a member of this project")
    return membership


def role_by_project(*, user: User) -> dict[Any, str]:
    """The person's role in each of their projects, keyed by project id."""
    return dict(Membership.objects.filter(user=user).values_list("project_id", "role"))


def one_time_password_held(*, user_id: Any) -> bool:
    """Whether the person still signs in with a password someone else generated (and must change it)."""
    return OneTimePassword.objects.filter(user_id=user_id).exists()
