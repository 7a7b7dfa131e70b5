"""unresolved_records: every valid record whose account cannot be resolved, and why.

A hand-made raw warehouse with one record of each unresolved kind next to resolved ones, built
with `dbt build --select +unresolved_records +dim_accounts`; the expected rows are worked out
by hand:

    segment   m2  identified user u2, no context.groupId, no group call
    segment   m5  the same user, context.groupId '' (an empty id is an absent one)
    zendesk   ticket 2 (no organization), 3 (organization 11 has no external_id),
              4 (organization 99 not loaded); ticket 5 is deleted: counts nowhere, not listed
    zendesk   organizations 11 (external_id null) and 12 (external_id '')
    stripe    customer cus_2 (no metadata.account_id), its subscription sub_2, sub_3 (customer
              cus_404 not loaded)
    file_drop license LIC-2 (no account_id), survey response fd1 (no account_id)
    typeform  response r2 (no hidden account_id); r3 has no score, so it is not a response

Resolved (not listed): m1 (context.groupId), m3 (the user's group call), the anonymous m4,
ticket 1, organization 10, cus_1/sub_1, LIC-1, r1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.toolkit.dbt import L1, create_raw_postgres, create_raw_warehouse, run_dbt
from tests.toolkit.warehouse import pg_query, query

pytestmark = pytest.mark.slow

LOAD = L1


def _row(**fields: Any) -> dict[str, Any]:
    return {"_dlt_load_id": LOAD, **fields}


def _event(message_id: str, kind: str, **fields: Any) -> dict[str, Any]:
    ts = fields.pop("timestamp", "2024-01-02T10:00:00Z")
    return _row(
        message_id=message_id,
        type=kind,
        timestamp=ts,
        received_at=ts,
        _source_file="events/a.jsonl",
        **fields,
    )


def _ticket(ticket_id: int, organization_id: int | None, status: str = "open") -> dict[str, Any]:
    return _row(
        id=ticket_id,
        created_at="2024-01-02T09:00:00Z",
        updated_at="2024-01-02T09:30:00Z",
        status=status,
        priority="normal",
        organization_id=organization_id,
        via__channel="email",
    )


ROWS: dict[str, list[dict[str, Any]]] = {
    "raw_segment.events": [
        _event("m1", "track", user_id="u1", event="Report Created", context_group_id="acc_a"),
        _event("m2", "track", user_id="u2", event="Report Created"),
        _event("m3", "page", user_id="u3", name="Home"),
        _event("g1", "group", user_id="u3", group_id="acc_b", timestamp="2024-01-01T10:00:00Z"),
        _event("m4", "track", anonymous_id="anon", event="Report Created"),
        _event("m5", "track", user_id="u2", event="Signed In", context_group_id=""),
    ],
    "raw_zendesk.tickets": [
        _ticket(1, 10),
        _ticket(2, None),
        _ticket(3, 11),
        _ticket(4, 99),
        _ticket(5, None, status="deleted"),
    ],
    "raw_zendesk.organizations": [
        _row(id=org, name=f"Org {org}", external_id=external, created_at="2023-06-01T00:00:00Z")
        for org, external in ((10, "acc_a"), (11, None), (12, ""))
    ],
    "raw_stripe.customers": [
        _row(id="cus_1", created=1700000000, metadata__account_id="acc_a"),
        _row(id="cus_2", created=1700000000),
    ],
    "raw_stripe.subscriptions": [
        _row(id=sub, customer=customer, status="active", start_date=1703980800)
        for sub, customer in (("sub_1", "cus_1"), ("sub_2", "cus_2"), ("sub_3", "cus_404"))
    ],
    "raw_file_drop.licenses": [
        _row(
            license_id=lic,
            account_id=account,
            seats=5,
            starts_on="2024-01-01",
            _source_file="l.csv",
        )
        for lic, account in (("LIC-1", "acc_a"), ("LIC-2", None))
    ],
    "raw_typeform.responses": [
        _row(
            response_id=rid,
            submitted_at="2024-01-02T12:00:00Z",
            account_id=acc,
            survey="nps",
            score=s,
        )
        for rid, acc, s in (("r1", "acc_a", 9), ("r2", None, 8), ("r3", None, None))
    ],
    "raw_file_drop.survey_responses": [
        _row(
            response_id="fd1",
            submitted_at="2024-01-02T13:00:00Z",
            user_id="u1",
            survey="csat",
            score=5,
            _source_file="s.csv",
        )
    ],
}

EXPECTED = {
    ("segment", "event", "m2", "no context.groupId and no group call for the user"),
    ("segment", "event", "m5", "no context.groupId and no group call for the user"),
    ("zendesk", "ticket", "2", "ticket has no organization"),
    ("zendesk", "ticket", "3", "organization has no external_id"),
    ("zendesk", "ticket", "4", "organization not loaded"),
    ("zendesk", "organization", "11", "organization has no external_id"),
    ("zendesk", "organization", "12", "organization has no external_id"),
    ("stripe", "customer", "cus_2", "customer has no metadata.account_id"),
    ("stripe", "subscription", "sub_2", "customer has no metadata.account_id"),
    ("stripe", "subscription", "sub_3", "customer not loaded"),
    ("file_drop", "license", "LIC-2", "license has no account_id"),
    ("file_drop", "survey_response", "fd1", "response has no account_id"),
    ("typeform", "survey_response", "r2", "response has no hidden account_id"),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    work = tmp_path_factory.mktemp("unresolved")
    path = work / "warehouse.duckdb"
    create_raw_warehouse(path, ROWS, completed_loads=[LOAD])
    result = run_dbt(
        [
            "build",
            "--select",
            "+unresolved_records",
            "+dim_accounts",
            "--indirect-selection",
            "cautious",
        ],
        path,
        work,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return path, result.stdout


def test_every_unresolved_record_is_listed_with_its_reason(built: tuple[Path, str]) -> None:
    path, _ = built
    rows = query(
        path, "select source, record_type, record_id, reason from marts.unresolved_records"
    )
    assert len(rows) == len(EXPECTED)
    assert set(rows) == EXPECTED


def test_dim_accounts_keeps_its_rules(built: tuple[Path, str]) -> None:
    """Unresolved records add no account; the resolved ones are there as docs/metrics.md says."""
    path, _ = built
    accounts = query(path, "select account_id from marts.dim_accounts order by 1")
    assert accounts == [("acc_a",), ("acc_b",)]


def test_the_count_is_a_warning_that_stops_nothing(built: tuple[Path, str]) -> None:
    _, stdout = built
    assert "has_no_rows_unresolved_records" in stdout
    assert f"Got {len(EXPECTED)} results, configured to warn if != 0" in stdout


def test_postgres_lists_the_same_records(
    postgres_warehouse,  # noqa: ANN001 (conftest's Cluster database)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same raw rows on PostgreSQL give the same table (the same macros, both engines)."""
    from ingestion.settings import dbt_env

    for key, value in dbt_env().items():
        monkeypatch.setenv(key, value)
    create_raw_postgres(postgres_warehouse.url, ROWS, completed_loads=[LOAD])
    only_build = ["--resource-type", "seed", "--resource-type", "model"]
    result = run_dbt(
        ["build", "--select", "+unresolved_records", *only_build], tmp_path / "w.duckdb", tmp_path
    )
    assert result.returncode == 0, result.stdout[-4000:]
    rows = pg_query(
        postgres_warehouse.url,
        "select source, record_type, record_id, reason from marts.unresolved_records",
    )
    assert set(rows) == EXPECTED
