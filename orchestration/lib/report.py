"""The weekly product-ops report: one self-contained HTML page of charts read from the marts.

Product managers and executives do not write SQL; this page is what they open. It is built
from the marts only (every number shown is a mart value, never recomputed here: definitions
live once, in dbt), it works offline (plotly.js is embedded inline, no CDN), and every week's
report is kept beside `latest.html`. Marts that another part of the project may not have
built yet (lifecycle, L28, experiments) are charted when their table exists and named as
missing otherwise.
"""

from __future__ import annotations

import html
import json
import math
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from ingestion.settings import WarehouseSettings
from orchestration.lib.warehouse import connect_when_free, read_cursor

MARTS_SCHEMA = "marts"
TEMPLATE = Path(__file__).with_name("report_template.html")

# Marts the report reads. The optional ones are charted only when their table exists.
REQUIRED_MARTS = (
    "fct_active_users_daily",
    "fct_feature_adoption_weekly",
    "fct_retention_weekly",
    "fct_nps_monthly",
    "fct_csat_monthly",
    "fct_support_daily",
    "fct_seat_utilization_daily",
    "fct_account_health_weekly",
    "dim_accounts",
)
OPTIONAL_MARTS = ("fct_user_lifecycle_weekly", "fct_engagement_l28", "fct_experiment_results")

COLORS = {
    "blue": "#1f77b4",
    "orange": "#ff7f0e",
    "green": "#2ca02c",
    "red": "#d62728",
    "purple": "#9467bd",
    "grey": "#7f7f7f",
}
PARTIAL_FILL = "rgba(127,127,127,0.15)"
MISSING_VALUE = "–"


def reports_dir(settings: WarehouseSettings | None = None) -> Path:
    """`REPORTS_DIR`, or `reports/` beside the warehouse file (`data/reports` by default)."""
    configured = os.environ.get("REPORTS_DIR")
    if configured:
        return Path(configured).resolve()
    return (settings or WarehouseSettings.from_env()).path.parent / "reports"


def report_path(settings: WarehouseSettings | None = None) -> Path:
    """Where the newest report is (`latest.html`): the run summary ends with this path."""
    return reports_dir(settings) / "latest.html"


def docs_path(settings: WarehouseSettings | None = None) -> Path:
    """Where the dbt docs site (one static HTML file) is published, beside the report."""
    return reports_dir(settings) / "dbt-docs.html"


@dataclass
class Chart:
    """One figure with its one-line reading and the mart it was read from."""

    key: str
    title: str
    reading: str
    mart: str
    figure: go.Figure


@dataclass
class Table:
    """A small table of mart rows (already formatted for display)."""

    key: str
    title: str
    reading: str
    mart: str
    columns: list[str]
    rows: list[list[str]]


@dataclass
class Report:
    """Everything one report page shows, before rendering (tests inspect this)."""

    as_of: date
    week_start: date
    week_is_partial: bool
    month_is_partial: bool
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


# --- reading the marts ---------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Decimals (PostgreSQL numerics) become floats; everything else stays as the driver gave."""
    return float(value) if isinstance(value, Decimal) else value


def _frames(cursor: Any, tables: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Each existing table of `tables` in schema `marts`, through a DB-API cursor."""
    cursor.execute("select table_name from information_schema.tables where table_schema = 'marts'")
    present = {row[0] for row in cursor.fetchall()}
    frames: dict[str, pd.DataFrame] = {}
    for table in tables:
        if table not in present:
            continue
        cursor.execute(f'select * from {MARTS_SCHEMA}."{table}"')
        columns = [column[0] for column in cursor.description]
        rows = [[_plain(value) for value in row] for row in cursor.fetchall()]
        frames[table] = pd.DataFrame(rows, columns=columns)
    return frames


def read_marts(
    source: Path | None = None, settings: WarehouseSettings | None = None
) -> dict[str, pd.DataFrame]:
    """The marts the report needs, from whichever engine hosts the warehouse (`read_cursor`).

    `source`, if given, is a DuckDB file (a published marts file) read instead.
    """
    tables = (*REQUIRED_MARTS, *OPTIONAL_MARTS)
    if source is not None:
        with connect_when_free(source, read_only=True) as con:
            return _frames(con.cursor(), tables)
    with read_cursor(settings or WarehouseSettings.from_env()) as cursor:
        return _frames(cursor, tables)


# --- formatting ----------------------------------------------------------------------------


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _pct(value: Any, digits: int = 1) -> str:
    """A ratio (0.25) shown as a percentage (25.0%); null shows as a dash."""
    return MISSING_VALUE if _is_null(value) else f"{float(value):.{digits}%}"


def _num(value: Any, digits: int = 0) -> str:
    if _is_null(value):
        return MISSING_VALUE
    return f"{float(value):,.{digits}f}"


def _day(value: Any) -> date:
    """A mart date (date, datetime or pandas Timestamp) as a date."""
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _dates(series: pd.Series) -> list[date]:
    return [_day(value) for value in series]


def _values(series: pd.Series) -> list[Any]:
    """Column values for plotly, nulls as None (plotly draws a gap)."""
    return [None if _is_null(value) else value for value in series]


def _figure(title: str, secondary_y: bool = False) -> go.Figure:
    figure = make_subplots(specs=[[{"secondary_y": True}]]) if secondary_y else go.Figure()
    figure.update_layout(
        title={"text": title, "x": 0.01},
        template="plotly_white",
        height=360,
        margin={"l": 60, "r": 60, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.15},
        hovermode="x unified",
    )
    return figure


def _mark_partial(figure: go.Figure, start: date, end: date, label: str) -> None:
    """Shade the partial period so that no reader mistakes its low value for a drop."""
    figure.add_vrect(
        x0=start.isoformat(),
        x1=end.isoformat(),
        fillcolor=PARTIAL_FILL,
        line_width=0,
        annotation_text=label,
        annotation_position="top left",
        annotation_font_size=11,
    )


# --- the charts ----------------------------------------------------------------------------


def _active_users(report: Report, marts: dict[str, pd.DataFrame]) -> Chart:
    frame = marts["fct_active_users_daily"].sort_values("activity_date")
    days = _dates(frame["activity_date"])
    figure = _figure("Active users (DAU / WAU / MAU) and stickiness", secondary_y=True)
    for column, color in (("dau", "blue"), ("wau", "orange"), ("mau", "green")):
        figure.add_trace(
            go.Scatter(
                x=days,
                y=_values(frame[column]),
                name=column.upper(),
                mode="lines",
                line={"color": COLORS[color]},
            ),
            secondary_y=False,
        )
    figure.add_trace(
        go.Scatter(
            x=days,
            y=_values(frame["stickiness"]),
            name="stickiness (DAU/MAU)",
            mode="lines",
            line={"color": COLORS["purple"], "dash": "dot"},
        ),
        secondary_y=True,
    )
    figure.update_yaxes(title_text="users", secondary_y=False)
    figure.update_yaxes(title_text="stickiness", tickformat=".0%", secondary_y=True)
    last = frame.iloc[-1]
    earlier = frame[frame["activity_date"].map(_day) == report.as_of - timedelta(days=28)]
    before = f" (28 days earlier {_pct(earlier.iloc[0]['stickiness'])})" if len(earlier) else ""
    reading = (
        f"On {report.as_of}: DAU {_num(last['dau'])}, WAU {_num(last['wau'])}, "
        f"MAU {_num(last['mau'])}; stickiness {_pct(last['stickiness'])}{before}."
    )
    return Chart("active_users", "Active users", reading, "fct_active_users_daily", figure)


def _week_end(report: Report) -> date:
    return report.week_start + timedelta(days=7)


def _feature_adoption(report: Report, marts: dict[str, pd.DataFrame]) -> Chart:
    frame = marts["fct_feature_adoption_weekly"].sort_values(["feature", "week_start"])
    figure = _figure("Feature adoption by week (share of weekly active users)")
    readings: list[str] = []
    palette = list(COLORS.values())
    for index, (feature, rows) in enumerate(frame.groupby("feature", sort=True)):
        weeks = _dates(rows["week_start"])
        color = palette[index % len(palette)]
        figure.add_trace(
            go.Scatter(
                x=weeks,
                y=_values(rows["adoption_rate"]),
                name=str(feature),
                mode="lines+markers",
                line={"color": color},
                customdata=_values(rows["feature_users"]),
                hovertemplate="%{y:.1%} (%{customdata} users)",
            )
        )
        # A launch: the first week with users after weeks in which the feature had none.
        used = [users > 0 for users in rows["feature_users"]]
        if used and not used[0] and any(used):
            launch = weeks[used.index(True)]
            figure.add_vline(x=launch.isoformat(), line={"color": color, "dash": "dash"})
            figure.add_annotation(
                x=launch.isoformat(),
                y=1,
                yref="paper",
                text=f"{feature} launched",
                showarrow=False,
                xanchor="left",
                font={"color": color},
            )
            complete = rows[rows["week_start"].map(_day) < report.week_start]
            latest = complete.iloc[-1] if len(complete) else rows.iloc[-1]
            readings.append(
                f"{feature} launched in the week of {launch}; adopted by "
                f"{_pct(latest['adoption_rate'])} of active users in the week of "
                f"{_day(latest['week_start'])}"
            )
    figure.update_yaxes(title_text="adoption rate", tickformat=".0%")
    if report.week_is_partial:
        _mark_partial(figure, report.week_start, _week_end(report), "partial week")
    if not readings:
        last = frame[frame["week_start"].map(_day) < report.week_start]
        top = last[last["week_start"] == last["week_start"].max()].sort_values(
            "adoption_rate", ascending=False
        )
        readings = [
            f"Most adopted feature in the week of {_day(top.iloc[0]['week_start'])}: "
            f"{top.iloc[0]['feature']} ({_pct(top.iloc[0]['adoption_rate'])})"
            if len(top)
            else "No complete week yet"
        ]
    return Chart(
        "feature_adoption",
        "Feature adoption",
        "; ".join(readings) + ".",
        "fct_feature_adoption_weekly",
        figure,
    )


def _retention(report: Report, marts: dict[str, pd.DataFrame]) -> Chart:
    frame = marts["fct_retention_weekly"]
    grid = frame.pivot(
        index="cohort_week", columns="weeks_since_first_active", values="retention_rate"
    ).sort_index()
    sizes = frame.groupby("cohort_week")["cohort_users"].first()
    labels = [f"{_day(cohort)} ({sizes[cohort]} users)" for cohort in grid.index]
    z = [[None if _is_null(v) else float(v) for v in row] for row in grid.to_numpy().tolist()]
    figure = _figure("Weekly retention by cohort (week of first activity)")
    figure.add_trace(
        go.Heatmap(
            x=[int(k) for k in grid.columns],
            y=labels,
            z=z,
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar={"tickformat": ".0%"},
            hovertemplate="cohort %{y}<br>week %{x}: %{z:.1%}<extra></extra>",
        )
    )
    figure.update_layout(height=max(360, 22 * len(labels) + 120), hovermode="closest")
    figure.update_xaxes(title_text="weeks since first active", dtick=1)
    figure.update_yaxes(autorange="reversed")
    four = frame[frame["weeks_since_first_active"] == 4].sort_values("cohort_week")
    if len(four):
        cell = four.iloc[-1]
        reading = (
            f"The cohort of {_day(cell['cohort_week'])} ({cell['cohort_users']} users) keeps "
            f"{_pct(cell['retention_rate'])} in week 4"
        )
    else:
        reading = "No cohort is four weeks old yet"
    if report.week_is_partial:
        reading += "; each cohort's last cell is the partial current week"
    return Chart("retention", "Retention", reading + ".", "fct_retention_weekly", figure)


def _lifecycle(report: Report, marts: dict[str, pd.DataFrame]) -> Chart:
    frame = marts["fct_user_lifecycle_weekly"].sort_values("week_start")
    weeks = _dates(frame["week_start"])
    figure = _figure("User lifecycle by week (growth accounting) and quick ratio", True)
    for column, color in (
        ("new_users", "green"),
        ("returning_users", "blue"),
        ("resurrected_users", "orange"),
    ):
        figure.add_trace(
            go.Bar(
                x=weeks,
                y=_values(frame[column]),
                name=column.replace("_", " "),
                marker_color=COLORS[color],
            ),
            secondary_y=False,
        )
    # Dormant users are drawn below zero (growth-accounting convention); hover shows the count.
    figure.add_trace(
        go.Bar(
            x=weeks,
            y=[None if _is_null(v) else -v for v in frame["dormant_users"]],
            customdata=_values(frame["dormant_users"]),
            hovertemplate="%{customdata}",
            name="dormant users",
            marker_color=COLORS["red"],
        ),
        secondary_y=False,
    )
    figure.add_trace(
        go.Scatter(
            x=weeks,
            y=_values(frame["quick_ratio"]),
            name="quick ratio",
            mode="lines+markers",
            line={"color": COLORS["purple"]},
        ),
        secondary_y=True,
    )
    figure.update_layout(barmode="relative")
    figure.update_yaxes(title_text="users", secondary_y=False)
    figure.update_yaxes(title_text="quick ratio", secondary_y=True)
    if report.week_is_partial:
        _mark_partial(figure, report.week_start, _week_end(report), "partial week")
    complete = frame[frame["week_start"].map(_day) < report.week_start]
    if len(complete):
        last = complete.iloc[-1]
        reading = (
            f"Week of {_day(last['week_start'])}: {_num(last['new_users'])} new, "
            f"{_num(last['resurrected_users'])} resurrected, {_num(last['dormant_users'])} "
            f"went dormant; quick ratio {_num(last['quick_ratio'], 2)} (above 1 means growth)."
        )
    else:
        reading = "No complete week yet."
    return Chart("lifecycle", "User lifecycle", reading, "fct_user_lifecycle_weekly", figure)


def _l28(report: Report, marts: dict[str, pd.DataFrame]) -> Chart:
    frame = marts["fct_engagement_l28"].sort_values(["snapshot_date", "days_active"])
    snapshots = sorted({_day(d) for d in frame["snapshot_date"]})
    latest = snapshots[-1]
    figure = _figure("Power-user curve (L28): share of monthly actives by days active")
    rows = frame[frame["snapshot_date"].map(_day) == latest]
    figure.add_trace(
        go.Bar(
            x=[int(k) for k in rows["days_active"]],
            y=_values(rows["share_of_active"]),
            customdata=_values(rows["users"]),
            hovertemplate="%{y:.1%} (%{customdata} users)",
            name=f"28 days to {latest}",
            marker_color=COLORS["blue"],
        )
    )
    earlier = [d for d in snapshots if d <= latest - timedelta(days=28)]
    if earlier:
        before = frame[frame["snapshot_date"].map(_day) == earlier[-1]]
        figure.add_trace(
            go.Scatter(
                x=[int(k) for k in before["days_active"]],
                y=_values(before["share_of_active"]),
                name=f"28 days to {earlier[-1]}",
                mode="lines+markers",
                line={"color": COLORS["grey"]},
            )
        )
    figure.update_xaxes(title_text="days active in the last 28", dtick=1)
    figure.update_yaxes(title_text="share of monthly actives", tickformat=".0%")
    one = rows[rows["days_active"] == 1]
    all_days = rows[rows["days_active"] == 28]
    reading = (
        f"In the 28 days to {latest}: {_pct(one.iloc[0]['share_of_active'] if len(one) else None)}"
        f" of monthly actives came on 1 day only, "
        f"{_pct(all_days.iloc[0]['share_of_active'] if len(all_days) else None)} on all 28."
    )
    return Chart("l28", "Power users (L28)", reading, "fct_engagement_l28", figure)


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _nps(report: Report, marts: dict[str, pd.DataFrame]) -> Chart:
    frame = marts["fct_nps_monthly"].sort_values("month_start")
    months = _dates(frame["month_start"])
    figure = _figure("NPS by month, with responses", secondary_y=True)
    figure.add_trace(
        go.Bar(
            x=months,
            y=_values(frame["responses"]),
            name="responses",
            marker_color="rgba(31,119,180,0.3)",
        ),
        secondary_y=True,
    )
    figure.add_trace(
        go.Scatter(
            x=months,
            y=_values(frame["nps"]),
            name="NPS",
            mode="lines+markers",
            line={"color": COLORS["blue"]},
        ),
        secondary_y=False,
    )
    figure.update_yaxes(title_text="NPS (-100..100)", secondary_y=False)
    figure.update_yaxes(title_text="responses", secondary_y=True, showgrid=False)
    figure.update_xaxes(dtick="M1", tickformat="%b %Y")
    current = _month_start(report.as_of)
    if report.month_is_partial:
        _mark_partial(figure, current, _next_month(current), "partial month")
    complete = frame[frame["month_start"].map(_day) < current]
    last = complete.iloc[-1] if len(complete) else frame.iloc[-1]
    reading = (
        f"NPS {_num(last['nps'], 1)} in {_day(last['month_start']):%B %Y} from "
        f"{_num(last['responses'])} responses ({_num(last['promoters'])} promoters, "
        f"{_num(last['detractors'])} detractors)."
    )
    return Chart("nps", "NPS", reading, "fct_nps_monthly", figure)


def _csat(report: Report, marts: dict[str, pd.DataFrame]) -> Chart:
    frame = marts["fct_csat_monthly"].sort_values(["source", "month_start"])
    figure = _figure("CSAT by month and source, with responses", secondary_y=True)
    readings: list[str] = []
    current = _month_start(report.as_of)
    for (source, rows), color in zip(
        frame.groupby("source", sort=True), ("green", "orange", "purple"), strict=False
    ):
        months = _dates(rows["month_start"])
        figure.add_trace(
            go.Bar(
                x=months,
                y=_values(rows["responses"]),
                name=f"{source} responses",
                marker_color=COLORS[color],
                opacity=0.3,
            ),
            secondary_y=True,
        )
        figure.add_trace(
            go.Scatter(
                x=months,
                y=_values(rows["csat_pct"]),
                name=f"{source} CSAT %",
                mode="lines+markers",
                line={"color": COLORS[color]},
            ),
            secondary_y=False,
        )
        complete = rows[rows["month_start"].map(_day) < current]
        if len(complete):
            last = complete.iloc[-1]
            readings.append(
                f"{source} {_num(last['csat_pct'], 1)}% ({_num(last['responses'])} responses, "
                f"{_day(last['month_start']):%B %Y})"
            )
    figure.update_yaxes(title_text="CSAT %", range=[0, 100], secondary_y=False)
    figure.update_yaxes(title_text="responses", secondary_y=True, showgrid=False)
    figure.update_layout(barmode="group")
    figure.update_xaxes(dtick="M1", tickformat="%b %Y")
    if report.month_is_partial:
        _mark_partial(figure, current, _next_month(current), "partial month")
    reading = "CSAT: " + "; ".join(readings) + "." if readings else "No complete month yet."
    return Chart("csat", "CSAT", reading, "fct_csat_monthly", figure)


def _tickets(report: Report, marts: dict[str, pd.DataFrame]) -> Chart:
    frame = marts["fct_support_daily"].sort_values("activity_date")
    days = _dates(frame["activity_date"])
    figure = _figure("Tickets created and solved per day, and backlog", secondary_y=True)
    figure.add_trace(
        go.Bar(
            x=days,
            y=_values(frame["tickets_created"]),
            name="created",
            marker_color=COLORS["orange"],
        ),
        secondary_y=False,
    )
    figure.add_trace(
        go.Bar(
            x=days, y=_values(frame["tickets_solved"]), name="solved", marker_color=COLORS["green"]
        ),
        secondary_y=False,
    )
    figure.add_trace(
        go.Scatter(
            x=days,
            y=_values(frame["backlog"]),
            name="backlog (open at day end)",
            mode="lines",
            line={"color": COLORS["red"]},
        ),
        secondary_y=True,
    )
    figure.update_layout(barmode="group")
    figure.update_yaxes(title_text="tickets per day", secondary_y=False)
    figure.update_yaxes(title_text="backlog", secondary_y=True, showgrid=False)
    last = frame.iloc[-1]
    reading = (
        f"On {_day(last['activity_date'])}: {_num(last['tickets_created'])} created, "
        f"{_num(last['tickets_solved'])} solved, backlog {_num(last['backlog'])}."
    )
    return Chart("tickets", "Tickets", reading, "fct_support_daily", figure)


def _sla(report: Report, marts: dict[str, pd.DataFrame]) -> Chart:
    frame = marts["fct_support_daily"].sort_values("activity_date")
    days = _dates(frame["activity_date"])
    figure = _figure("First-reply SLA breach rate (tickets created that day, with a reply)")
    figure.add_trace(
        go.Scatter(
            x=days,
            y=_values(frame["sla_breach_rate"]),
            name="SLA breach rate",
            mode="lines+markers",
            line={"color": COLORS["red"]},
            connectgaps=False,
        )
    )
    figure.update_yaxes(title_text="breach rate", tickformat=".0%", rangemode="tozero")
    answered = frame[frame["sla_breach_rate"].map(lambda v: not _is_null(v))]
    if len(answered):
        last = answered.iloc[-1]
        reading = (
            f"{_pct(last['sla_breach_rate'])} of the tickets created on "
            f"{_day(last['activity_date'])} and answered missed the first-reply target "
            f"(median first reply {_num(last['median_first_reply_minutes_business'])} "
            "business minutes)."
        )
    else:
        reading = "No answered ticket yet."
    return Chart("sla", "SLA", reading, "fct_support_daily", figure)


def _seats(report: Report, marts: dict[str, pd.DataFrame]) -> Chart:
    frame = marts["fct_seat_utilization_daily"]
    today = frame[frame["activity_date"].map(_day) == report.as_of]
    today = today.sort_values(["unused_seats", "account_id"], ascending=[False, True]).head(15)
    names = _account_names(marts)
    labels = [names.get(a, a) for a in today["account_id"]]
    figure = _figure(f"Seats on {report.as_of}: used and unused (15 most unused)")
    figure.add_trace(
        go.Bar(
            y=labels,
            x=_values(today["active_users_28d"]),
            orientation="h",
            name="active users (28 days)",
            marker_color=COLORS["blue"],
        )
    )
    figure.add_trace(
        go.Bar(
            y=labels,
            x=_values(today["unused_seats"]),
            orientation="h",
            name="unused seats",
            marker_color="#b8bec9",
            customdata=_values(today["utilization"]),
            hovertemplate="%{x} unused, utilization %{customdata:.0%}",
        )
    )
    figure.update_layout(
        barmode="stack", hovermode="closest", height=max(360, 24 * len(labels) + 140)
    )
    figure.update_xaxes(title_text="seats")
    figure.update_yaxes(autorange="reversed")
    if len(today):
        top = today.iloc[0]
        reading = (
            f"{names.get(top['account_id'], top['account_id'])} uses "
            f"{_num(top['active_users_28d'])} of {_num(top['seats_purchased'])} seats "
            f"({_pct(top['utilization'])}): {_num(top['unused_seats'])} unused."
        )
    else:
        reading = f"No account holds an active license on {report.as_of}."
    return Chart("seats", "Seats", reading, "fct_seat_utilization_daily", figure)


def _experiments(report: Report, marts: dict[str, pd.DataFrame]) -> Chart:
    frame = marts["fct_experiment_results"].sort_values(["experiment_id", "variation_id"])
    figure = _figure("Experiments: absolute lift in conversion vs control, with 95% interval")
    treated = frame[~frame["is_control"].astype(bool)]
    labels = [
        f"{e} / {v}" for e, v in zip(treated["experiment_id"], treated["variation_id"], strict=True)
    ]
    for label, (_, row) in zip(labels, treated.iterrows(), strict=True):
        figure.add_trace(
            go.Scatter(
                x=[_plain(row["ci_low"]), _plain(row["ci_high"])],
                y=[label, label],
                mode="lines",
                line={"color": COLORS["grey"], "width": 3},
                showlegend=False,
                hoverinfo="skip",
            )
        )
    figure.add_trace(
        go.Scatter(
            x=_values(treated["absolute_lift"]),
            y=labels,
            mode="markers",
            name="absolute lift",
            marker={
                "size": 12,
                "color": [COLORS["red"] if bool(s) else COLORS["blue"] for s in treated["has_srm"]],
            },
            customdata=_values(treated["p_value"]),
            hovertemplate="lift %{x:.2%}, p = %{customdata:.3f}<extra></extra>",
        )
    )
    figure.add_vline(x=0, line={"color": "black", "width": 1})
    figure.update_xaxes(title_text="conversion rate, variation minus control", tickformat=".1%")
    figure.update_layout(hovermode="closest", height=max(300, 60 * len(labels) + 120))
    srm = sorted(
        {str(e) for e, s in zip(frame["experiment_id"], frame["has_srm"], strict=True) if bool(s)}
    )
    parts = [
        f"{label}: {_pct(row['absolute_lift'], 2)} "
        f"[{_pct(row['ci_low'], 2)}, {_pct(row['ci_high'], 2)}]"
        if not _is_null(row["absolute_lift"])
        else f"{label}: no read-out yet ({_num(row['exposed_users'])} exposed)"
        for label, (_, row) in zip(labels, treated.iterrows(), strict=True)
    ]
    reading = "; ".join(parts) + "."
    if all(_is_null(v) for v in treated["absolute_lift"]):
        figure.add_annotation(
            text="no exposures yet", x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False
        )
    if srm:
        reading += (
            f" SAMPLE RATIO MISMATCH in {', '.join(srm)} (red): the split is not what was "
            "configured, do not trust that read-out."
        )
    return Chart("experiments", "Experiments", reading, "fct_experiment_results", figure)


# --- the tables ----------------------------------------------------------------------------


def _account_names(marts: dict[str, pd.DataFrame]) -> dict[str, str]:
    accounts = marts["dim_accounts"]
    return {
        str(a): str(n) if not _is_null(n) else str(a)
        for a, n in zip(accounts["account_id"], accounts["account_name"], strict=True)
    }


COMPONENTS = ("usage_score", "support_score", "sentiment_score", "trend_score")


def _at_risk(report: Report, marts: dict[str, pd.DataFrame]) -> Table:
    health = marts["fct_account_health_weekly"]
    names = _account_names(marts)
    latest_week = max(_dates(health["week_start"]))
    current = health[health["week_start"].map(_day) == latest_week]
    risky = current[current["health_band"] != "healthy"].sort_values(["health_score", "account_id"])
    rows: list[list[str]] = []
    for _, row in risky.head(15).iterrows():
        history = health[health["account_id"] == row["account_id"]].sort_values("week_start")
        trend = " → ".join(_num(v, 1) for v in history["health_score"].tail(4))
        low = sorted(
            (c for c in COMPONENTS if not _is_null(row[c]) and float(row[c]) < 50),
            key=lambda c: float(row[c]),
        )
        rows.append(
            [
                names.get(row["account_id"], row["account_id"]),
                str(row["health_band"]),
                _num(row["health_score"], 1),
                *(_num(row[c], 0) for c in COMPONENTS),
                ", ".join(c.removesuffix("_score") for c in low) or MISSING_VALUE,
                trend,
            ]
        )
    partial = " (partial week, scored on the as-of date)" if report.week_is_partial else ""
    reading = (
        f"{len(risky)} accounts are at risk or critical in the week of {latest_week}{partial}; "
        "the 15 lowest are shown, with the components under 50 that pulled them down."
        if len(risky)
        else f"No account is at risk in the week of {latest_week}."
    )
    return Table(
        "at_risk",
        "Accounts at risk",
        reading,
        "fct_account_health_weekly",
        [
            "account",
            "band",
            "health",
            "usage",
            "support",
            "sentiment",
            "trend score",
            "pulled down by",
            "health, last 4 weeks",
        ],
        rows,
    )


def _unused_seats(report: Report, marts: dict[str, pd.DataFrame]) -> Table:
    frame = marts["fct_seat_utilization_daily"]
    names = _account_names(marts)
    today = frame[frame["activity_date"].map(_day) == report.as_of]
    top = today.sort_values(["unused_seats", "account_id"], ascending=[False, True]).head(10)
    rows = [
        [
            names.get(row["account_id"], row["account_id"]),
            _num(row["seats_purchased"]),
            _num(row["active_users_28d"]),
            _pct(row["utilization"], 0),
            _num(row["unused_seats"]),
            _num(row["arr"]),
        ]
        for _, row in top.iterrows()
    ]
    return Table(
        "unused_seats",
        "Accounts with the most unused seats",
        f"On {report.as_of}, by unused seats (seats minus users active in the last 28 days).",
        "fct_seat_utilization_daily",
        ["account", "seats", "active users (28 days)", "utilization", "unused seats", "ARR"],
        rows,
    )


# --- assembling and rendering --------------------------------------------------------------

ChartBuilder = Callable[[Report, dict[str, pd.DataFrame]], Chart]

CHARTS: tuple[tuple[str, ChartBuilder], ...] = (
    ("fct_active_users_daily", _active_users),
    ("fct_feature_adoption_weekly", _feature_adoption),
    ("fct_retention_weekly", _retention),
    ("fct_user_lifecycle_weekly", _lifecycle),
    ("fct_engagement_l28", _l28),
    ("fct_nps_monthly", _nps),
    ("fct_csat_monthly", _csat),
    ("fct_support_daily", _tickets),
    ("fct_support_daily", _sla),
    ("fct_seat_utilization_daily", _seats),
    ("fct_experiment_results", _experiments),
)


class ReportDataError(RuntimeError):
    """A mart the report needs is absent or empty: build the marts first."""


def build_report(marts: dict[str, pd.DataFrame]) -> Report:
    """Charts and tables for the as-of date's week, from mart frames (see `read_marts`)."""
    absent = [name for name in REQUIRED_MARTS if name not in marts]
    if absent:
        raise ReportDataError(
            f"the report needs marts {', '.join(absent)} in schema `marts`: build them first "
            "(`make run`, or materialize the dbt assets in Dagster)"
        )
    active = marts["fct_active_users_daily"]
    if active.empty:
        raise ReportDataError(
            "marts.fct_active_users_daily is empty: the report needs at least one event day"
        )
    as_of = max(_dates(active["activity_date"]))
    report = Report(
        as_of=as_of,
        week_start=as_of - timedelta(days=as_of.weekday()),
        # docs/metrics.md: the as-of date's week/month is partial unless it is its last day.
        week_is_partial=as_of.weekday() != 6,
        month_is_partial=(as_of + timedelta(days=1)).day != 1,
    )
    for mart, builder in CHARTS:
        frame = marts.get(mart)
        if frame is None or frame.empty:
            if mart not in report.missing:
                report.missing.append(mart)
            continue
        report.charts.append(builder(report, marts))
    report.tables.append(_at_risk(report, marts))
    report.tables.append(_unused_seats(report, marts))
    return report


def _table_html(table: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in table.rows
    )
    return (
        f'<section class="table" id="{table.key}"><h2>{html.escape(table.title)}</h2>'
        f'<p class="reading">{html.escape(table.reading)}</p>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f'<p class="source">from marts.{table.mart}</p></section>'
    )


def _chart_html(chart: Chart) -> str:
    figure = pio.to_html(
        chart.figure,
        full_html=False,
        include_plotlyjs=False,
        div_id=f"chart-{chart.key}",
        config={"displayModeBar": False, "responsive": True},
    )
    return (
        f'<section class="chart" id="{chart.key}"><p class="reading">'
        f"{html.escape(chart.reading)}</p>{figure}"
        f'<p class="source">from marts.{chart.mart}</p></section>'
    )


def render_html(report: Report, generated_at: datetime | None = None) -> str:
    """The report page: plotly.js inline, so it opens offline and from an e-mail attachment."""
    generated = (generated_at or datetime.now().astimezone()).strftime("%Y-%m-%d %H:%M %Z")
    partial = (
        f"The week of {report.week_start} is partial (data to {report.as_of}); "
        "shaded periods in the charts are partial, not drops."
        if report.week_is_partial
        else f"The week of {report.week_start} is complete."
    )
    missing = (
        "Not shown yet (mart not built): " + ", ".join(report.missing) + "."
        if report.missing
        else ""
    )
    body = "\n".join(
        [_chart_html(c) for c in report.charts] + [_table_html(t) for t in report.tables]
    )
    return (
        TEMPLATE.read_text(encoding="utf-8")
        .replace("{{ title }}", html.escape(f"Product ops report, week of {report.week_start}"))
        .replace("{{ summary }}", html.escape(f"Data to {report.as_of}. {partial}"))
        .replace("{{ missing }}", html.escape(missing))
        .replace("{{ generated }}", html.escape(generated))
        .replace("{{ body }}", body)
        .replace("{{ plotlyjs }}", get_plotlyjs())
    )


def write_report(report: Report, directory: Path | None = None) -> Path:
    """Write `<week_start>.html` and copy it to `latest.html`; earlier weeks' files stay."""
    directory = directory or reports_dir()
    directory.mkdir(parents=True, exist_ok=True)
    page = directory / f"{report.week_start.isoformat()}.html"
    staging = directory / f".{page.name}.{os.getpid()}.tmp"
    staging.write_text(render_html(report), encoding="utf-8")
    os.replace(staging, page)
    latest_staging = directory / f".latest.html.{os.getpid()}.tmp"
    shutil.copyfile(page, latest_staging)
    os.replace(latest_staging, directory / "latest.html")
    return page


# --- the dbt docs site, beside the report ------------------------------------------------------


class DocsError(RuntimeError):
    """`dbt docs generate` failed; the message carries dbt's own output."""


# Beside dbt-docs.html: what the page was generated from (`project.dbt_inputs_fingerprint`).
DOCS_FINGERPRINT = ".dbt-docs.fingerprint"


def publish_dbt_docs(
    directory: Path | None = None, settings: WarehouseSettings | None = None
) -> Path:
    """`dbt docs generate --static` and copy its one-file site to `dbt-docs.html` beside the report.

    The static site opens from disk (no server), like the report. dbt writes into its own
    target folder (`dbt_project/target/docs`), kept between runs so that dbt parses only what
    changed. When the project and the warehouse's tables and columns are what the current page
    was generated from (`project.dbt_inputs_fingerprint`), the page is kept as it is.
    """
    return publish_dbt_docs_if_changed(directory, settings)[0]


def publish_dbt_docs_if_changed(
    directory: Path | None = None,
    settings: WarehouseSettings | None = None,
    built_in: Path | None = None,
) -> tuple[Path, bool]:
    """`publish_dbt_docs`, also saying whether the page was generated (False: kept as it was).

    `built_in`: the target folder of a whole `dbt build` that just ran (`build_target_of`).
    Its manifest already holds every model's and test's compiled SQL and its partial-parse
    file matches this project and profile, so `--no-compile` there only reads the catalog
    (about a third of a full `docs generate`, which parses and compiles everything again).
    Without it, or when that fails, the docs are generated as before.
    """
    from orchestration.lib.project import DBT_PROJECT_DIR, dbt_inputs_fingerprint
    from orchestration.lib.startup import dbt_env, dbt_executable

    settings = settings or WarehouseSettings.from_env()
    directory = directory or reports_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    page = directory / "dbt-docs.html"
    stamp = directory / DOCS_FINGERPRINT
    fingerprint = dbt_inputs_fingerprint(settings)
    if (
        fingerprint is not None
        and page.exists()
        and stamp.exists()
        and stamp.read_text().strip() == fingerprint
    ):
        return page, False
    stamp.unlink(missing_ok=True)  # a failed generation below must not leave the old stamp
    engine, env = settings.engine, {**os.environ, **dbt_env(settings)}

    def generate(target: Path, *options: str) -> tuple[subprocess.CompletedProcess[str], Path]:
        (target / "static_index.html").unlink(missing_ok=True)
        # `--target` as dagster-dbt passes it to `dbt build`: dbt's partial-parse file is
        # bound to the target named on the command line.
        command = [dbt_executable(), "docs", "generate", "--static", "--target", engine]
        command += options
        result = subprocess.run(
            [*command, "--target-path", str(target)],
            cwd=DBT_PROJECT_DIR,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        return result, target / "static_index.html"

    result = None
    if built_in is not None and compiled_whole_project(built_in):
        result, site = generate(built_in, "--no-compile")
    if result is None or result.returncode != 0 or not site.exists():
        result, site = generate(DBT_PROJECT_DIR / "target" / "docs")
    if result.returncode != 0 or not site.exists():
        raise DocsError(
            f"`dbt docs generate --static` failed (exit {result.returncode}) in "
            f"{DBT_PROJECT_DIR}; run it there to see why:\n{result.stdout[-3000:]}"
        )
    staging = directory / f".dbt-docs.html.{os.getpid()}.tmp"
    shutil.copyfile(site, staging)
    os.replace(staging, page)
    if fingerprint is not None:
        stamp.write_text(fingerprint + "\n")
    return page, True


# dbt nodes whose compiled SQL the docs page shows (seeds and hooks have none).
_COMPILED_TYPES = ("model", "test", "snapshot", "analysis")


def build_target_of(run_id: str, project_dir: Path | None = None) -> Path | None:
    """The target folder dagster-dbt gave the `dbt build` of this run, newest first; or None.

    dagster-dbt names it `<op name>-<first 7 characters of the run id>-<random>` under the
    project's target folder (`DbtCliResource._get_unique_target_path`).
    """
    target = (project_dir or _dbt_project_dir()) / "target"
    folders = [
        path
        for path in target.glob(f"*-{run_id[:7]}-*")
        if path.is_dir() and (path / "manifest.json").is_file()
    ]
    return max(folders, key=lambda path: path.stat().st_mtime, default=None)


def compiled_whole_project(folder: Path) -> bool:
    """Its manifest has compiled SQL for every model and test (a whole build that finished).

    A build of a subset, or one stopped by a failure, compiled only part of the project: the
    docs page must then compile everything itself.
    """
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    nodes = [
        node
        for node in manifest.get("nodes", {}).values()
        if node.get("resource_type") in _COMPILED_TYPES
    ]
    return bool(nodes) and all(node.get("compiled_code") is not None for node in nodes)


def _dbt_project_dir() -> Path:
    from orchestration.lib.project import DBT_PROJECT_DIR

    return DBT_PROJECT_DIR
