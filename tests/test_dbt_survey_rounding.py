"""NPS and CSAT round their exact value, halves away from zero, on DuckDB and PostgreSQL alike.

METRICS.md: `nps = round(100.0 * (promoters - detractors) / responses, 1)` and
`csat_pct = 100.0 * satisfied / responses, rounded to 1 decimal`. With 2,000 responses in a
month a value can end in exactly 5 at the second decimal: 100 * 7 / 2000 = 0.35 and
100 * 3 / 2000 = 0.15. A double holds them as 0.34999.. and 0.14999.., which rounded as
they are give 0.3 and 0.1 (DuckDB's division is a double; PostgreSQL's is an exact numeric,
0.4 and 0.2): the marts round through a decimal, so every engine gives 0.4 and 0.2.

    January 2024, file-drop survey, 2,000 NPS answers (one user each) and 2,000 CSAT answers
    NPS:  7 promoters (10), 1,993 passives (8), no detractor -> 100 * 7 / 2000 = 0.35 -> 0.4
    CSAT: 3 satisfied (5), 1,997 not (2)                      -> 100 * 3 / 2000 = 0.15 -> 0.2
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.toolkit.dbt import L1, raw_event, raw_warehouse_for_dbt, run_dbt

pytestmark = pytest.mark.slow

ANSWERS = 2000


def _answer(survey: str, index: int, score: int) -> dict[str, Any]:
    return {
        "response_id": f"{survey}-{index}",
        "submitted_at": "2024-01-10T12:00:00Z",
        "user_id": f"u{index}",
        "account_id": "acc_a",
        "survey": survey,
        "score": score,
        "_source_file": "surveys/responses.csv",
        "_dlt_load_id": L1,
    }


ROWS = {
    "raw_segment.events": [raw_event("e1", "track", "2024-01-20T09:00:00Z", user_id="u1")],
    "raw_file_drop.survey_responses": [
        *(_answer("nps", index, 10 if index < 7 else 8) for index in range(ANSWERS)),
        *(_answer("csat", index, 5 if index < 3 else 2) for index in range(ANSWERS)),
    ],
}


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_a_half_at_the_second_decimal_rounds_up_on_every_engine(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = None
    if engine == "postgres":
        server = request.getfixturevalue("postgres_server")
        database = server.create_database(f"rounding_{uuid.uuid4().hex[:8]}")
    path = tmp_path / "warehouse.duckdb"
    read = raw_warehouse_for_dbt(ROWS, path, monkeypatch, database)
    result = run_dbt(["run", "--select", "+fct_nps_monthly +fct_csat_monthly"], path, tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    statements = {
        "nps": "select responses, promoters, passives, detractors, nps from marts.fct_nps_monthly",
        "csat": "select source, responses, satisfied, csat_pct from marts.fct_csat_monthly",
    }
    rows = {name: read(sql) for name, sql in statements.items()}
    assert rows["nps"] == [(ANSWERS, 7, ANSWERS - 7, 0, 0.4)]
    assert rows["csat"] == [("survey", ANSWERS, 3, 0.2)]
