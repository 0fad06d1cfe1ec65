"""The one NinjaAPI: routers from each app, and one mapping of errors to HTTP."""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.schema import OpenAPISchema
from ninja.operation import Operation

from apps.approvals.api import router as approvals_router
from apps.calls.api import router as calls_router
from apps.common.errors import DomainError, Throttled
from apps.common.schemas import ErrorOut
from apps.curation.api import router as curation_router
from apps.discovery.api import router as discovery_router
from apps.evaluation.api import router as evaluation_router
from apps.fleet.api import router as fleet_router
from apps.monitoring.api import router as monitoring_router
from apps.serving.api import router as serving_router
from apps.specialists.api import router as specialists_router
from apps.specialists.api_training import router as training_router
from controlplane import errors as outer_errors

logger = logging.getLogger(__name__)
_ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
_ERROR_DESCRIPTIONS = {
    400: "The request could not be read",
    401: "No valid API key",
    403: "The key lacks the scope, or the role does not allow it",
    404: "Not found in the key's project",
    409: "Conflicts with the current state",
    413: "The body is over the size limit",
    422: "Invalid input; `errors` names each field",
    429: "Too many requests; see Retry-After",
    503: "The database is unreachable; see Retry-After",
}


class DownshiftAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        """Handlers are named verb_entity, and that name is the operation id."""
        return operation.view_func.__name__

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: Any = None) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        _document_errors(schema)
        return schema


def _document_errors(schema: OpenAPISchema) -> None:
    """Every operation documents the error answers it can give, in the one error shape, here rather than in each
    handler's `response=`: 400, 422, 429 and 503 always; 401 and 403 with a key; 404 with a path parameter;
    409 on a write; 413 with a body."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if "ErrorOut" not in components:
        defs = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(defs.pop("$defs", {}))
        components["ErrorOut"] = defs
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            statuses = {400, 422, 429, 503}
            if operation.get("security"):
                statuses |= {401, 403}
            if "{" in path:
                statuses.add(404)
            if method != "get":
                statuses.add(409)
            if "requestBody" in operation:
                statuses.add(413)
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses):
                responses.setdefault(
                    str(status),
                    {
                        "description": _ERROR_DESCRIPTIONS[status],
                        "content": {"application/json": {"schema": _ERROR_REF}},
                    },
                )


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


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, "not_found", str(exc) or "Not found")


@api.exception_handler(Exception)
def unexpected_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE is 413, a database outage 503 with Retry-After, Django's own
    client errors keep their status; anything else is a bug: logged with its traceback, answered 500 without it."""
    if isinstance(exc, RequestDataTooBig):
        message = outer_errors.too_large_message()
        return _error(request, 413, "too_large", message, [{"field": "body", "message": "is too large"}])
    if isinstance(exc, SuspiciousOperation):
        return _error(request, 400, "bad_request", "The request could not be read")
    if isinstance(exc, DjangoPermissionDenied):
        return _error(request, 403, "forbidden", str(exc) or "Not allowed")
    if isinstance(exc, outer_errors.DB_OUTAGE):
        logger.error("Database unreachable answering %s %s: %s", request.method, request.path, exc)
        return outer_errors.db_outage(api=True)
    logger.exception("Unhandled error answering %s %s", request.method, request.path)
    return _error(request, 500, "server_error", "The server failed to answer; the error was logged")
