"""Every page says Content-Security-Policy (the site's own assets only), X-Frame-Options DENY and a
Referrer-Policy; the pages carry no inline script for the policy to block."""

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def test_pages_api_and_errors_carry_the_security_headers(login: Any, owner: Any) -> None:
    client = login(owner)
    for path in ("/login/", "/", "/p/acme/keys/", "/api/docs", "/no-such-page/", "/healthz"):
        response = client.get(path)
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self';" in policy, path
        assert "unsafe-inline" not in policy.split("style-src-attr")[0], path
        assert response["X-Frame-Options"] == "DENY", path
        assert response["Referrer-Policy"] == "same-origin", path


def test_templates_have_no_inline_scripts_or_event_handlers() -> None:
    templates = [*(ROOT / "templates").rglob("*.html"), *(ROOT / "apps").rglob("templates/**/*.html")]
    assert templates
    for template in templates:
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", text), template
        assert not re.search(r"\son[a-z]+=\"", text), template
        assert "<style" not in text, template
        # htmx evaluates trigger filters, js: values and hx-on with eval, which the policy forbids.
        assert not re.search(r'hx-trigger="[^"]*\[', text), template
        assert "js:" not in text and "hx-on" not in text, template
