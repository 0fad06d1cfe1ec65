"""/api/docs works offline: Swagger UI's scripts and styles come from this server, not a CDN."""

import re

from django.contrib.staticfiles import finders
from django.test import Client

ASSET = re.compile(r"""<(?:script|link)\b[^>]*?\b(?:src|href)=["']([^"']+)["']""", re.I)


def test_api_docs_load_swagger_ui_from_this_server(client: Client) -> None:
    response = client.get("/api/docs")

    assert response.status_code == 200
    page = response.content.decode()
    assets = ASSET.findall(page)
    assert any(url.endswith("swagger-ui-bundle.js") for url in assets), assets
    assert any(url.endswith("swagger-ui.css") for url in assets), assets
    assert "cdn" not in page.lower()
    for url in assets:
        assert url.startswith("/static/"), f"{url} is not served by this server"
        assert finders.find(url.removeprefix("/static/")), f"{url} is not among the static files"
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert b"".join(asset.streaming_content if asset.streaming else [asset.content]), url


def test_api_docs_point_swagger_ui_at_the_local_schema(client: Client) -> None:
    page = client.get("/api/docs").content.decode()

    assert '"url": "/api/openapi.json"' in page
    assert '"validatorUrl": null' in page  # no badge fetched from validator.swagger.io
    assert client.get("/api/openapi.json").status_code == 200
