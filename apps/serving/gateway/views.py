"""The gateway's routes as Django views, for any server of the project (runserver, gunicorn, the test
client): each hands the request to apps.serving.gateway.core and turns its Answer into a response. Under
uvicorn (controlplane.asgi) the same routes are answered before Django's request handling by
apps.serving.gateway.asgi, which calls the same functions.

A WSGI server runs each async view in an event loop of its own that ends with the view. So there the view
finishes the call inside its loop: a streamed answer is read whole and sent as one body (the same
server-sent events, not incremental), the call's record and any shadow answer are written before the
response leaves, and the loop's connection pool is closed. Serve the gateway with uvicorn for true
streaming and pooled connections."""

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.serving.gateway import core, pool


async def _response(request: HttpRequest, answer: core.Answer) -> HttpResponseBase:
    response: HttpResponseBase
    if isinstance(request, ASGIRequest):  # the loop outlives the view: stream as it comes
        if answer.chunks is not None:
            response = StreamingHttpResponse(answer.chunks, status=answer.status, content_type=answer.content_type)
        else:
            response = HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
    else:
        body = b"".join([chunk async for chunk in answer.chunks]) if answer.chunks is not None else answer.body
        await core.background_settled()
        await pool.close()
        response = HttpResponse(body, status=answer.status, content_type=answer.content_type)
    for name, value in answer.headers.items():
        response[name] = value
    return response


def _headers(request: HttpRequest) -> dict[str, str]:
    return {name.lower(): value for name, value in request.headers.items()}


@csrf_exempt
@require_POST
async def chat_completions(request: HttpRequest) -> HttpResponseBase:
    return await _response(request, await core.chat_completions(_headers(request), request.body))


@require_GET
async def models(request: HttpRequest) -> HttpResponseBase:
    return await _response(request, await core.models(_headers(request)))
