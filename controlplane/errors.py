"""Errors outside a handler's reach: unknown paths, wrong methods, oversized bodies, crashes and database
outages. Under /api/ they answer the API's JSON error shape; elsewhere the product's HTML pages."""

import logging
import sys
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
DB_OUTAGE = (OperationalError, InterfaceError)
DB_OUTAGE_MESSAGE = "The database is unreachable; try again shortly"


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def json_error(status: int, code: str, message: str, errors: list[dict[str, str]] | None = None) -> JsonResponse:
    return JsonResponse({"code": code, "message": message, "errors": errors or []}, status=status)


def too_large_message() -> str:
    return f"The body is over the limit of {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes; send smaller batches"


def db_outage(api: bool) -> HttpResponse:
    """503 with Retry-After; the page is plain HTML rendered without a request, so no context processor, session
    or user lookup touches the database that is down."""
    if api:
        response: HttpResponse = json_error(503, "unavailable", DB_OUTAGE_MESSAGE)
    else:
        response = HttpResponse(loader.render_to_string("503.html"), status=503)
    response["Retry-After"] = str(settings.DB_OUTAGE_RETRY_AFTER_S)
    return response


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        if is_api(request):
            return json_error(413, "too_large", too_large_message(), [{"field": "body", "message": "is too large"}])
        return HttpResponse(too_large_message(), status=413, content_type="text/plain")
    if is_api(request):
        return json_error(400, "bad_request", "The request could not be read")
    return defaults.bad_request(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api(request):
        return json_error(404, "not_found", f"No API operation at {request.path_info}")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """Called by Django while it handles the uncaught exception (in a view or in a middleware such as the
    session's or auth's), so sys.exc_info() tells a database outage from a crash."""
    if isinstance(sys.exc_info()[1], DB_OUTAGE):
        return db_outage(is_api(request))
    if is_api(request):
        return json_error(500, "server_error", "The server failed to answer; the error was logged")
    return defaults.server_error(request)


class ApiMethodNotAllowedMiddleware:
    """django-ninja answers a method a path does not serve with a plain-text 405; the API answers JSON."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 405 and is_api(request) and "json" not in response.get("Content-Type", ""):
            allowed = response.get("Allow", "")
            answer = json_error(405, "method_not_allowed", f"{request.method} is not allowed here; use {allowed}")
            answer["Allow"] = allowed
            return answer
        return response
