"""The ready Superset dashboard (bi/superset): it imports, and every chart shows its mart's rows.

The slow test builds it as a user would: the hand-written marts of tests/toolkit/small_marts.py
are published (DuckDB storage v1.4.0, orchestration/lib/publish.py), the bundle is zipped for
that file, `superset import-dashboards` loads it into a throwaway SQLite metadata database, and
every chart of the dashboard runs its saved query through Superset (duckdb-engine on DuckDB 1.4,
the 1.x engine BI tools embed). Each chart's rows must be the mart's, worked out below by hand.
Then `superset run` serves the dashboard on a free 127.0.0.1 port and headless Chromium
(tests/toolkit/chromium.py) loads it: all 15 charts drawn, no error, a screenshot in tmp_path.

Superset pins old pandas and SQLAlchemy, so it lives in its own virtual environment, created
once under ~/.cache/productops-tests/ (PyPI is reachable in CI) with a migrated metadata
database kept beside it as a template, so that later runs only import, query and look (~50 s).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestration.lib.publish import publish_marts
from tests.toolkit.paths import PROJECT_ROOT
from tests.toolkit.small_marts import AS_OF

BUNDLE = PROJECT_ROOT / "bi" / "superset" / "bundle"
MAKE_BUNDLE = PROJECT_ROOT / "bi" / "superset" / "make_bundle.py"
CHECK = PROJECT_ROOT / "bi" / "superset" / "check_dashboard.py"

REQUIREMENTS = (
    PROJECT_ROOT / "bi" / "superset" / "requirements.txt"
)  # Superset's pins, with the why
ADMIN = "admin"


def _cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "productops-tests"


def _config(folder: Path, metadata: Path, extra: str = "") -> dict[str, str]:
    """Environment for a Superset command with its own config and metadata database."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "superset_config.py"
    config.write_text(
        'SECRET_KEY = "test-only-throwaway-key-for-a-temporary-metadata-db"\n'
        f"SQLALCHEMY_DATABASE_URI = {('sqlite:///' + metadata.as_posix())!r}\n" + extra
    )
    return {
        **os.environ,
        "SUPERSET_CONFIG_PATH": str(config),
        "SUPERSET_HOME": str(folder / "home"),
        "PYTHONWARNINGS": "ignore",
    }


def _run(command: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, f"{what} failed:\n{output}"
    return result


@pytest.fixture(scope="session")
def superset() -> tuple[Path, Path]:
    """Superset's bin folder and a migrated metadata database with an admin (both cached)."""
    # Named after the pins: changing requirements.txt builds a fresh environment.
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:10]
    venv = _cache() / f"superset-{digest}"
    python = venv / "bin" / "python"
    probe = [
        str(python),
        "-c",
        "import superset, duckdb_engine, duckdb, rich, cachetools; "
        "assert duckdb.__version__.startswith('1.4.'), duckdb.__version__",
    ]
    if not python.exists() or subprocess.run(probe, capture_output=True).returncode != 0:
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            + ["-r", str(REQUIREMENTS)],
            check=True,
        )
        subprocess.run(probe, check=True)
    template = venv / "metadata-template.db"
    if not template.exists():
        building = venv / "metadata-building"
        shutil.rmtree(building, ignore_errors=True)
        env = _config(building, building / "superset.db")
        superset_cli = str(venv / "bin" / "superset")
        _run([superset_cli, "db", "upgrade"], env, "superset db upgrade")
        _run(
            [
                superset_cli,
                "fab",
                "create-admin",
                "--username",
                ADMIN,
                "--firstname",
                "Test",
                "--lastname",
                "Admin",
                "--email",
                "admin@example.invalid",
                "--password",
                ADMIN,
            ],
            env,
            "superset fab create-admin",
        )
        _run([superset_cli, "init"], env, "superset init")
        os.replace(building / "superset.db", template)  # atomic: a killed build leaves none
        shutil.rmtree(building, ignore_errors=True)
    return venv / "bin", template


def _bundle_files() -> dict[str, dict[str, Any]]:
    return {
        path.relative_to(BUNDLE).as_posix(): yaml.safe_load(path.read_text())
        for path in sorted(BUNDLE.rglob("*.yaml"))
    }


# --- fast: the bundle is whole -----------------------------------------------------------------


def test_every_chart_is_on_the_dashboard_and_reads_a_dataset_of_the_bundle() -> None:
    files = _bundle_files()
    (database,) = (c for name, c in files.items() if name.startswith("databases/"))
    assert database["sqlalchemy_uri"] == "duckdb:///__MARTS_PATH__?access_mode=read_only"
    datasets = {c["uuid"]: c for name, c in files.items() if name.startswith("datasets/")}
    charts = {c["uuid"]: c for name, c in files.items() if name.startswith("charts/")}
    (dashboard,) = (c for name, c in files.items() if name.startswith("dashboards/"))
    assert {d["database_uuid"] for d in datasets.values()} == {database["uuid"]}
    assert all(d["schema"] == "marts" for d in datasets.values())
    for chart in charts.values():
        dataset = datasets[chart["dataset_uuid"]]
        context = json.loads(chart["query_context"])
        columns = {c["column_name"] for c in dataset["columns"]}
        metrics = {m["metric_name"] for m in dataset["metrics"]}
        for query in context["queries"]:
            for column in query["columns"]:
                name = column["sqlExpression"] if isinstance(column, dict) else column
                assert name in columns, (chart["slice_name"], name)
            assert set(query["metrics"]) <= metrics, chart["slice_name"]
    on_dashboard = {
        item["meta"]["uuid"]
        for item in dashboard["position"].values()
        if isinstance(item, dict) and item.get("type") == "CHART"
    }
    assert on_dashboard == set(charts)


def test_make_bundle_fills_in_the_marts_path_and_names_a_missing_file(tmp_path: Path) -> None:
    marts = tmp_path / "analytics.duckdb"
    missing = subprocess.run(
        [sys.executable, str(MAKE_BUNDLE), str(marts), str(tmp_path / "b.zip")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2
    assert str(marts) in missing.stderr and "make run" in missing.stderr
    marts.write_bytes(b"")
    subprocess.run(
        [sys.executable, str(MAKE_BUNDLE), str(marts), str(tmp_path / "b.zip")], check=True
    )
    with zipfile.ZipFile(tmp_path / "b.zip") as archive:
        names = archive.namelist()
        texts = [archive.read(name).decode() for name in names]
    assert len(names) == len(_bundle_files())
    assert all(name.startswith("productops_dashboard/") for name in names)
    assert not any("__MARTS_PATH__" in text for text in texts)
    database = next(t for n, t in zip(names, texts, strict=True) if "/databases/" in n)
    assert f"duckdb:///{marts.as_posix()}?access_mode=read_only" in database


# --- slow: Superset imports the bundle and runs every chart ----------------------------------


def _rows(chart: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The chart's first query as tuples: dates cut to the day, NaN (Superset's null) None."""
    (query,) = chart["queries"]

    def clean(value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, str) and len(value) >= 10 and value[4] == "-" and value[7] == "-":
            return value[:10]
        return value

    return [tuple(clean(row[c]) for c in query["colnames"]) for row in query["data"]]


def _days(n: int) -> list[str]:
    return [(AS_OF - timedelta(days=n - 1 - i)).isoformat() for i in range(n)]


UI_CONFIG = (
    'AUTH_ROLE_PUBLIC = "Admin"\n'
    'FEATURE_FLAGS = {"DASHBOARD_VIRTUALIZATION": False}\n'  # draw every chart, not on scroll
)
# Superset's UI loads a usage-statistics image from its vendor's host; offline it fails to load.
TELEMETRY = "gateway.scarf.sh"
CHART_STATE = """(() => Array.from(document.querySelectorAll(
    '[data-test="dashboard-component-chart-holder"]')).map(holder => ({
  title: (holder.querySelector('[data-test="editable-title"]') || {}).innerText,
  canvases: holder.querySelectorAll('canvas').length,
  rows: holder.querySelectorAll('tbody tr').length,
  error: (holder.querySelector('[role="alert"], .alert') || {}).innerText || null,
})))()"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def _superset_server(bin_dir: Path, env: dict[str, str], log: Path) -> Iterator[str]:
    """`superset run` on a free 127.0.0.1 port; its base URL; stopped (and waited for) on exit."""
    port = _free_port()
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(bin_dir / "superset"), "run", "-h", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, f"superset run stopped: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"superset run not up: {log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


WEEKS = ["2026-02-16", "2026-02-23", "2026-03-02", "2026-03-09"]


@pytest.mark.slow
def test_superset_imports_the_dashboard_and_each_chart_shows_its_mart(
    tmp_path: Path, duckdb_marts: Path, superset: tuple[Path, Path]
) -> None:
    bin_dir, template = superset
    marts = tmp_path / "analytics.duckdb"
    publish_marts(duckdb_marts, marts)
    bundle = tmp_path / "productops-dashboard.zip"
    subprocess.run([sys.executable, str(MAKE_BUNDLE), str(marts), str(bundle)], check=True)
    metadata = tmp_path / "superset" / "superset.db"
    # Anonymous visitors act as Admin: a throwaway server on 127.0.0.1 for the browser check.
    env = _config(tmp_path / "superset", metadata, UI_CONFIG)
    shutil.copyfile(template, metadata)

    _run(
        [str(bin_dir / "superset"), "import-dashboards", "-p", str(bundle), "-u", ADMIN],
        env,
        "superset import-dashboards",
    )
    result = _run([str(bin_dir / "python"), str(CHECK), "--user", ADMIN], env, "check_dashboard")
    charts = json.loads(result.stdout.strip().splitlines()[-1])
    assert all(chart["ok"] for chart in charts.values()), charts

    days = _days(10)
    assert set(charts) == {
        "DAU, WAU and MAU",
        "Stickiness (DAU / MAU)",
        "Feature adoption by week",
        "Weekly retention by cohort",
        "User lifecycle by week",
        "Quick ratio by week",
        "Power-user curve (L28, latest snapshot)",
        "NPS by month",
        "CSAT % by month and source",
        "Tickets created, solved and backlog",
        "First-reply SLA breach rate",
        "Seats used and unused (latest day, 15 accounts with most unused)",
        "Accounts with the most unused seats",
        "Accounts at risk",
        "Experiment read-outs",
    }
    # small_marts.MARTS: day i (0..9, 2026-03-02..11) has dau 10+i, wau 20+i, mau 40+i.
    assert _rows(charts["DAU, WAU and MAU"]) == [
        (d, 10 + i, 20 + i, 40 + i) for i, d in enumerate(days)
    ]
    assert _rows(charts["Stickiness (DAU / MAU)"]) == [
        (d, pytest.approx((10 + i) / (40 + i))) for i, d in enumerate(days)
    ]
    assert sorted(_rows(charts["Feature adoption by week"])) == sorted(
        [(w, "reports", (5 + i) / 20) for i, w in enumerate(WEEKS)]
        + [(w, "ai_insights", u / 20) for w, u in zip(WEEKS, (0, 0, 4, 6), strict=True)]
    )
    retention = {(c, k): r for k, c, r in _rows(charts["Weekly retention by cohort"])}
    assert retention == {
        (WEEKS[0], 0): 1.0, (WEEKS[0], 1): 0.75, (WEEKS[0], 2): 0.5, (WEEKS[0], 3): 0.25,
        (WEEKS[1], 0): 1.0, (WEEKS[1], 1): 0.6, (WEEKS[1], 2): 0.2,
        (WEEKS[2], 0): 1.0, (WEEKS[2], 1): 0.5, (WEEKS[3], 0): 1.0,
    }  # fmt: skip
    assert _rows(charts["User lifecycle by week"]) == [
        (WEEKS[0], 8, 0, 0, 0),
        (WEEKS[1], 5, 6, 0, 2),
        (WEEKS[2], 4, 5, 1, 6),
        (WEEKS[3], 2, 4, 0, 6),
    ]
    assert _rows(charts["Quick ratio by week"]) == [
        (WEEKS[0], None),
        (WEEKS[1], 2.5),
        (WEEKS[2], pytest.approx(5 / 6)),
        (WEEKS[3], pytest.approx(1 / 3)),
    ]
    # The as-of snapshot: k days active by max(0, 10 - k) users of 45.
    assert _rows(charts["Power-user curve (L28, latest snapshot)"]) == [
        (k, pytest.approx(max(0, 10 - k) / 45)) for k in range(1, 29)
    ]
    assert _rows(charts["NPS by month"]) == [
        ("2026-01-01", 30.0, 10),
        ("2026-02-01", -25.0, 8),
        ("2026-03-01", 100.0, 3),
    ]
    assert sorted(_rows(charts["CSAT % by month and source"])) == [
        ("2026-02-01", "survey", 75.0),
        ("2026-02-01", "zendesk", 83.3),
        ("2026-03-01", "survey", 50.0),
    ]
    assert _rows(charts["Tickets created, solved and backlog"]) == [
        (d, i % 4, i % 3, 5 + i) for i, d in enumerate(days)
    ]
    assert _rows(charts["First-reply SLA breach rate"]) == [
        (d, None if i == 9 else pytest.approx(i / 10)) for i, d in enumerate(days)
    ]
    # The latest day (2026-03-11): Beta 50 seats / 5 users, Alpha 10 / 9, acc_c (no name) 20 / 25.
    assert _rows(charts["Seats used and unused (latest day, 15 accounts with most unused)"]) == [
        ("Beta GmbH", 5, 45),
        ("Alpha Ltd", 9, 1),
        ("acc_c", 25, 0),
    ]
    assert _rows(charts["Accounts with the most unused seats"]) == [
        ("Beta GmbH", 50, 5, 0.1, 45, 6000.0),
        ("Alpha Ltd", 10, 9, 0.9, 1, 1200.0),
        ("acc_c", 20, 25, 1.25, 0, 2400.0),
    ]
    # The latest week (2026-03-09): Beta critical 28.0, acc_c at_risk 60.0; Alpha is healthy.
    assert _rows(charts["Accounts at risk"]) == [
        ("Beta GmbH", "critical", 28.0, 10.0, 40.0, 50.0, 30.0),
        ("acc_c", "at_risk", 60.0, 100.0, 20.0, 30.0, 50.0),
    ]
    assert _rows(charts["Experiment read-outs"]) == [
        ("checkout", "control", True, 100, 10, 0.1, None, None, None, None, False),
        ("checkout", "new", False, 100, 15, 0.15, 0.05, -0.04, 0.14, 0.29, False),
        ("onboarding", "a", True, 200, 20, 0.1, None, None, None, None, True),
        ("onboarding", "b", False, 100, 12, 0.12, 0.02, -0.05, 0.09, 0.6, True),
    ]

    # As a person sees it: the dashboard page in headless Chromium draws every chart.
    from tests.toolkit.chromium import chromium

    with (
        _superset_server(bin_dir, env, tmp_path / "superset.log") as base,
        chromium(tmp_path / "profile", width=1600, height=1200) as browser,
    ):
        browser.open(f"{base}/superset/dashboard/product-ops/", timeout=120)
        drawn = browser.wait_for(
            f"(() => {{ const charts = {CHART_STATE}; return charts.length === 15 && "
            "charts.every(c => c.canvases > 0 || c.rows > 0 || c.error) && charts; })()",
            timeout=120,
        )
        browser.screenshot(tmp_path / "superset-dashboard.png", full_page=False)
        errors = [e for e in browser.errors if TELEMETRY not in e]
    by_title = {chart["title"]: chart for chart in drawn}
    assert set(by_title) == set(charts)
    assert [c for c in drawn if c["error"]] == []
    tables = {"Accounts with the most unused seats": 3, "Accounts at risk": 2}
    tables["Experiment read-outs"] = 4
    for title, chart in by_title.items():
        if title in tables:
            assert chart["rows"] == tables[title], chart
        else:
            assert chart["canvases"] > 0, chart  # ECharts draws on a canvas
    assert errors == []
