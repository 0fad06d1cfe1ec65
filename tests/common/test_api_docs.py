"""/api/docs works offline: Swagger UI's scripts and styles come from this server, not a CDN."""

import importlib
import re
from pathlib import Path

from django.contrib.staticfiles import finders
from django.test import Client
from ninja import Schema

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


def test_no_two_api_schemas_share_a_name() -> None:
    """The OpenAPI schema names each component by its class: a second class of the same name replaces the first,
    and the operations using the first are documented with the wrong shape."""
    root = Path(__file__).resolve().parents[2]
    by_name: dict[str, set[str]] = {}
    for path in sorted(root.glob("apps/*/schemas*.py")):
        module = importlib.import_module(".".join(path.relative_to(root).with_suffix("").parts))
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, Schema) and value.__module__ == module.__name__:
                by_name.setdefault(name, set()).add(module.__name__)
    assert len(by_name) > 50
    assert {name: modules for name, modules in by_name.items() if len(modules) > 1} == {}
