from apps.specialists.charts import Series, line_chart


def test_a_line_chart_draws_each_series_with_tooltips_and_escapes_names() -> None:
    svg = line_chart(
        [Series("Train <loss>", [(1, 3.0), (2, 2.0), (3, 1.5)]), Series("Val", [(2, 2.5)], dots=True)],
        title="Loss & more",
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert 'aria-label="Loss &amp; more"' in svg and "Train &lt;loss&gt;" in svg and "<loss>" not in svg
    assert svg.count("<polyline") == 1  # one point of validation is a dot, not a line
    assert "Val at step 2: 2.5000" in svg
    first, last = svg.split('points="')[1].split('"')[0].split()[0], svg.split('points="')[1].split('"')[0].split()[-1]
    assert float(first.split(",")[1]) < float(last.split(",")[1])  # a higher loss is drawn higher up


def test_an_empty_chart_draws_axes_only() -> None:
    svg = line_chart([Series("Train", [])], title="Nothing yet")
    assert "<polyline" not in svg and "<circle" not in svg and "chart-baseline" in svg
