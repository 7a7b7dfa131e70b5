"""The product-ops report: every chart's data is its mart's, on DuckDB and PostgreSQL, offline.

A small set of marts written by hand (the as-of date 2026-03-11 is a Wednesday, so its week
and month are partial) stands in for a built warehouse; the charts must show exactly these
rows, the readings must quote them, and the page must draw in a real (headless) browser.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from orchestration.lib import report as report_lib
from orchestration.lib.report import (
    OPTIONAL_MARTS,
    Chart,
    ReportDataError,
    build_report,
    read_marts,
    render_html,
    write_report,
)
from tests.toolkit.small_marts import AS_OF, DAYS, MARTS, make_duckdb_marts, statements
from tools.pg_cluster import Cluster


def _by_key(charts: list[Chart]) -> dict[str, Chart]:
    return {chart.key: chart for chart in charts}


def _column(name: str, column: str, where: Any = None) -> list[Any]:
    columns, rows = MARTS[name]
    index = [c for c, _ in columns].index(column)
    return [row[index] for row in rows if where is None or where(row)]


def _trace(chart: Chart, name: str) -> Any:
    return next(t for t in chart.figure.data if t.name == name)


def assert_charts_equal_marts(charts: dict[str, Chart]) -> None:
    """Each chart plots its mart's rows as they are (the marts above, written by hand)."""
    active = charts["active_users"]
    for column in ("dau", "wau", "mau"):
        assert list(_trace(active, column.upper()).y) == _column("fct_active_users_daily", column)
    assert list(_trace(active, "stickiness (DAU/MAU)").y) == pytest.approx(
        _column("fct_active_users_daily", "stickiness")
    )
    assert list(_trace(active, "DAU").x) == DAYS

    adoption = charts["feature_adoption"]
    assert list(_trace(adoption, "ai_insights").y) == [0.0, 0.0, 0.2, 0.3]
    assert list(_trace(adoption, "reports").y) == [0.25, 0.3, 0.35, 0.4]

    heatmap = charts["retention"].figure.data[0]
    assert [list(row) for row in heatmap.z] == [
        [1.0, 0.75, 0.5, 0.25],
        [1.0, 0.6, 0.2, None],
        [1.0, 0.5, None, None],
        [1.0, None, None, None],
    ]
    assert list(heatmap.y)[0] == "2026-02-16 (8 users)"

    lifecycle = charts["lifecycle"]
    assert list(_trace(lifecycle, "new users").y) == [8, 5, 4, 2]
    assert list(_trace(lifecycle, "returning users").y) == [0, 6, 5, 4]
    assert list(_trace(lifecycle, "dormant users").customdata) == [0, 2, 6, 6]
    assert list(_trace(lifecycle, "dormant users").y) == [0, -2, -6, -6]
    assert list(_trace(lifecycle, "quick ratio").y) == pytest.approx([None, 2.5, 5 / 6, 1 / 3])

    l28 = charts["l28"].figure.data[0]
    assert list(l28.x) == list(range(1, 29))
    assert list(l28.customdata) == _column("fct_engagement_l28", "users")

    nps = charts["nps"]
    assert list(_trace(nps, "NPS").y) == [30.0, -25.0, 100.0]
    assert list(_trace(nps, "responses").y) == [10, 8, 3]
    csat = charts["csat"]
    assert list(_trace(csat, "survey CSAT %").y) == [75.0, 50.0]
    assert list(_trace(csat, "zendesk responses").y) == [6]

    tickets = charts["tickets"]
    assert list(_trace(tickets, "created").y) == _column("fct_support_daily", "tickets_created")
    assert list(_trace(tickets, "solved").y) == _column("fct_support_daily", "tickets_solved")
    assert list(_trace(tickets, "backlog (open at day end)").y) == list(range(5, 15))
    sla = _trace(charts["sla"], "SLA breach rate")
    assert list(sla.y) == pytest.approx(_column("fct_support_daily", "sla_breach_rate"))

    seats = charts["seats"]
    assert list(_trace(seats, "unused seats").y) == ["Beta GmbH", "Alpha Ltd", "acc_c"]
    assert list(_trace(seats, "unused seats").x) == [45, 1, 0]
    assert list(_trace(seats, "active users (28 days)").x) == [5, 9, 25]

    experiments = charts["experiments"]
    lift = _trace(experiments, "absolute lift")
    assert list(lift.y) == ["checkout / new", "onboarding / b"]
    assert list(lift.x) == [0.05, 0.02]
    intervals = [list(t.x) for t in experiments.figure.data if t.mode == "lines"]
    assert intervals == [[-0.04, 0.14], [-0.05, 0.09]]


def test_each_chart_plots_its_mart_and_reads_it(duckdb_marts: Path) -> None:
    report = build_report(read_marts(duckdb_marts))
    assert (report.as_of, report.week_start) == (AS_OF, date(2026, 3, 9))
    assert report.week_is_partial and report.month_is_partial
    assert report.missing == []
    charts = _by_key(report.charts)
    assert list(charts) == [
        "active_users", "feature_adoption", "retention", "lifecycle", "l28", "nps", "csat",
        "tickets", "sla", "seats", "experiments",
    ]  # fmt: skip
    assert_charts_equal_marts(charts)

    # The one-line readings quote mart values (complete periods where the latest is partial).
    assert charts["active_users"].reading == (
        "On 2026-03-11: DAU 19, WAU 29, MAU 49; stickiness 38.8%."
    )
    assert "ai_insights launched in the week of 2026-03-02" in charts["feature_adoption"].reading
    assert "20.0% of active users in the week of 2026-03-02" in charts["feature_adoption"].reading
    assert charts["nps"].reading.startswith("NPS -25.0 in February 2026 from 8 responses")
    assert "quick ratio 0.83" in charts["lifecycle"].reading
    assert "survey 75.0% (4 responses" in charts["csat"].reading
    assert charts["tickets"].reading == "On 2026-03-11: 1 created, 0 solved, backlog 14."
    # The as-of day has no answered ticket (null rate): the reading takes the day before.
    assert charts["sla"].reading.startswith("80.0% of the tickets created on 2026-03-10")
    assert charts["seats"].reading == "Beta GmbH uses 5 of 50 seats (10.0%): 45 unused."
    assert "SAMPLE RATIO MISMATCH in onboarding" in charts["experiments"].reading
    assert "checkout / new: 5.00% [-4.00%, 14.00%]" in charts["experiments"].reading

    # Markers: the launch week, and the partial week / month shaded.
    adoption_shapes = charts["feature_adoption"].figure.layout.shapes
    assert [s.x0 for s in adoption_shapes] == ["2026-03-02", "2026-03-09"]
    assert [s.x0 for s in charts["nps"].figure.layout.shapes] == ["2026-03-01"]

    at_risk, unused = report.tables
    assert at_risk.rows == [
        ["Beta GmbH", "critical", "28.0", "10", "40", "50", "30", "usage, trend, support",
         "34.8 → 28.0"],
        ["acc_c", "at_risk", "60.0", "100", "20", "30", "50", "support, sentiment", "60.0"],
    ]  # fmt: skip
    assert [row[0] for row in unused.rows] == ["Beta GmbH", "Alpha Ltd", "acc_c"]
    assert unused.rows[0] == ["Beta GmbH", "50", "5", "10%", "45", "6,000"]


def test_marts_not_built_yet_are_left_out_and_named(tmp_path: Path) -> None:
    required = [name for name in MARTS if name not in OPTIONAL_MARTS]
    report = build_report(read_marts(make_duckdb_marts(tmp_path / "w.duckdb", required)))
    assert report.missing == list(OPTIONAL_MARTS)
    assert {c.key for c in report.charts} == {
        "active_users", "feature_adoption", "retention", "nps", "csat", "tickets", "sla", "seats",
    }  # fmt: skip
    assert "Not shown yet (mart not built): fct_user_lifecycle_weekly" in render_html(report)


def test_a_required_mart_missing_names_it_and_the_fix(tmp_path: Path) -> None:
    names = [name for name in MARTS if name != "fct_support_daily"]
    marts = read_marts(make_duckdb_marts(tmp_path / "w.duckdb", names))
    with pytest.raises(ReportDataError, match=r"fct_support_daily.*build them first"):
        build_report(marts)


def test_a_complete_week_is_not_marked_partial(tmp_path: Path) -> None:
    marts = read_marts(make_duckdb_marts(tmp_path / "w.duckdb"))
    sunday = date(2026, 3, 8)
    marts["fct_active_users_daily"] = marts["fct_active_users_daily"][
        marts["fct_active_users_daily"]["activity_date"] <= sunday
    ]
    report = build_report(marts)
    assert (report.as_of, report.week_start, report.week_is_partial) == (
        sunday,
        date(2026, 3, 2),
        False,
    )
    assert [s.x0 for s in _by_key(report.charts)["feature_adoption"].figure.layout.shapes] == [
        "2026-03-02"  # the launch line only, no shading
    ]


def test_reports_are_kept_per_week_offline_and_latest_is_the_newest(
    duckdb_marts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path / "reports"))
    report = build_report(read_marts(duckdb_marts))
    older = tmp_path / "reports" / "2026-03-02.html"
    older.parent.mkdir()
    older.write_text("last week's report")
    page = write_report(report)
    assert page == tmp_path / "reports" / "2026-03-09.html"
    assert older.read_text() == "last week's report"
    latest = report_lib.report_path()
    assert latest.read_text() == page.read_text()
    text = page.read_text()
    # Self-contained: no script, style or font fetched from anywhere.
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|@import", text)
    assert "Plotly.newPlot" in text and len(text) > 1_000_000  # plotly.js inline
    assert sorted(p.name for p in page.parent.iterdir()) == [
        "2026-03-02.html", "2026-03-09.html", "latest.html",
    ]  # fmt: skip


def _load_postgres(database: Cluster) -> None:
    with psycopg2.connect(database.url) as con, con.cursor() as cursor:
        for sql, rows in statements(list(MARTS)):
            if rows:
                cursor.executemany(sql, rows)
            else:
                cursor.execute(sql)


@pytest.mark.slow
def test_postgres_gives_the_same_report(postgres_warehouse: Cluster, duckdb_marts: Path) -> None:
    _load_postgres(postgres_warehouse)
    report = build_report(read_marts())  # WAREHOUSE=postgres from the fixture
    assert report.as_of == AS_OF
    charts = _by_key(report.charts)
    assert_charts_equal_marts(charts)
    on_duckdb = build_report(read_marts(duckdb_marts))
    assert [c.reading for c in report.charts] == [c.reading for c in on_duckdb.charts]
    assert [t.rows for t in report.tables] == [t.rows for t in on_duckdb.tables]


@pytest.mark.slow
def test_the_report_draws_in_chromium_without_errors(duckdb_marts: Path, tmp_path: Path) -> None:
    from tests.toolkit.chromium import chromium

    report = build_report(read_marts(duckdb_marts))
    page = write_report(report, tmp_path / "reports")
    with chromium(tmp_path / "profile") as browser:
        browser.open(page.as_uri())
        drawn = browser.wait_for(
            "(() => { const plots = document.querySelectorAll('.js-plotly-plot');"
            " return plots.length && Array.from(plots).every(p => p._fullLayout) && plots.length"
            " })()"
        )
        assert drawn == len(report.charts) == 11
        # Every chart drew marks: trace groups with paths/points, or the heatmap's image.
        marks = browser.evaluate(
            "Object.fromEntries(Array.from(document.querySelectorAll('.js-plotly-plot')).map("
            "p => [p.id, p.querySelectorAll('svg.main-svg .trace path, svg.main-svg .trace "
            "image, svg.main-svg .point, svg.main-svg image').length]))"
        )
        assert set(marks) == {f"chart-{c.key}" for c in report.charts}
        assert all(count > 0 for count in marks.values()), marks
        widths = browser.evaluate(
            "Array.from(document.querySelectorAll('.js-plotly-plot')).map("
            "p => p._fullLayout.width <= p.parentElement.clientWidth)"
        )
        assert all(widths)  # no chart wider than its box (clipped)
        tables = browser.evaluate("document.querySelectorAll('section.table tbody tr').length")
        assert tables == 2 + 3
        shot = browser.screenshot(tmp_path / "report.png")
        assert browser.errors == []
    assert shot.stat().st_size > 50_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
