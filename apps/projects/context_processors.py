from django.http import HttpRequest


def current_project(request: HttpRequest) -> dict[str, object]:
    """Views set request.project / request.membership; templates read them for the navigation."""
    return {
        "project": getattr(request, "project", None),
        "membership": getattr(request, "membership", None),
    }
