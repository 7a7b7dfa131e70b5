"""The events loader on the Segment Spec's own examples, and on a backlog split into loads."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from demo.events import segment_shape
from demo.world import generate_world
from ingestion import segment
from ingestion.settings import MissingSettingError
from ingestion.sources import BY_NAME
from tests.toolkit.paths import REALDATA as SHARED_REALDATA
from tests.toolkit.warehouse import completed_loads, query, rejects, row_count

REALDATA = SHARED_REALDATA / "segment"


@pytest.mark.skipif(not REALDATA.exists(), reason="../shared/realdata is not present")
def test_spec_examples_are_each_loaded_or_set_aside_with_a_reason(tmp_path: Path, warehouse):
    folder = tmp_path / "events" / "spec"
    folder.mkdir(parents=True)
    shutil.copy(REALDATA / "spec_examples.jsonl", folder / "spec_examples.jsonl")
    lines = (folder / "spec_examples.jsonl").read_text().splitlines()
    segment.load(str(tmp_path / "events"))

    loaded = dict(query(warehouse, "select message_id, type from raw_segment.events"))
    set_aside = {
        int(location.rsplit(":", 1)[1]): reason
        for location, reason in rejects(warehouse, "raw_segment")
    }
    first_type: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        message = json.loads(line)
        message_id = message.get("messageId")
        if number in set_aside:
            assert set_aside[number], f"line {number} set aside without a reason"
            assert not message_id  # the only broken examples are the fragments without an id
            continue
        # Loaded, or a re-delivery of a messageId already taken (the first copy wins).
        assert message_id in loaded, f"line {number} neither loaded nor set aside"
        first_type.setdefault(message_id, message["type"])
    assert set(set_aside) == {1, 4, 6, 8}
    assert all(reason == "messageId is missing" for reason in set_aside.values())
    assert loaded == first_type
    assert query(
        warehouse,
        "select user_id, anonymous_id, timestamp::varchar, received_at::varchar from "
        "raw_segment.events where message_id = 'ajs-f8ca1e4de5024d9430b3928bd8ac6b96'",
    ) == [
        (
            "AiUGstSDIg",
            "23adfd82-aa0f-45a7-a756-24f2a7a4c895",
            "2015-12-12 19:11:01.249+00",
            "2015-12-12 19:11:01.266+00",
        )
    ]
    # Spec fields the loader does not type itself land as their own columns.
    extras = "select message_id, original_timestamp, channel from raw_segment.events order by 1"
    assert query(warehouse, extras) == [
        ("022bb90c-bbac-11e4-8dfc-aa07a5b093db", None, "browser"),
        ("ajs-f8ca1e4de5024d9430b3928bd8ac6b96", "2015-12-12T19:11:01.152Z", None),
    ]


def test_a_backlog_loads_in_several_loads_with_the_same_result(tmp_path: Path, warehouse: Path):
    folder = tmp_path / "events"
    for number in range(5):
        # Each file also repeats the previous file's first message: dedup across loads.
        ids = [f"m{number}-{row}" for row in range(40)] + ([f"m{number - 1}-0"] if number else [])
        text = "".join(
            json.dumps(
                {
                    "type": "track",
                    "messageId": message_id,
                    "timestamp": "2026-01-05T10:00:00Z",
                    "userId": "u1",
                    "event": "Report Created",
                }
            )
            + "\n"
            for message_id in ids
        )
        path = folder / f"part-{number}.jsonl.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress((text + "not json\n").encode(), mtime=0))

    result = BY_NAME["segment"].load(bucket_url=str(folder), max_rows_per_load=60)
    # Summed over the loads. Re-deliveries inside a load are dropped before dlt; the two that
    # cross a load boundary (file 2 -> 1, file 4 -> 3) are appended (staging counts them once).
    assert result.rows == {"events": 202}
    assert result.rejected == 5
    assert query(
        warehouse, "select count(*), count(distinct message_id) from raw_segment.events"
    ) == [(202, 200)]
    # 60 lines a load means two files a load: three loads, each committed.
    assert completed_loads(warehouse, "raw_segment") == 3
    segment.load(str(folder), max_rows_per_load=60)  # nothing new: no new load
    assert row_count(warehouse, "raw_segment._dlt_loads") == 3


def test_missing_bucket_url_names_the_env_var(warehouse: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("SOURCES__SEGMENT__BUCKET_URL", raising=False)
    with pytest.raises(MissingSettingError, match="SOURCES__SEGMENT__BUCKET_URL"):
        segment.segment_events()
    with pytest.raises(Exception, match="SOURCES__SEGMENT__BUCKET_URL"):
        segment.load()


def test_bucket_url_resolves_from_the_env_var(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    folder = tmp_path / "events"
    folder.mkdir()
    (folder / "a.jsonl").write_text(
        '{"type":"page","messageId":"p1","timestamp":"2026-01-05T10:00:00Z","anonymousId":"a"}\n'
    )
    monkeypatch.setenv("SOURCES__SEGMENT__BUCKET_URL", str(folder))
    segment.load()
    assert query(warehouse, "select message_id from raw_segment.events") == [("p1",)]


def test_a_world_in_rudderstack_layout_with_numeric_ids_loads_whole(
    tmp_path: Path, warehouse: Path
):
    """Seed 7's events use RudderStack's fields and some numeric messageIds (demo/events.py)."""
    rng = np.random.default_rng(np.random.SeedSequence(7).spawn(5)[1])
    assert segment_shape(rng) == {"rudderstack": True, "numeric_message_ids": True}
    manifest = generate_world(tmp_path / "world", scale=0.02, seed=7, end_date=date(2025, 6, 30))
    segment.load(str(tmp_path / "world" / "events"))

    # Every copy is in raw (the re-deliveries too); one per messageId is the world's count.
    first_copies = (
        "(select * from raw_segment.events "
        "qualify row_number() over (partition by message_id order by _source_file) = 1)"
    )
    assert row_count(warehouse, first_copies) == manifest["counts"]["events"]
    assert row_count(warehouse, "raw_segment.events") > manifest["counts"]["events"]
    reasons = sorted(r for (r,) in rejects(warehouse, "raw_segment", "reason"))
    assert len(reasons) == 3  # the planted ones: no messageId, bad timestamp, cut-off line
    assert reasons[1] == "messageId is missing"
    numeric, rudder = query(
        warehouse,
        "select count(*) filter (where regexp_matches(message_id, '^[0-9]+$')), "
        f"count(rudder_id) from {first_copies}",
    )[0]
    assert 0.25 < numeric / manifest["counts"]["events"] < 0.4
    assert rudder == manifest["counts"]["events"]
