"""Run every chart of the imported dashboard through Superset's chart-data API; print the rows.

Run with Superset's Python after `superset import-dashboards` (same SUPERSET_CONFIG_PATH):

    python bi/superset/check_dashboard.py --user admin > charts.json

For each chart of the dashboard `product-ops` it runs the chart's saved query context as the
given user, the way `GET /api/v1/chart/<id>/data/` (reports, cache warm-up) does, and prints one
JSON object: `{chart name: {"ok", "message", "queries": [{"colnames", "data", "rowcount",
"error"}]}}`. It exits 1 when a chart fails, naming it, so that a broken chart
(a renamed mart column, a missing table) is found before a person opens the dashboard.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

DASHBOARD = "product-ops"


def chart_rows(user: str) -> dict[str, Any]:
    """Each chart of the dashboard: whether it ran, and its queries' columns and rows."""
    from flask import g
    from superset import security_manager
    from superset.app import create_app

    app = create_app()
    with app.app_context(), app.test_request_context():
        from superset.charts.schemas import ChartDataQueryContextSchema
        from superset.commands.chart.data.get_data_command import ChartDataCommand
        from superset.daos.dashboard import DashboardDAO

        g.user = security_manager.find_user(username=user)
        if g.user is None:
            raise SystemExit(f"check_dashboard: no Superset user {user!r}; pass --user")
        dashboard = DashboardDAO.get_by_id_or_slug(DASHBOARD)
        out: dict[str, Any] = {}
        for chart in dashboard.slices:
            # What `GET /api/v1/chart/<id>/data/` does with the chart's saved query context.
            try:
                context = ChartDataQueryContextSchema().load(json.loads(chart.query_context))
                command = ChartDataCommand(context)
                command.validate()
                results = command.run()["queries"]
            except Exception as error:  # noqa: BLE001 - reported per chart, the run goes on
                out[chart.slice_name] = {"ok": False, "message": str(error), "queries": []}
                continue
            queries = [
                {
                    "colnames": result.get("colnames"),
                    "data": result.get("data"),
                    "rowcount": result.get("rowcount"),
                    "error": result.get("error"),
                }
                for result in results
            ]
            ok = not any(query["error"] for query in queries)
            out[chart.slice_name] = {"ok": ok, "message": None, "queries": queries}
        return out


def _plain(value: Any) -> Any:
    """Superset returns a null number as NaN; JSON has null for it."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def main(argv: list[str] | None = None) -> int:
    """Print every chart's rows as JSON; exit 1 naming the charts that failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user", default="admin", help="a Superset user allowed to read")
    args = parser.parse_args(argv)
    charts = chart_rows(args.user)
    print(json.dumps(_plain(charts), default=str, allow_nan=False))
    failed = [name for name, chart in charts.items() if not chart["ok"]]
    if failed:
        print(f"check_dashboard: charts failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
