"""Catalogue of bad file input: every kind loads its good records and sets aside the rest.

One table of cases across the Segment events folder and the two CSV drops (surveys,
licenses). Each case is a folder of files; all cases of a source sit side by side under one
root and are loaded together once (the way a real drop folder holds good and bad files
together, and so that one bad file can be seen not to stop the others), into one temporary
DuckDB warehouse. Each case then checks, in its own folder only: the reasons its records were
set aside with (one reject per expected reason substring) and the exact ids that loaded.
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingestion import file_drop, segment
from tests.toolkit.warehouse import query


@dataclass(frozen=True)
class Link:
    """A symlink to `target` (relative to the case folder, or absolute)."""

    target: str


@dataclass
class Case:
    """One kind of bad (or tricky) input and what the loaders must make of it."""

    kind: str
    source: str  # segment | surveys | licenses
    files: dict[str, bytes | Link]
    rejects: list[str] = field(default_factory=list)  # one reason substring per reject
    loaded: set[str] = field(default_factory=set)  # message/response/license ids
    values: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> column -> value


FUTURE = (datetime.now(UTC) + timedelta(days=2)).isoformat()


def event(kind: str, number: int, **fields: Any) -> dict[str, Any]:
    """A valid track event of case `kind`, its messageId unique across the catalogue."""
    message: dict[str, Any] = {
        "type": "track",
        "messageId": f"{kind}-m{number}",
        "timestamp": "2026-01-05T10:00:00Z",
        "userId": "u1",
        "event": "Report Created",
    }
    message.update(fields)
    return {key: value for key, value in message.items() if value is not DROP}


DROP = object()  # a field to leave out of `event`


def jsonl(*lines: Any) -> bytes:
    return "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines).encode()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def truncated_gzip(kind: str) -> tuple[bytes, set[str]]:
    """A gzip cut short, and the messageIds of the whole lines before the cut."""
    data = jsonl(*[event(kind, i, properties={"pad": "x" * (i % 50)}) for i in range(400)])
    whole = gzip.compress(data, mtime=0)
    cut = whole[: len(whole) * 6 // 10]
    readable = zlib.decompressobj(wbits=31).decompress(cut)
    complete = readable[: readable.rfind(b"\n") + 1]
    ids = {json.loads(line)["messageId"] for line in complete.splitlines()}
    return cut, ids


def segment_cases() -> Iterator[Case]:
    def case(kind: str, lines: list[Any], rejects: list[str], loaded: list[int], **kw: Any) -> Case:
        body = jsonl(*lines)
        return Case(
            kind,
            "segment",
            {"part-0.jsonl.gz": gz(body)},
            rejects,
            {f"{kind}-m{n}" for n in loaded},
            **kw,
        )

    k = "seg_good"
    yield case(k, [event(k, 1), event(k, 2)], [], [1, 2])
    k = "seg_malformed_json"
    yield case(k, [event(k, 1), "{not json", event(k, 2)], ["malformed JSON"], [1, 2])
    k = "seg_line_not_object"
    yield case(k, ["[1, 2]", event(k, 1)], ["not a JSON object"], [1])
    k = "seg_missing_message_id"
    yield case(k, [event(k, 1, messageId=DROP), event(k, 2)], ["messageId is missing"], [2])
    k = "seg_missing_type"
    yield case(k, [event(k, 1, type=DROP), event(k, 2)], ["type is missing"], [2])
    k = "seg_no_user_or_anonymous"
    yield case(k, [event(k, 1, userId=DROP), event(k, 2)], ["neither userId nor anonymousId"], [2])
    k = "seg_spaces_only_message_id"  # staging trims ids: set aside here, not lost there
    yield case(k, [event(k, 1, messageId="  "), event(k, 2)], ["messageId is missing"], [2])
    k = "seg_spaces_only_user_id"
    yield case(k, [event(k, 1, userId=" "), event(k, 2)], ["neither userId nor anonymousId"], [2])
    k = "seg_bad_timestamp"
    yield case(
        k, [event(k, 1, timestamp="05/01/2026 10:00"), event(k, 2)], ["not an ISO-8601"], [2]
    )
    k = "seg_timestamp_1970"
    yield case(
        k,
        [event(k, 1, timestamp="1970-01-01T00:00:00Z"), event(k, 2)],
        ["is before 2000-01-01"],
        [2],
    )
    k = "seg_timestamp_future"
    yield case(k, [event(k, 1, timestamp=FUTURE), event(k, 2)], ["is in the future"], [2])
    k = "seg_no_timestamp_at_all"
    yield case(k, [event(k, 1, timestamp=DROP), event(k, 2)], ["timestamp is missing"], [2])
    k = "seg_original_timestamp_only"  # only `timestamp` decides the day (docs/metrics.md)
    yield case(
        k,
        [event(k, 1, timestamp=DROP, originalTimestamp="2026-01-05T09:00:00Z"), event(k, 2)],
        ["timestamp is missing"],
        [2],
    )
    k = "seg_bad_received_at"
    yield case(k, [event(k, 1, receivedAt="soon"), event(k, 2)], ["receivedAt is not"], [2])
    k = "seg_context_group_object"
    yield case(
        k,
        [event(k, 1, context={"groupId": {"id": "acc_1"}}), event(k, 2)],
        ["context.groupId: expected text or a number, got a JSON object"],
        [2],
    )
    k = "seg_context_group_array"
    yield case(
        k, [event(k, 1, context={"groupId": ["acc_1"]}), event(k, 2)], ["got a JSON array"], [2]
    )
    k = "seg_user_id_object"
    yield case(k, [event(k, 1, userId={"id": 1}), event(k, 2)], ["userId: expected text"], [2])
    k = "seg_message_id_array"
    yield case(k, [event(k, 1, messageId=["x"]), event(k, 2)], ["messageId: expected text"], [2])
    k = "seg_group_id_boolean"
    yield case(
        k,
        [event(k, 1, type="group", groupId=True), event(k, 2)],
        ["groupId: expected text or a number, got a boolean"],
        [2],
    )
    k = "seg_numeric_ids"
    yield case(
        k,
        [event(k, 1, userId=123, context={"groupId": 456}), event(k, 2, userId=789.0)],
        [],
        [1, 2],
        values={
            f"{k}-m1": {"user_id": "123", "context_group_id": "456"},
            f"{k}-m2": {"user_id": "789"},
        },
    )
    k = "seg_group_call_numeric_group"
    yield case(
        k,
        [event(k, 1, type="group", event=DROP, groupId=42, traits={"name": "Acme"})],
        [],
        [1],
        values={f"{k}-m1": {"group_id": "42"}},
    )
    k = "seg_rudderstack_layout"
    yield case(
        k,
        [
            event(
                k,
                1,
                anonymousId="anon-1",
                channel="web",
                rudderId="8f1c",
                originalTimestamp="2026-01-05T09:59:59Z",
                sentAt="2026-01-05T10:00:00.100Z",
                receivedAt="2026-01-05T10:00:00.200Z",
                request_ip="10.0.0.1",
                integrations={"All": True},
                context={"library": {"name": "RudderLabs JavaScript SDK"}, "traits": {}},
            )
        ],
        [],
        [1],
    )
    k = "seg_bad_utf8_line"
    body = jsonl(event(k, 1)) + b'{"type":"track","userId":"\xff\xfe"}\n' + jsonl(event(k, 2))
    yield Case(k, "segment", {"a.jsonl": body}, ["not valid UTF-8"], {f"{k}-m1", f"{k}-m2"})
    k = "seg_nan_in_properties"
    nan_line = json.dumps(event(k, 1)).replace('"u1"', '"u1", "properties": {"v": NaN}')
    yield case(k, [nan_line, event(k, 2)], ["malformed JSON"], [2])
    k = "seg_duplicate_message"
    yield case(k, [event(k, 1), event(k, 1, userId="again"), event(k, 2)], [], [1, 2])
    k = "seg_blank_and_crlf_lines"
    body = b"\r\n   \r\n" + jsonl(event(k, 1)).replace(b"\n", b"\r\n") + b"\n\n"
    yield Case(k, "segment", {"a.jsonl": body}, [], {f"{k}-m1"})
    k = "seg_utf8_bom"
    yield Case(
        k,
        "segment",
        {"a.jsonl": codecs.BOM_UTF8 + jsonl(event(k, 1), event(k, 2))},
        [],
        {f"{k}-m1", f"{k}-m2"},
    )
    k = "seg_empty_file"
    yield Case(k, "segment", {"a.jsonl": b"", "b.jsonl.gz": gz(b"")}, [], set())
    k = "seg_truncated_gzip"
    cut, ids = truncated_gzip(k)
    yield Case(k, "segment", {"a.jsonl.gz": cut}, ["cannot be read past line"], ids)
    k = "seg_not_gzip"
    yield Case(
        k,
        "segment",
        {"a.jsonl.gz": jsonl(event(k, 1)), "b.jsonl": jsonl(event(k, 2))},
        ["Not a gzipped file"],
        {f"{k}-m2"},
    )
    k = "seg_corrupt_gzip"
    whole = gz(jsonl(*[event(k, i) for i in range(50)]))
    corrupt = whole[:20] + bytes(b ^ 0x5A for b in whole[20:-8]) + whole[-8:]
    yield Case(
        k,
        "segment",
        {"a.jsonl.gz": corrupt, "b.jsonl": jsonl(event(k, 99))},
        ["cannot be read"],
        {f"{k}-m99"},
    )
    k = "seg_dangling_symlink"
    yield Case(
        k,
        "segment",
        {"gone.jsonl": Link("/nonexistent/events.jsonl"), "ok.jsonl": jsonl(event(k, 1))},
        ["No such file or directory"],
        {f"{k}-m1"},
    )
    k = "seg_symlink_loop"
    yield Case(
        k,
        "segment",
        {
            "a.jsonl": Link("b.jsonl"),
            "b.jsonl": Link("a.jsonl"),
            "sub/up": Link(".."),  # a folder loop: walked once
            "ok.jsonl": jsonl(event(k, 1)),
        },
        ["Too many levels of symbolic links"] * 2,
        {f"{k}-m1"},
    )


SURVEY_HEADER = "response_id,submitted_at,user_id,account_id,survey,score,comment\n"


def survey(kind: str, number: int, comment: str = "fine", **fields: str) -> str:
    row = {
        "submitted_at": "2026-01-05T10:00:00Z",
        "user_id": "u1",
        "account_id": "acc_1",
        "survey": "nps",
        "score": "9",
        "comment": comment,
        **fields,
    }
    return ",".join([f"{kind}-r{number}", *row.values()]) + "\n"


def survey_cases() -> Iterator[Case]:
    def case(
        kind: str, text: str | bytes, rejects: list[str], loaded: list[int], **kw: Any
    ) -> Case:
        data = text.encode() if isinstance(text, str) else text
        return Case(
            kind, "surveys", {"drop.csv": data}, rejects, {f"{kind}-r{n}" for n in loaded}, **kw
        )

    k = "csv_survey_good"
    yield case(k, SURVEY_HEADER + survey(k, 1) + survey(k, 2, survey="csat", score="5"), [], [1, 2])
    k = "csv_latin1"
    text = SURVEY_HEADER + survey(k, 1, comment="très bien café") + survey(k, 2)
    yield case(
        k, text.encode("cp1252"), [], [1, 2], values={f"{k}-r1": {"comment": "très bien café"}}
    )
    k = "csv_utf16_bom"
    text = SURVEY_HEADER + survey(k, 1, comment="ça va") + survey(k, 2)
    yield case(k, text.encode("utf-16"), [], [1, 2], values={f"{k}-r1": {"comment": "ça va"}})
    k = "csv_utf8_bom"
    yield case(k, codecs.BOM_UTF8 + (SURVEY_HEADER + survey(k, 1)).encode(), [], [1])
    k = "csv_utf16_without_bom"
    yield case(k, (SURVEY_HEADER + survey(k, 1)).encode("utf-16-le"), ["NUL bytes"], [])
    k = "csv_neither_utf8_nor_cp1252"
    yield case(k, SURVEY_HEADER.encode() + b"x-r1,\x81\x8d\x90,u1\n", ["neither UTF-8"], [])
    k = "csv_unterminated_quote_midfile"
    text = SURVEY_HEADER + survey(k, 1) + survey(k, 2, comment='"never closed')
    yield case(k, text + survey(k, 3) + survey(k, 4), ["a quoted field is never closed"], [1, 3, 4])
    k = "csv_stray_quotes_swallow_rows"  # a quote opened on row 2, closed by chance on row 4
    text = SURVEY_HEADER + survey(k, 1) + survey(k, 2, comment='"opened') + survey(k, 3)
    text += survey(k, 4, comment='closed"')
    yield case(
        k, text, ["a quote is not closed"], [1, 3, 4], values={f"{k}-r4": {"comment": 'closed"'}}
    )
    k = "csv_unterminated_quote_last_row"
    text = SURVEY_HEADER + survey(k, 1) + survey(k, 2, comment='"never closed')
    yield case(k, text, ["a quoted field is never closed"], [1])
    k = "csv_text_after_closing_quote"
    text = SURVEY_HEADER + survey(k, 1, comment='"ok"trailing') + survey(k, 2)
    yield case(k, text, ["not valid CSV"], [2])
    k = "csv_multiline_comment_is_fine"
    text = (
        SURVEY_HEADER
        + survey(k, 1, comment='"line one\nline two, still the comment"')
        + survey(k, 2)
    )
    yield case(
        k,
        text,
        [],
        [1, 2],
        values={f"{k}-r1": {"comment": "line one\nline two, still the comment"}},
    )
    k = "csv_multiline_comment_with_a_line_of_commas"  # a line of it splits like a row
    comment = "Issues:\na, b, c, d, e, f, g"
    text = SURVEY_HEADER + survey(k, 1, comment=f'"{comment}"') + survey(k, 2)
    yield case(k, text, [], [1, 2], values={f"{k}-r1": {"comment": comment}})
    k = "csv_lowercase_z_offset"  # RFC 3339 allows "z", as the events loader reads it
    text = SURVEY_HEADER + survey(k, 1, submitted_at="2026-01-05T10:00:00z")
    yield case(k, text, [], [1])
    k = "csv_too_few_fields"
    yield case(
        k,
        SURVEY_HEADER + f"{k}-r1,2026-01-05T10:00:00Z,u1\n" + survey(k, 2),
        ["row has 3 fields"],
        [2],
    )
    k = "csv_too_many_fields"
    yield case(
        k,
        SURVEY_HEADER + survey(k, 1).rstrip("\n") + ",surplus\n" + survey(k, 2),
        ["row has 8 fields"],
        [2],
    )
    k = "csv_extra_column_kept"
    text = SURVEY_HEADER.rstrip("\n") + ",Region\n" + survey(k, 1).rstrip("\n") + ",emea\n"
    yield case(k, text, [], [1], values={f"{k}-r1": {"region": "emea"}})
    k = "csv_repeated_header_column"
    text = SURVEY_HEADER.rstrip("\n") + ",score\n" + survey(k, 1).rstrip("\n") + ",3\n"
    yield case(k, text, ["header repeats columns ['score']"], [])
    k = "csv_extra_column_clashing_after_naming"
    text = SURVEY_HEADER.rstrip("\n") + ",Account ID\n" + survey(k, 1).rstrip("\n") + ",crm-9\n"
    yield case(
        k,
        text,
        [],
        [1],
        values={f"{k}-r1": {"account_id": "acc_1", "account_id_extra": "crm-9"}},
    )
    k = "csv_missing_header_column"
    yield case(
        k,
        "response_id,submitted_at,score\nx,2026-01-05T10:00:00Z,9\n",
        ["header lacks columns"],
        [],
    )
    k = "csv_score_out_of_range"
    yield case(
        k, SURVEY_HEADER + survey(k, 1, score="11") + survey(k, 2), ["nps score must be 0-10"], [2]
    )
    k = "csv_unknown_survey"
    yield case(
        k, SURVEY_HEADER + survey(k, 1, survey="ces") + survey(k, 2), ["survey must be one of"], [2]
    )
    k = "csv_submitted_1970"
    yield case(
        k,
        SURVEY_HEADER + survey(k, 1, submitted_at="1970-01-01T00:00:00Z") + survey(k, 2),
        ["is before"],
        [2],
    )
    k = "csv_submitted_future"
    yield case(
        k, SURVEY_HEADER + survey(k, 1, submitted_at=FUTURE) + survey(k, 2), ["in the future"], [2]
    )
    k = "csv_blank_lines_and_crlf"
    text = (SURVEY_HEADER + "\n" + survey(k, 1) + "\n\n" + survey(k, 2)).replace("\n", "\r\n")
    yield case(k, text, [], [1, 2])
    k = "csv_header_only"
    yield case(k, SURVEY_HEADER, [], [])
    k = "csv_dangling_symlink"
    yield Case(
        k,
        "surveys",
        {
            "gone.csv": Link("/nonexistent/drop.csv"),
            "ok.csv": (SURVEY_HEADER + survey(k, 1)).encode(),
        },
        ["file cannot be read"],
        {f"{k}-r1"},
    )


LICENSE_HEADER = (
    "license_id,account_id,product,plan,seats,starts_on,ends_on,annual_price,currency\n"
)


def license_row(
    kind: str, number: int, seats: str = "10", price: str = "1200.00", ends: str = ""
) -> str:
    return f"{kind}-L{number},acc_1,Core,growth,{seats},2026-01-01,{ends},{price},usd\n"


def license_cases() -> Iterator[Case]:
    def case(kind: str, rows: list[str], rejects: list[str], loaded: list[int], **kw: Any) -> Case:
        data = (LICENSE_HEADER + "".join(rows)).encode()
        return Case(
            kind, "licenses", {"l.csv": data}, rejects, {f"{kind}-L{n}" for n in loaded}, **kw
        )

    k = "lic_good"
    yield case(k, [license_row(k, 1), license_row(k, 2, ends="2026-12-31")], [], [1, 2])
    for kind, price, reason in [
        ("lic_price_nan", "NaN", "not a finite number"),
        ("lic_price_infinity", "Infinity", "not a finite number"),
        ("lic_price_negative", "-5", "annual_price: -5.0 is negative"),
        ("lic_price_text", "free", "annual_price is not a number"),
    ]:
        yield case(kind, [license_row(kind, 1, price=price), license_row(kind, 2)], [reason], [2])
    for kind, seats, reason in [
        ("lic_seats_1e20", "100000000000000000000", "larger than the plausible maximum"),
        ("lic_seats_negative", "-3", "seats must not be negative"),
        ("lic_seats_fraction", "2.5", "seats is not an integer"),
    ]:
        yield case(kind, [license_row(kind, 1, seats=seats), license_row(kind, 2)], [reason], [2])
    k = "lic_ends_before_start"
    yield case(
        k, [license_row(k, 1, ends="2025-01-01"), license_row(k, 2)], ["is before starts_on"], [2]
    )
    k = "lic_bad_date"
    yield case(
        k,
        [license_row(k, 1, ends="31/12/2026"), license_row(k, 2)],
        ["ends_on is not an ISO date"],
        [2],
    )
    k = "lic_extra_columns_kept"
    data = (
        LICENSE_HEADER.rstrip("\n") + ",sales_rep,\n" + license_row(k, 1).rstrip("\n") + ",ana,x\n"
    ).encode()
    yield Case(
        k,
        "licenses",
        {"l.csv": data},
        [],
        {f"{k}-L1"},
        {f"{k}-L1": {"sales_rep": "ana", "column_11": "x"}},
    )


CASES = [*segment_cases(), *survey_cases(), *license_cases()]
TABLES = {
    "segment": ("raw_segment", "events", "message_id"),
    "surveys": ("raw_file_drop", "survey_responses", "response_id"),
    "licenses": ("raw_file_drop", "licenses", "license_id"),
}


def test_the_catalogue_is_large_enough():
    kinds = [case.kind for case in CASES]
    assert len(set(kinds)) == len(kinds)
    assert len(kinds) >= 35
    assert {case.source for case in CASES} == set(TABLES)


def _write(folder: Path, files: dict[str, bytes | Link]) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Link):
            os.symlink(content.target, path)
        else:
            path.write_bytes(content)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """All cases written under one root per source, loaded once; the warehouse file."""
    root = tmp_path_factory.mktemp("catalogue")
    for case in CASES:
        _write(root / case.source / case.kind, case.files)
    with pytest.MonkeyPatch.context() as patch:
        warehouse = root / "warehouse.duckdb"
        patch.setenv("WAREHOUSE_PATH", str(warehouse))
        patch.setenv("RUNTIME__LOG_LEVEL", "ERROR")
        segment.load(str(root / "segment"))
        file_drop.load(surveys_url=str(root / "surveys"), licenses_url=str(root / "licenses"))
        yield warehouse


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.kind)
def test_bad_input_is_set_aside_and_good_input_loads(case: Case, loaded: Path):
    dataset, table, key = TABLES[case.source]
    where = f"'%/{case.source}/{case.kind}/%'"
    rejects = [
        reason
        for (reason,) in query(
            loaded, f"select reason from {dataset}.rejected_records where location like {where}"
        )
    ]
    unmatched = list(rejects)
    for expected in case.rejects:
        match = next((reason for reason in unmatched if expected in reason), None)
        assert match is not None, f"no reject with {expected!r} among {rejects}"
        unmatched.remove(match)
    assert unmatched == [], f"unexpected rejects: {unmatched}"

    with duckdb.connect(str(loaded), read_only=True) as con:
        cursor = con.execute(f"select * from {dataset}.{table} where _source_file like {where}")
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    records = {row[key]: row for row in rows}
    assert len(records) == len(rows)
    assert set(records) == case.loaded
    for record_id, expected_values in case.values.items():
        for column, value in expected_values.items():
            assert records[record_id][column] == value, (record_id, column)
