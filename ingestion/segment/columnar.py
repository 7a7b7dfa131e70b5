"""Whole Segment files parsed in C by an in-memory DuckDB, for files without an unusual line.

The per-line Python path (`helpers.read_lines`) defines what the raw table holds. This module
only answers for a file whose every line it can show that path would load, and load as the
same values; for any other file it answers None and the caller reads the file line by line.
So bad lines (and anything unusual) keep their exact handling, and no value changes.

DuckDB is used purely as a parser: an in-memory connection that reads the event file, never
the warehouse. In one pass it decompresses the file into raw lines (`read_csv` of one text
column: no JSON parse) and parses each line once (`json_extract` of a list of paths) into the
fields, with the checks below done as vectorised SQL on the line and on the fields beside it.
What "the same values" rests on, each guarded below and checked by the parity tests in
tests/segment/test_segment_loader.py and test_segment_fastpath.py:

- DuckDB's JSON parser (yyjson) and orjson agree on which lines are valid JSON (yyjson also
  rejects raw control characters in strings), except for trailing commas and NaN/Infinity,
  which DuckDB accepts: a line with a trailing comma or a NaN/Infinity spelling (both looked
  for on the raw line) is unusual.
- yyjson's compact text equals `orjson.dumps` for strings without escapes, integers below
  1e16 and floats without exponent from 0.001 up to 1e16: a line with a backslash or a DEL
  is unusual, and so is a number on the raw line (after a colon or a comma, spaces, and the
  brackets of arrays) with an exponent, 16 or more digits before its point, or below 0.001.
  Any other number is an integer below 1e15, which both write as sent, or a float from 0.001
  up to 1e15 (rounding may reach it), which both write as its shortest digits without
  exponent (yyjson up to 1e21, orjson up to 1e16). Ids and timestamps must be strings.
- Duplicate top-level keys (orjson keeps the last value, `json_extract` the first): a file with
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

import os
import threading
from collections.abc import Iterable
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
    COLUMNAR_GROUP_BYTES,
    COLUMNAR_MAX_FILE_BYTES,
    JSON_FIELDS,
    KNOWN_FIELDS,
    TEXT_FIELDS,
    TIMESTAMP_FIELDS,
)

Bounds = tuple[datetime, datetime]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_STRING_VALUED = frozenset(TEXT_FIELDS) | frozenset(TIMESTAMP_FIELDS)
# A number orjson may write apart from yyjson: 16 or more digits before the point, an exponent,
# below 0.001, or a NaN/Infinity spelling (orjson rejects those; `n[^u]` is any but null).
_NUMBER = r"-?(\d{16}|\d+(\.\d+)?[eE]|0\.000|[NIi]|n[^u])"
# On the raw line, where a value follows a colon or a comma after optional whitespace (and a
# number in an array after the brackets that open it: an array itself follows one of those
# two), and a comma before a closing bracket, which yyjson accepts and drops (orjson rejects
# the line). Two patterns, each starting with its one character, run much faster than one
# starting with a class of characters (RE2 skips to that character). A false alarm (the
# pattern inside a string) only costs speed: the file is read line by line.
_AFTER_COMMA = r",\s*([\]}]|(\[\s*)*" + _NUMBER + ")"
_AFTER_COLON = r":\s*(\[\s*)*" + _NUMBER
_UNUSUAL_LINE = (
    f"(case when regexp_matches(line, {_quote(_AFTER_COMMA)}) then true "
    f"else regexp_matches(line, {_quote(_AFTER_COLON)}) end)"
)


_TIMESTAMP = (
    r"^(19|20|21)\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[T ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?$"
)
# The dlt type `helpers._dlt_type` gives a value, by the first character of its JSON text.
# (Numbers with an exponent never get here: see _NUMBER.)
KIND_SQL = (
    "case when {x} is null then null when starts_with({x}, '\"') then 'string' "
    "when starts_with({x}, '{{') or starts_with({x}, '[') then 'json' "
    "when {x} in ('true', 'false') then 'bool' "
    "when contains({x}, '.') then 'double' else 'bigint' end"
)


def _kind(expression: str) -> str:
    return KIND_SQL.format(x=expression)


class ColumnarParser:
    """Parses event files with one in-memory DuckDB connection (never the warehouse)."""

    def __init__(
        self, threads: int | None = None, key_lists: dict[int, list[str]] | None = None
    ) -> None:
        config: dict[str, str | bool | int | float | list[str]] = {}
        if threads is not None:
            config["threads"] = threads
        self._con = duckdb.connect(":memory:", config=config)
        self._con.execute("set TimeZone = 'UTC'")
        self._protocols: set[str] = set()
        self._extra_keys: list[str] | None = None  # the unknown fields of the last file
        # The lists of top-level keys seen, by their 64-bit hash (shared by a Prefetcher's
        # parsers; two lists with one hash is a chance of about one in 10^19).
        self._key_lists: dict[int, list[str]] = {} if key_lists is None else key_lists

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
        return self.parse_files([(file_url, fs_client)], bounds)[0]

    def parse_files(
        self, files: list[tuple[str, Any]], bounds: Bounds | None = None
    ) -> list[ParsedFile | None]:
        """`parse` of each of `files` (url, fs_client), in one query.

        A query costs about 40 ms before its first line (binding the SQL below), as much as
        about 4,000 lines: a backlog of many small files (a sender that writes a file a
        minute) is parsed a group at a time (`Prefetcher`), and the result split by file. A
        file the query cannot read fails the whole query: then each file is parsed alone.
        """
        bounds = bounds or timestamp_bounds()
        paths: list[str | None] = []
        for file_url, fs_client in files:
            try:
                too_large = (
                    fs_client is not None and fs_client.size(file_url) > COLUMNAR_MAX_FILE_BYTES
                )
                paths.append(None if too_large else self._duckdb_path(file_url, fs_client))
            except Exception:  # noqa: BLE001 - the per-line path reads it and says why
                paths.append(None)
        readable = [path for path in paths if path is not None]
        parsed: dict[str, ParsedFile | None] = {}
        try:
            if readable:
                parsed = self._parse(readable, bounds)
        except Exception:  # noqa: BLE001 - a malformed line, or a file DuckDB cannot read:
            if len(readable) > 1:  # which one is unknown: each alone
                parsed = {path: self.parse_files([(path, None)], bounds)[0] for path in readable}
        return [None if path is None else parsed.get(path) for path in paths]

    def _duckdb_path(self, file_url: str, fs_client: Any) -> str:
        parsed = urlparse(file_url)
        if parsed.scheme in ("", "file"):
            return unquote(parsed.path) if parsed.scheme else file_url
        if parsed.scheme not in self._protocols:
            self._con.register_filesystem(fs_client or fsspec.filesystem(parsed.scheme))
            self._protocols.add(parsed.scheme)
        return file_url

    def _parse(self, paths: list[str], bounds: Bounds) -> dict[str, ParsedFile | None]:
        # One pass: the files are decompressed and split into raw lines (no JSON parse), and
        # each line is parsed once into its fields with the checks beside it. Which unknown
        # top-level fields to extract is guessed from the previous files (a sender's files
        # share their fields). Each line's list of keys comes back as a hash: a list not seen
        # before is read from the files (a few distinct lists per file), and if it has an
        # unknown field not extracted, the query runs again with the files' own fields. A
        # repeated key sends its file line by line (`json_extract` keeps its first copy,
        # orjson the last), and so does a line that is not plain (`ok`).
        lines = lines_sql(paths)
        if not self._key_lists:  # nothing to guess from: the files' own fields first
            self._key_lists.update(file_key_lists(self._con, lines))
        if self._extra_keys is None:
            self._extra_keys = unknown_fields(list(self._key_lists.values()))
        extra_keys = self._extra_keys
        result = self._query(lines, extra_keys, bounds)
        hashes = pc.unique(result["keys_hash"]).to_pylist()
        if not set(hashes) <= self._key_lists.keys():
            self._key_lists.update(file_key_lists(self._con, lines))
        unusable = {  # lists of keys we cannot vouch for: a repeated key, or one never read
            value
            for value in hashes
            if (keys := self._key_lists.get(value)) is None or len(set(keys)) < len(keys)
        }
        extras = unknown_fields(self._key_lists[value] for value in hashes if value not in unusable)
        if not set(extras) <= set(extra_keys):
            extra_keys = self._extra_keys = extras
            result = self._query(lines, extra_keys, bounds)
        bad_rows = pc.invert(result["ok"])
        if unusable:
            values = pa.array(list(unusable), type=result["keys_hash"].type)
            bad_rows = pc.or_(bad_rows, pc.is_in(result["keys_hash"], value_set=values))
        bad_files = set(pc.unique(result["filename"].filter(bad_rows)).to_pylist())
        runs = pc.run_end_encode(result["filename"].combine_chunks())
        names = runs.values.to_pylist()
        if len(set(names)) < len(names) or not set(names) <= set(paths):
            raise ValueError("the lines of a file did not come together")  # each file alone
        table = result.drop_columns(["ok", "keys_hash", "filename"])
        parsed: dict[str, ParsedFile | None] = {
            path: None if path in bad_files else ParsedFile(table.slice(0, 0), extra_keys)
            for path in paths
        }
        start = 0
        for name, end in zip(names, runs.run_ends.to_pylist(), strict=True):
            if name not in bad_files:
                parsed[name] = ParsedFile(table.slice(start, end - start), extra_keys)
            start = end
        return parsed

    def _query(self, lines: str, extra_keys: list[str], bounds: Bounds) -> pa.Table:
        return self._con.sql(parse_sql(lines, extra_keys, bounds)).to_arrow_table()


def lines_sql(paths: list[str]) -> str:
    """SQL for the raw lines of the files at `paths` (DuckDB paths), each with its `filename`."""
    files = ", ".join(_quote(path) for path in paths)
    return (
        f"read_csv([{files}], columns = {{'line': 'VARCHAR'}}, delim = {_quote(chr(1))}, "
        f"quote = '', escape = '', header = false, auto_detect = false, "
        f"compression = 'auto_detect', filename = true)"
    )


def parse_sql(lines: str, extra_keys: list[str], bounds: Bounds) -> str:
    """SQL: each line's fields beside the checks on the line (`ok`) and its keys (`keys_hash`).

    `lines` is `lines_sql` of the files; `extra_keys` the unknown top-level fields to extract.
    `json_extract` with a list of paths parses a line once into the fields asked for (and
    `context.groupId`); ids and timestamps come as JSON text (a string is then its quoted
    text: the line has no backslash), the other fields as JSON text re-written by yyjson,
    which drops what the parser smooths over (trailing commas, whitespace): those are
    looked for on the raw line.
    """
    fields = [*TEXT_FIELDS, *TIMESTAMP_FIELDS, *JSON_FIELDS, *extra_keys]
    if len({key.lower() for key in fields}) < len(fields):  # rare: left to the per-line path
        raise duckdb.InvalidInputException("field names differ only by case")
    aliases = {key: f"f{index}" for index, key in enumerate(fields)}
    # JSON pointers (any key can be written as one); a JSON null is an absent value.
    paths = ", ".join(_quote(_pointer(key)) for key in fields)
    unpack = ", ".join(
        f"nullif(parsed[{index + 1}], 'null')::varchar as "
        f"{'j' if key in _STRING_VALUED else ''}{aliases[key]}"
        for index, key in enumerate(fields)
    )
    group = f"parsed[{len(fields) + 1}]::varchar as context_group"
    strings = "".join(
        f"case when starts_with(j{alias}, '\"') then substr(j{alias}, 2, length(j{alias}) - 2) "
        f"end as {alias}, "
        for key, alias in aliases.items()
        if key in _STRING_VALUED
    )
    # A string field holding another JSON value (a number, an object) is unusual.
    string_checks = " and ".join(
        f"(j{alias} is null or starts_with(j{alias}, '\"'))"
        for key, alias in aliases.items()
        if key in _STRING_VALUED
    )
    positions = "".join(
        f"list_position(keys, {_quote(key)}) as x{index}__pos, "
        for index, key in enumerate(extra_keys)
    )
    outputs = _typed_columns(aliases, extra_keys, bounds)
    precomputed = _PRECOMPUTED.format(**{key: aliases[key] for key in TIMESTAMP_FIELDS})
    return f"""
        with raw as (
            select filename, line, try(json_keys(line)) as keys,
                try(json_extract(line, [{paths}, '/context/groupId'])) as parsed
            from {lines}
            where {NOT_BLANK}
        ),
        unpacked as (
            select filename, line, keys, {unpack}, {group} from raw
        ),
        fields as (
            select *, {strings} {positions} {precomputed}
                hash(keys) as keys_hash,
                {string_checks}
                and not contains(line, '\\')
                and not contains(line, chr(127))
                and not {_UNUSUAL_LINE}
                as plain
            from unpacked
        )
        select {", ".join(outputs)}, keys_hash, filename from fields
        """


def file_key_lists(con: duckdb.DuckDBPyConnection, lines: str) -> dict[int, list[str]]:
    """Each distinct list of top-level keys in `lines` (`lines_sql`), by its hash."""
    rows = con.execute(
        f"select distinct hash(keys), keys from (select try(json_keys(line)) as keys "
        f"from {lines} where {NOT_BLANK}) where keys is not null"
    ).fetchall()
    return {int(value): list(keys) for value, keys in rows}


def unknown_fields(key_lists: Iterable[list[str] | None]) -> list[str]:
    """The unknown top-level fields in these lists of keys, sorted."""
    return sorted({key for keys in key_lists if keys for key in keys} - KNOWN_FIELDS)


# A line of spaces is skipped, as in the per-line path (`trim` copies the line: only for those;
# a `case` evaluates its branch only for the rows that reach it, where `or` evaluates both).
NOT_BLANK = (
    "line is not null and case when ascii(line) <> 32 then true else trim(line, ' ') <> '' end"
)
_PRECOMPUTED = (
    "try_cast({timestamp} as timestamptz) as ts_timestamp, "
    "try_cast({receivedAt} as timestamptz) as ts_receivedAt, "
    "try_cast({sentAt} as timestamptz) as ts_sentAt, "
)


def _pointer(key: str) -> str:
    """The JSON pointer (RFC 6901) of a top-level key."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


def _id_text(text: str) -> str:
    """SQL: `text`, or null if it is empty or spaces only (no id, as in `helpers._text`).

    Only a text starting with a space is trimmed (a copy): a `case` evaluates a branch only
    for the rows that reach it. ASCII spaces only, as `str.strip(" ")`: DuckDB's one-argument
    `trim` also takes a no-break space.
    """
    return (
        f"case when not starts_with({text}, ' ') then nullif({text}, '') "
        f"when trim({text}, ' ') <> '' then {text} end"
    )


def _typed_columns(aliases: dict[str, str], extra_keys: list[str], bounds: Bounds) -> list[str]:
    """SQL for the output columns, the last one `ok`: the line is loaded as is (module doc).

    Ids and timestamps come as text (`_STRING_VALUED` vouched they are strings or null).
    """
    checks: list[str] = ["plain"]
    outputs: list[str] = []
    for key, column in TEXT_FIELDS.items():
        outputs.append(f"{_id_text(aliases[key])} as {column}")
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
    is_object = f"starts_with({context}, '{{')"
    checks.append(
        f"({context} is null or not {is_object} or {group} is null or {group} = 'null' or "
        f"starts_with({group}, '\"') or {_kind(group)} = 'bigint')"
    )
    group_text = (
        f"case when starts_with({group}, '\"') then substr({group}, 2, length({group}) - 2) "
        f"else {group} end"
    )
    outputs.append(
        f"case when {is_object} and {group} <> 'null' then {_id_text(group_text)} end "
        "as context_group_id"
    )
    for key, column in JSON_FIELDS.items():
        outputs.append(f"{aliases[key]} as {column}")
    for index, key in enumerate(extra_keys):
        alias = aliases[key]
        outputs.append(f"x{index}__pos")
        outputs.append(f"{_kind(alias)} as x{index}__kind")
        outputs.append(
            f"case when starts_with({alias}, '\"') then substr({alias}, 2, length({alias}) - 2) "
            f"else {alias} end as x{index}__value"
        )
    # For the in-load dedup (`helpers.SeenIds`): equal ids have equal hashes.
    outputs.append("hash(message_id) as message_id_hash")
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
    extract, in the caller's thread, leaves idle. Consecutive small files are parsed together,
    a group of up to `group_bytes` as stored (`ColumnarParser.parse_files`).
    """

    def __init__(
        self,
        files: list[tuple[str, Any]],
        bounds: Bounds,
        workers: int | None = None,
        group_bytes: int = COLUMNAR_GROUP_BYTES,
    ) -> None:
        self._files = files
        self._bounds = bounds
        self._workers = workers or min(4, os.cpu_count() or 1)
        self._group_bytes = group_bytes
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="segment-parse")
        self._futures: dict[int, Future[list[ParsedFile | None]]] = {}  # by a group's first file
        self._group_of: dict[int, int] = {}  # file -> its group's first file
        self._sizes: dict[int, int] = {}
        self._next = 0  # the first file in no group yet
        self._parsed: dict[int, ParsedFile | None] = {}  # of a group taken, not yet asked for
        self._local = threading.local()
        self._parsers: list[ColumnarParser] = []
        self._lock = threading.Lock()
        self._key_lists: dict[int, list[str]] = {}
        self.remaining: int | None = None  # rows the load still takes (None: no limit)
        self._rows_per_byte = 0.0  # of the last group parsed

    def get(self, index: int) -> ParsedFile | None:
        """The parse of file `index` (None: read it line by line); starts the next groups.

        Files are asked for in order. While the caller works on file `index`, each worker
        parses a group after it (at most `workers` parsed groups wait in memory).
        `remaining`, if the caller sets it, is the rows the load still takes, file `index`
        included: groups the load will not reach, judged by the rows per stored byte of the
        last group parsed, are not started (the next load, with a new Prefetcher, would parse
        them again).
        """
        if index not in self._group_of and index not in self._parsed:
            self._next = max(self._next, index)
            self._start_group()
        self._start_ahead(index)
        first = self._group_of.get(index)
        if first in self._futures:
            group = self._futures.pop(first).result()
            rows = 0
            stored = 0
            for offset, parsed in enumerate(group):
                self._parsed[first + offset] = parsed
                self._group_of.pop(first + offset, None)
                if parsed is not None:
                    rows += parsed.table.num_rows
                    stored += self._sizes[first + offset]
            if stored:
                self._rows_per_byte = rows / stored
        return self._parsed.pop(index, None)

    def _start_ahead(self, index: int) -> None:
        current = self._group_of.get(index, index)
        while self._next < len(self._files):
            if sum(1 for first in self._futures if first > current) >= self._workers:
                return
            if self.remaining is not None and self._rows_per_byte:
                stored = sum(self._size(later) for later in range(index, self._next))
                if stored * self._rows_per_byte >= self.remaining:
                    return
            self._start_group()

    def _start_group(self) -> None:
        """Submit the files from `_next` on, up to `group_bytes` (at least one file)."""
        first = self._next
        stored = 0
        while self._next < len(self._files):
            size = self._size(self._next)
            if self._next > first and stored + size > self._group_bytes:
                break
            stored += size
            self._group_of[self._next] = first
            self._next += 1
        files = self._files[first : self._next]
        self._futures[first] = self._pool.submit(self._parse, files)

    def _size(self, index: int) -> int:
        """The file's size as stored (0 if unknown: its parse says what is wrong with it)."""
        if index not in self._sizes:
            file_url, fs_client = self._files[index]
            try:
                size = fs_client.size(file_url) if fs_client else os.path.getsize(file_url)
            except Exception:  # noqa: BLE001 - read (and set aside) by the per-line path
                size = 0
            self._sizes[index] = int(size or 0)
        return self._sizes[index]

    def _parse(self, files: list[tuple[str, Any]]) -> list[ParsedFile | None]:
        parser = getattr(self._local, "parser", None)
        if parser is None:
            parser = self._local.parser = ColumnarParser(threads=1, key_lists=self._key_lists)
            with self._lock:
                self._parsers.append(parser)
        return parser.parse_files(files, self._bounds)

    def close(self) -> None:
        """Stop the workers (a parse under way finishes) and close their DuckDBs."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        for parser in self._parsers:
            parser.close()
