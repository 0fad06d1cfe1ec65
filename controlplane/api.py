"""The one NinjaAPI: routers from each app, and one mapping of errors to HTTP."""

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.operation import Operation

from apps.approvals.api import router as approvals_router
from apps.calls.api import router as calls_router
from apps.common.errors import DomainError, Throttled
from apps.curation.api import router as curation_router
from apps.discovery.api import router as discovery_router
from apps.evaluation.api import router as evaluation_router
from apps.fleet.api import router as fleet_router
from apps.monitoring.api import router as monitoring_router
from apps.serving.api import router as serving_router
from apps.specialists.api import router as specialists_router
from apps.specialists.api_training import router as training_router


class DownshiftAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        """Handlers are named verb_entity, and that name is the operation id."""
        return operation.view_func.__name__


api = DownshiftAPI(
    title="Downshift API",
    version="1",
    description="Log your agents' LLM calls; Downshift finds the routine ones and moves them to small models.",
    urls_namespace="api",
    docs_url="/docs",
    # Swagger UI from ninja's own static files ("ninja" is in INSTALLED_APPS), so /api/docs works offline;
    # no validator badge (it would fetch from validator.swagger.io).
    docs=Swagger(settings={"validatorUrl": None}),
)
api.add_router("/v1", calls_router)
api.add_router("/v1", curation_router)
api.add_router("/v1", discovery_router)
api.add_router("/v1", specialists_router)
api.add_router("/v1", training_router)
api.add_router("/v1", evaluation_router)
api.add_router("/v1", approvals_router)
api.add_router("/v1", fleet_router)
api.add_router("/v1", serving_router)
api.add_router("/v1", monitoring_router)


def _error(
    request: HttpRequest, status: int, code: str, message: str, errors: list[dict[str, str]] | None = None
) -> HttpResponse:
    return api.create_response(request, {"code": code, "message": message, "errors": errors or []}, status=status)


@api.exception_handler(DomainError)
def domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    errors = [{"field": exc.field, "message": exc.message}] if exc.field else []
    response = _error(request, exc.status, exc.code, exc.message, errors)
    if isinstance(exc, Throttled):
        response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(AuthenticationError)
def auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(
        request, 401, "unauthorized", "Send a valid, unrevoked project API key as 'Authorization: Bearer ds_…'"
    )


@api.exception_handler(NinjaValidationError)
def validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors = []
    for item in exc.errors:
        loc = [str(part) for part in item.get("loc", ()) if part not in ("query", "path", "body", "filters", "payload")]
        errors.append({"field": ".".join(loc) or "request", "message": item.get("msg", "is invalid")})
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return _error(request, 422, "invalid", f"Invalid input: {summary}", errors)


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(request, exc.status_code, "error", str(exc))
