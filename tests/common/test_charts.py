import re

from apps.common.charts import Bar, Point, column_chart, scatter, sparkline


def test_a_sparkline_draws_one_vertex_per_value_scaled_to_the_biggest() -> None:
    svg = sparkline([0, 5, 10], title="15 calls", width=100, height=20)
    line = re.search(r'<polyline class="sparkline-line" points="([^"]+)"', svg)
    assert line is not None
    points = [tuple(map(float, p.split(","))) for p in line.group(1).split()]
    assert [x for x, _ in points] == [2.0, 50.0, 98.0]
    assert points[0][1] == 18.0 and points[2][1] == 2.0  # zero on the base line, the peak at the top
    assert "<title>15 calls</title>" in svg


def test_a_sparkline_of_nothing_is_a_flat_line_not_an_error() -> None:
    assert "<polyline" in sparkline([0, 0, 0], title="none") and "<polyline" not in sparkline([], title="none")


def test_a_sparkline_title_is_escaped() -> None:
    assert "<b>" not in sparkline([1], title="<b>x</b>") and "&lt;b&gt;" in sparkline([1], title="<b>x</b>")


def test_scatter_points_link_with_escaped_tooltips_and_grey_for_no_series() -> None:
    svg = scatter(
        [
            Point(0, 0, series=0, tooltip="T1 <script>", href="/calls/a/"),
            Point(1, 1, series=None, tooltip="No task", href="/calls/b/"),
            Point(2, 0.5, series=23, tooltip="T24"),
        ],
        title="Map",
        labels={0: "T1"},
    )
    assert '<a href="/calls/a/"><circle class="chart-point chart-series-0"' in svg
    assert '<a href="/calls/b/"><circle class="chart-point-none"' in svg
    assert "chart-series-3" in svg  # 23 wraps around the 20 colours
    assert "&lt;script&gt;" in svg and "<script>" not in svg
    assert '<text class="chart-point-label"' in svg and ">T1</text>" in svg
    # grey points are drawn first, under the coloured ones
    assert svg.index("chart-point-none") < svg.index("chart-series-0")


def test_scatter_fits_the_points_inside_the_picture() -> None:
    svg = scatter([Point(-50, 10), Point(50, 30), Point(0, 20)], title="Map", width=200, height=100)
    for cx, cy in re.findall(r'cx="([\d.-]+)" cy="([\d.-]+)"', svg):
        assert 0 <= float(cx) <= 200 and 0 <= float(cy) <= 100


def test_scatter_of_one_point_does_not_divide_by_zero() -> None:
    assert "<circle" in scatter([Point(3, 3)], title="Map")


def test_existing_column_chart_still_draws_bars() -> None:
    assert 'class="chart-bar"' in column_chart([Bar(label="a", value=1)], title="t")
