"""Every page says Content-Security-Policy (the site's own assets only), X-Frame-Options DENY and a
Referrer-Policy; the pages carry no inline script or style for the policy to block."""

import re
from pathlib import Path
from typing import Any

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def test_pages_api_and_errors_carry_the_security_headers(login: Any, owner: Any) -> None:
    client = login(owner)
    for path in ("/login/", "/", "/p/acme/keys/", "/api/docs", "/no-such-page/", "/healthz"):
        response = client.get(path)
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self';" in policy, path
        assert "unsafe-inline" not in policy and "unsafe-hashes" not in policy, path
        assert "style-src 'self';" in policy and "style-src-attr" not in policy, path
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


def test_the_policy_allows_no_inline_script_or_style() -> None:
    policy = settings.CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy and "'unsafe-hashes'" not in policy
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["style-src"] == "'self'" and directives["script-src"] == "'self'"
    # style-src-attr and style-src-elem fall back to style-src: no style attribute, no <style>.
    assert not {"style-src-attr", "style-src-elem", "script-src-attr", "script-src-elem"} & directives.keys()


def test_no_template_or_markup_in_code_has_a_style_attribute() -> None:
    """The policy blocks style="..." (a bar's width is a class: apps.common.templatetags.ui.pct_class), in a
    page and in HTML that htmx swaps in alike."""
    style_attribute = re.compile(r"""\bstyle\s*=\s*["'{]""", re.IGNORECASE)
    templates = [*(ROOT / "templates").rglob("*.html"), *(ROOT / "apps").rglob("templates/**/*.html")]
    code = [path for path in (ROOT / "apps").rglob("*.py") if "migrations" not in path.parts]
    assert templates and code
    for path in [*templates, *code, ROOT / "static" / "js" / "app.js"]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not style_attribute.search(line), f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
