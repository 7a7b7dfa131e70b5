"""The Dagster UI, checked as a person sees it: headless Chromium on a local dagster-webserver.

The test starts the webserver on a free 127.0.0.1 port with its own DAGSTER_HOME, dismisses
the first-visit dialog, and looks at the global asset lineage (every business group shows) and
one mart's checks tab (its dbt tests, Great Expectations suite and freshness check show),
with no console error.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.toolkit.chromium import Browser, chromium
from tests.toolkit.paths import PROJECT_ROOT, VENV_BIN

WEBSERVER = VENV_BIN / "dagster-webserver"
# The business domains: the folders under dbt_project/models/marts/ (a group each).
DOMAINS = ("product", "support", "surveys", "licenses", "accounts")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A dagster-webserver for this module, stopped with its code server at the end."""
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "WAREHOUSE_PATH": str(home / "warehouse.duckdb"),
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    log = (home / "webserver.log").open("w")
    server = subprocess.Popen(
        [str(WEBSERVER), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its code server is in the group we stop at the end
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if server.poll() is not None:
                pytest.fail(f"dagster-webserver exited: {(home / 'webserver.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no UI after 300 s: {(home / 'webserver.log').read_text()[-3000:]}")
            time.sleep(1)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        log.close()


def _dismiss_first_visit_dialog(browser: Browser) -> None:
    """Dagster's "Join the community" dialog covers the page on a fresh profile: skip it."""
    browser.wait_for(
        "Array.from(document.querySelectorAll('[role=dialog] button'))"
        ".some(b => b.innerText.trim() === 'Skip')"
    )
    browser.evaluate(
        "Array.from(document.querySelectorAll('[role=dialog] button'))"
        ".find(b => b.innerText.trim() === 'Skip').click()"
    )
    browser.wait_for("document.querySelectorAll('[role=dialog]').length === 0", timeout=10)


@pytest.mark.slow
def test_lineage_shows_every_group_and_a_mart_shows_its_checks(
    dagster_ui: str, tmp_path: Path
) -> None:
    with chromium(tmp_path / "profile", width=1600, height=1000) as browser:
        browser.open(f"{dagster_ui}/asset-groups")
        _dismiss_first_visit_dialog(browser)
        # The lineage graph draws one box per group; the side bar lists the groups.
        shown = browser.wait_for(
            "(() => { const text = document.body.innerText;"
            f" const groups = {list(DOMAINS)!r};"
            " return groups.every(g => text.split('\\n').filter(l => l.trim() === g).length >= 2)"
            " && groups; })()",
            timeout=120,
        )
        assert sorted(shown) == sorted(DOMAINS)
        assert browser.evaluate("document.body.innerText.includes('Global asset lineage')")
        browser.screenshot(tmp_path / "lineage.png", full_page=False)

        browser.open(f"{dagster_ui}/assets/marts/fct_active_users_daily?view=checks")
        text = browser.wait_for(
            "document.body.innerText.includes('great_expectations') && document.body.innerText",
            timeout=120,
        )
        for check in (
            "great_expectations",
            "freshness_check",
            "unique_fct_active_users_daily_activity_date",
            "not_null_fct_active_users_daily_dau",
        ):
            assert check in text, check
        assert "Checks (" in text
        lowered = text.lower()
        assert "error loading" not in lowered and "failed to load" not in lowered
        browser.screenshot(tmp_path / "mart_checks.png", full_page=False)
        assert browser.errors == []
    assert (tmp_path / "lineage.png").stat().st_size > 20_000
