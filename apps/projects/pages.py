"""The decorator every project page stands behind: it resolves the project and the person's role."""

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied as Forbidden
from django.http import Http404, HttpRequest, HttpResponse
from django_htmx.middleware import HtmxDetails

from apps.common import errors
from apps.common.pages import to_login
from apps.projects import selectors
from apps.projects.models import Membership, Project


class ProjectRequest(HttpRequest):
    """A request to a project page, once project_page has resolved the project and the person's role."""

    user: User
    htmx: HtmxDetails
    project: Project
    membership: Membership


ProjectView = Callable[..., HttpResponse]


def require_ability(request: ProjectRequest, ability: str) -> None:
    if not request.membership.can(ability):
        raise Forbidden(f"Your role ({request.membership.get_role_display()}) cannot do this")


def project_page(ability: str = "view") -> Callable[[ProjectView], ProjectView]:
    """Resolve `slug` to a project the person may use for `ability`; set request.project and
    request.membership (the navigation reads them). Anonymous -> login, outsiders -> 404, a role
    without the ability -> 403. NotFound / PermissionDenied raised by the view map the same way."""

    def decorate(view: ProjectView) -> ProjectView:
        @wraps(view)
        def wrapper(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return to_login(request)
            try:
                project, membership = selectors.project_get_for_user(slug=slug, user=request.user, ability=ability)
                page = cast(ProjectRequest, request)
                page.project, page.membership = project, membership
                return view(page, *args, **kwargs)
            except errors.NotFound as exc:
                raise Http404(exc.message) from exc
            except errors.PermissionDenied as exc:
                raise Forbidden(exc.message) from exc

        return wrapper

    return decorate
