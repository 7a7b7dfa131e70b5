"""Whole Segment files parsed in C by an in-memory DuckDB, for files without an unusual line.

The per-line Python path (`helpers.read_lines`) defines what the raw table holds. This module
only answers for a file whose every line it can show that path would load, and load as the
same values; for any other file it answers None and the caller reads the file line by line.
So bad lines (and anything unusual) keep their exact handling, and no value changes.

DuckDB is used purely as a parser: an in-memory connection that reads the event file, never
the warehouse. It decompresses the file and splits it into lines once, then parses each line
once (`from_json`) into the fields, with the checks below on the raw line beside it. What
"the same values" rests on, each guarded below and checked by the parity tests in
tests/segment/test_segment_loader.py:

- DuckDB's JSON parser (yyjson) and orjson agree on which lines are valid JSON, except for
  trailing commas and NaN/Infinity, which DuckDB accepts: a line with those is unusual.
- yyjson's compact text equals `orjson.dumps` for strings without escapes, integers below
  1e16 and floats written without exponent from 0.001 up to 1e16: a line with a backslash, a
  long digit run, an exponent or a tiny float is unusual.
- Duplicate top-level keys (orjson keeps the last value, `from_json` the first): a file with
  such a line is read line by line. Not covered: a key repeated inside a nested object
  (properties, traits, context), which RFC 8259 allows but no Segment library writes, keeps
  both copies in the JSON text here where orjson keeps the last one.
- Timestamps: the plain ISO-8601 shapes of `_TIMESTAMP` parse alike in DuckDB (session time
  zone UTC) and in `datetime.fromisoformat`; any other shape is unusual, and so is a time
  outside the plausible bounds (`ingestion/plausibility.py`), which the per-line path sets
  aside. An absent `timestamp` (the per-line path sets the line aside) and a
  `context.groupId` that is neither a string nor a small integer are unusual too.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlparse

import duckdb
import fsspec
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.plausibility import timestamp_bounds
from ingestion.segment.settings import (
    COLUMNAR_MAX_FILE_BYTES,
    JSON_FIELDS,
    KNOWN_FIELDS,
    TEXT_FIELDS,
    TIMESTAMP_FIELDS,
)

Bounds = tuple[datetime, datetime]
_STRING_VALUED = frozenset(TEXT_FIELDS) | frozenset(TIMESTAMP_FIELDS)
# A line matching this might be read or written differently by DuckDB than by orjson. A false
# alarm (the pattern inside a string) only costs speed: the file is read line by line.
_UNUSUAL = (
    r"[\\\x00-\x1f\x7f]"  # escapes, control characters
    r"|,\s*[\]}]"  # trailing comma
    r"|[:,\[]\s*-?(\d{16,}|\d+(\.\d+)?[eE]|0\.000|(?i:nan|inf))"  # big, exponent, tiny, NaN
    # an id or timestamp field (at any depth: a false alarm is harmless) that is no string
    r'|"(' + "|".join(sorted(_STRING_VALUED)) + r')"\s*:\s*[^"n\s]'
)
_TIMESTAMP = (
    r"^(19|20|21)\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[T ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?$"
)
# The dlt type `helpers._dlt_type` gives a value, by the first character of its JSON text.
# (Numbers with an exponent never get here: see _UNUSUAL.)
KIND_SQL = (
    "case when {x} is null then null when {x}[1] = '\"' then 'string' "
    "when {x}[1] in ('{{', '[') then 'json' "
    "when {x} in ('true', 'false') then 'bool' "
    "when contains({x}, '.') then 'double' else 'bigint' end"
)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _kind(expression: str) -> str:
    return KIND_SQL.format(x=expression)


class ColumnarParser:
    """Parses event files with one in-memory DuckDB connection (never the warehouse)."""

    def __init__(self, threads: int | None = None) -> None:
        config: dict[str, str | bool | int | float | list[str]] = {}
        if threads is not None:
            config["threads"] = threads
        self._con = duckdb.connect(":memory:", config=config)
        self._con.execute("set TimeZone = 'UTC'")
        self._protocols: set[str] = set()

    def close(self) -> None:
        """Close the in-memory DuckDB."""
        self._con.close()

    def parse(
        self, file_url: str, fs_client: Any = None, bounds: Bounds | None = None
    ) -> ParsedFile | None:
        """Typed columns of every line of `file_url`, or None if it must be read line by line.

        A file larger than `COLUMNAR_MAX_FILE_BYTES` is left to the per-line path too, which
        streams it: this path holds a whole file's columns in memory. `bounds` are the
        plausible event times: a file with an event outside them is read line by line, which
        sets that event aside.
        """
        try:
            if fs_client is not None and fs_client.size(file_url) > COLUMNAR_MAX_FILE_BYTES:
                return None
            path = self._duckdb_path(file_url, fs_client)
            return self._parse(path, bounds or timestamp_bounds())
        except Exception:  # noqa: BLE001 - a malformed line, or a file DuckDB cannot read:
            return None  # the per-line path reads it, and is always right

    def _duckdb_path(self, file_url: str, fs_client: Any) -> str:
        parsed = urlparse(file_url)
        if parsed.scheme in ("", "file"):
            return unquote(parsed.path) if parsed.scheme else file_url
        if parsed.scheme not in self._protocols:
            self._con.register_filesystem(fs_client or fsspec.filesystem(parsed.scheme))
            self._protocols.add(parsed.scheme)
        return file_url

    def _parse(self, path: str, bounds: Bounds) -> ParsedFile | None:
        # The file is decompressed and split into lines once; the queries below read them from
        # memory. The first looks at each distinct list of top-level keys (a few per file) for
        # the unknown fields, and for a key repeated in a line: `from_json` would keep its
        # first copy, orjson the last, so such a file is read line by line.
        self._con.execute(
            f"create or replace temp table lines as select json::varchar as line, "
            f"json_keys(json) as keys "
            f"from read_ndjson_objects({_quote(path)}, compression = 'auto_detect')"
        )
        try:
            known = ", ".join(_quote(key) for key in sorted(KNOWN_FIELDS))
            [(extra, repeated)] = self._con.execute(
                f"select list_distinct(flatten(list(list_filter(keys, lambda k: k not in "
                f"({known}))))), bool_or(list_unique(keys) < len(keys)) "
                f"from (select distinct keys from lines)"
            ).fetchall()
            if repeated is not False:  # a repeated key, or no line at all
                return None
            extra_keys = sorted(extra)
            result = self._query(extra_keys, bounds)
        finally:
            self._con.execute("drop table if exists lines")
        if not pc.all(result["ok"]).as_py():
            return None
        return ParsedFile(result.drop_columns(["ok"]), extra_keys)

    def _query(self, extra_keys: list[str], bounds: Bounds) -> pa.Table:
        """Each line's fields, as JSON text re-written by yyjson, beside the checks on the line.

        `from_json` parses a line once into the fields asked for; the raw line shows what the
        parser smooths over (trailing commas, NaN, escapes, number spellings) and the order of
        its keys.
        """
        fields = [*TEXT_FIELDS, *TIMESTAMP_FIELDS, *JSON_FIELDS, *extra_keys]
        if len({key.lower() for key in fields}) < len(fields):  # struct names ignore case
            raise duckdb.InvalidInputException("field names differ only by case")
        aliases = {key: f"f{index}" for index, key in enumerate(fields)}
        structure = json.dumps(
            {key: "VARCHAR" if key in _STRING_VALUED else "JSON" for key in fields}
        )
        unpack = ", ".join(
            f"struct_extract(parsed, {_quote(key)})::varchar as {aliases[key]}" for key in fields
        )
        positions = "".join(
            f"list_position(keys, {_quote(key)}) as x{index}__pos, "
            for index, key in enumerate(extra_keys)
        )
        outputs = _typed_columns(aliases, extra_keys, bounds)
        precomputed = _PRECOMPUTED.format(
            context=aliases["context"], **{key: aliases[key] for key in TIMESTAMP_FIELDS}
        )
        return self._con.sql(
            f"""
            with parsed as (
                select line, keys, from_json(line, {_quote(structure)}) as parsed from lines
            ),
            unpacked as (
                select line, keys, {unpack} from parsed
            ),
            fields as (
                select *, {positions} {precomputed}
                    not regexp_matches(line, {_quote(_UNUSUAL)}) as plain
                from unpacked
            )
            select {", ".join(outputs)} from fields
            """
        ).to_arrow_table()


_PRECOMPUTED = (
    "try_cast({timestamp} as timestamptz) as ts_timestamp, "
    "try_cast({receivedAt} as timestamptz) as ts_receivedAt, "
    "try_cast({sentAt} as timestamptz) as ts_sentAt, "
    "json_extract({context}, '$.groupId')::varchar as context_group, "
)


def _typed_columns(aliases: dict[str, str], extra_keys: list[str], bounds: Bounds) -> list[str]:
    """SQL for the output columns, the last one `ok`: the line is loaded as is (module doc).

    Ids and timestamps come as text (`_STRING_VALUED` vouched they are strings or null).
    """
    checks: list[str] = ["plain"]
    outputs: list[str] = []
    for key, column in TEXT_FIELDS.items():
        # spaces only is no id, as in the per-line path (`helpers._text`)
        outputs.append(f"case when trim({aliases[key]}) <> '' then {aliases[key]} end as {column}")
    # What EventBatch.add rejects: such a file goes to the per-line path, which says why.
    checks.append("message_id is not null")
    checks.append("type is not null")
    checks.append("(user_id is not null or anonymous_id is not null)")
    for key, column in TIMESTAMP_FIELDS.items():
        text = aliases[key]
        parsed = f"ts_{key}"
        plain = f"(regexp_matches({text}, {_quote(_TIMESTAMP)}) and {parsed} is not null)"
        if key == "timestamp":
            earliest, latest = (_quote(bound.isoformat()) for bound in bounds)
            checks.append(plain)
            checks.append(f"{parsed} between {earliest}::timestamptz and {latest}::timestamptz")
        else:
            checks.append(f"({text} is null or {text} = '' or {plain})")
        outputs.append(f"case when {text} <> '' then {parsed} end as {column}")
    context = aliases["context"]
    group = "context_group"
    is_object = f"{context}[1] = '{{'"
    checks.append(
        f"({context} is null or not {is_object} or {group} is null or {group} = 'null' or "
        f"{group}[1] = '\"' or {_kind(group)} = 'bigint')"
    )
    group_text = (
        f"case when {group}[1] = '\"' then substr({group}, 2, length({group}) - 2) else {group} end"
    )
    outputs.append(
        f"case when {is_object} and {group} is not null and {group} <> 'null' "
        f"and trim({group_text}) <> '' then {group_text} end as context_group_id"
    )
    for key, column in JSON_FIELDS.items():
        outputs.append(f"{aliases[key]} as {column}")
    for index, key in enumerate(extra_keys):
        alias = aliases[key]
        outputs.append(f"x{index}__pos")
        outputs.append(f"{_kind(alias)} as x{index}__kind")
        outputs.append(
            f"case when {alias}[1] = '\"' then substr({alias}, 2, length({alias}) - 2) "
            f"else {alias} end as x{index}__value"
        )
    outputs.append(f"coalesce({' and '.join(checks)}, false) as ok")
    return outputs


class ParsedFile:
    """The typed lines of one file, in file order, before deduplication."""

    def __init__(self, table: pa.Table, extra_keys: list[str]) -> None:
        self.table = table
        self.extra_keys = extra_keys


class Prefetcher:
    """Parses the next files in worker threads while the caller works on the current one.

    DuckDB reads one gzip file on one thread and releases the GIL meanwhile, so a few files
    parsed side by side (each worker with its own in-memory DuckDB) use the cores that dlt's
    extract, in the caller's thread, leaves idle.
    """

    def __init__(
        self, files: list[tuple[str, Any]], bounds: Bounds, workers: int | None = None
    ) -> None:
        self._files = files
        self._bounds = bounds
        self._workers = workers or min(4, os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="segment-parse")
        self._futures: dict[int, Future[ParsedFile | None]] = {}
        self._local = threading.local()
        self._parsers: list[ColumnarParser] = []
        self._lock = threading.Lock()

    def get(self, index: int) -> ParsedFile | None:
        """The parse of file `index` (None: read it line by line); starts the next ones.

        While the caller works on file `index`, every worker parses one of the files after it:
        the workers never wait for the caller (at most `workers` files are parsed ahead).
        """
        for ahead in range(index, min(index + 1 + self._workers, len(self._files))):
            if ahead not in self._futures:
                self._futures[ahead] = self._pool.submit(self._parse, *self._files[ahead])
        return self._futures.pop(index).result()

    def _parse(self, file_url: str, fs_client: Any) -> ParsedFile | None:
        parser = getattr(self._local, "parser", None)
        if parser is None:
            parser = self._local.parser = ColumnarParser(threads=1)
            with self._lock:
                self._parsers.append(parser)
        return parser.parse(file_url, fs_client, self._bounds)

    def close(self) -> None:
        """Stop the workers (a parse under way finishes) and close their DuckDBs."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        for parser in self._parsers:
            parser.close()
