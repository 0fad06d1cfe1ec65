"""Bars take their widths and offsets from classes (the Content-Security-Policy allows no style attribute):
ui's pct_class and span_classes name them, static/css/percent.css has one for every whole percent."""

import re
from pathlib import Path

import pytest
from django.template import Context, Template

from apps.common.templatetags.ui import pct_class, span_classes

PERCENT_CSS = Path(__file__).resolve().parents[2] / "static" / "css" / "percent.css"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "w-0"),
        (37, "w-37"),
        (100, "w-100"),
        (37.4, "w-37"),
        (37.5, "w-38"),  # half up, not to even
        (36.5, "w-37"),
        (99.6, "w-100"),
        (-5, "w-0"),
        (140, "w-100"),
        ("45", "w-45"),  # widthratio ... as x gives a string
        ("12.7", "w-13"),
        (None, "w-0"),
        ("", "w-0"),
        ("abc", "w-0"),
        (float("nan"), "w-0"),
        (float("inf"), "w-100"),
        (float("-inf"), "w-0"),
    ],
)
def test_pct_class_clamps_and_rounds_to_a_whole_percent(value: object, expected: str) -> None:
    assert pct_class(value, "w") == expected
    assert pct_class(value, "l") == "l-" + expected.removeprefix("w-")


def test_pct_class_defaults_to_a_width_and_knows_only_its_prefixes() -> None:
    assert pct_class(12) == "w-12"
    with pytest.raises(ValueError, match="prefix"):
        pct_class(12, "h")


def test_span_classes_place_a_bar_between_two_percents() -> None:
    assert span_classes(20, 65) == "l-20 w-45"
    assert span_classes("20", "65") == "l-20 w-45"
    assert span_classes(-3, 130) == "l-0 w-100"
    assert span_classes(70, 60) == "l-70 w-0"
    assert span_classes(None, 50) == "l-0 w-50"


def test_the_filters_in_a_template() -> None:
    html = Template(
        "{% load ui %}"
        '<div class="progress-bar {{ job.percent|pct_class:"w" }}"></div>'
        "{% widthratio low 1 100 as lo %}{% widthratio high 1 100 as hi %}"
        '<div class="interval-range {% span_classes lo hi %}"></div>'
    ).render(Context({"job": {"percent": 37}, "low": 0.812, "high": 0.91}))
    assert html == '<div class="progress-bar w-37"></div><div class="interval-range l-81 w-10"></div>'


def test_the_stylesheet_has_a_class_for_every_whole_percent() -> None:
    rules = dict(re.findall(r"^\.([wl]-\d+) \{ (.+?) \}$", PERCENT_CSS.read_text(), re.MULTILINE))
    expected = {f"w-{i}": f"width: {i}%;" for i in range(101)} | {f"l-{i}": f"left: {i}%;" for i in range(101)}
    assert rules == expected
