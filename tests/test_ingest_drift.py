"""Schema drift: a new field lands as a new column; a field that changes type loses nothing.

dlt's documented behaviour for a value that cannot be coerced into its column's type is a
variant column `<column>__v_<type>` (dlt docs, "Schema evolution" / "Variant columns"). The API
loaders yield rows, so dlt's normaliser does it. The events loader yields Arrow, which dlt does
not split into variants (the load would fail on the cast), so the loader itself applies the same
rule to unknown top-level fields: the column keeps its first type, other values go to
`<column>__v_<type>`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from demo.sandbox import Sandbox
from ingestion import segment, zendesk
from tests.toolkit.files import write_events
from tests.toolkit.sandbox import source_kwargs, ticket, write_jsonl
from tests.toolkit.warehouse import column_types, completed_loads, query, row_count


def message(message_id: str, **extra: object) -> dict[str, object]:
    return {
        "type": "track",
        "messageId": message_id,
        "timestamp": "2026-01-05T10:00:00Z",
        "userId": "u1",
        "event": "Report Created",
        **extra,
    }


def test_events_new_field_and_type_change_land_without_loss(tmp_path: Path, warehouse: Path):
    folder = tmp_path / "events"
    write_events(folder / "1.jsonl", [message("m1", seats=5), message("m2")], gz=False)
    segment.load(str(folder))
    assert column_types(warehouse, "raw_segment.events")["seats"] == "BIGINT"

    # Next delivery: seats turns into text (and, in the same batch, a float and an int),
    # and a field never seen before appears.
    write_events(
        folder / "2.jsonl",
        [
            message("m3", seats="ten", planTier="gold"),
            message("m4", seats=7, user_id="legacy-7"),  # clashes with the typed user_id
            message("m5", seats=2.5, planTier={"name": "gold", "level": 2}),
        ],
        gz=False,
    )
    segment.load(str(folder))

    types = column_types(warehouse, "raw_segment.events")
    assert types["seats"] == "BIGINT"
    assert types["seats__v_text"] == "VARCHAR"
    assert types["seats__v_double"] == "DOUBLE"
    assert types["plan_tier"] == "VARCHAR"
    rows = query(
        warehouse,
        "select message_id, seats, seats__v_text, seats__v_double, plan_tier "
        "from raw_segment.events order by 1",
    )
    assert rows == [
        ("m1", 5, None, None, None),
        ("m2", None, None, None, None),
        ("m3", None, "ten", None, "gold"),
        ("m4", 7, None, None, None),
        ("m5", None, None, 2.5, '{"name":"gold","level":2}'),
    ]
    assert query(
        warehouse, "select user_id, user_id_extra from raw_segment.events where message_id = 'm4'"
    ) == [("u1", "legacy-7")]
    assert completed_loads(warehouse, "raw_segment") == 2


@pytest.mark.slow
def test_api_new_field_and_type_change_follow_dlt_variants(sandbox: Sandbox, warehouse: Path):
    kwargs = source_kwargs(sandbox, "zendesk")
    path = sandbox.data_dir / "zendesk" / "tickets.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[0] = ticket(1, "2024-03-10T09:00:00Z", satisfaction_probability=3)
    write_jsonl(path, records)
    zendesk.load(**kwargs)
    assert column_types(warehouse, "raw_zendesk.tickets")["satisfaction_probability"] == "BIGINT"

    # Ticket 1 changes: the field turns to text, and a field never seen before appears.
    records[0] = ticket(1, "2024-04-01T09:00:00Z", satisfaction_probability="high", brand_id=360001)
    write_jsonl(path, records)
    stat = path.stat()

    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    zendesk.load(**kwargs)

    types = column_types(warehouse, "raw_zendesk.tickets")
    assert types["satisfaction_probability"] == "BIGINT"
    assert types["satisfaction_probability__v_text"] == "VARCHAR"
    assert types["brand_id"] == "BIGINT"
    assert query(
        warehouse,
        "select satisfaction_probability, satisfaction_probability__v_text, brand_id "
        "from raw_zendesk.tickets where id = 1",
    ) == [(None, "high", 360001)]
    assert row_count(warehouse, "raw_zendesk.tickets") == 5
