"""Parsing Segment Spec lines into Arrow batches, with bad lines set aside with their reason."""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.plausibility import EARLIEST_SETTING, SKEW_SETTING, timestamp_bounds
from ingestion.rejects import reject_row
from ingestion.segment.columnar import ParsedFile
from ingestion.segment.settings import (
    KNOWN_FIELDS,
    SOURCE_NAME,
    TEXT_FIELDS,
    TIMESTAMP_FIELDS,
)

_COLUMN_ORDER = [
    "message_id",
    "type",
    "timestamp",
    "user_id",
    "anonymous_id",
    "event",
    "name",
    "group_id",
    "context_group_id",
    "received_at",
    "sent_at",
    "properties",
    "traits",
    "context",
]
_TS_TYPE = pa.timestamp("us", tz="UTC")
RESERVED_COLUMNS = frozenset(_COLUMN_ORDER) | {"_source_file", "_dlt_load_id", "_dlt_id"}
_FRACTION = re.compile(r"(\.\d{1,6})\d*")
# What a file's read can fail with midway: a truncated or corrupt gzip, a vanished file.
READ_ERRORS = (OSError, EOFError, zlib.error)

Bounds = tuple[datetime, datetime]
_UTF8_BOM = b"\xef\xbb\xbf"


class SeenIds:
    """The messageIds taken in one load, for the in-load dedup of both paths.

    The ids of a file the columnar parser read stay one Arrow array each: a million ids cost
    about 40 MB there instead of about 100 MB and a second of Python as set members. With the
    ids' 64-bit hashes (the parser computes them), a file is compared by hash first: ids with
    distinct hashes are distinct, so only the ids whose hash was seen before (re-deliveries, or
    a chance collision) are compared as text. The hashes are kept sorted, in a few runs
    (`_runs`), so comparing them is a binary search of sorted values.

    A file read line by line (one with a bad line) asks `in` for each line and `add`s what it
    takes: for that, the arrays' ids become members of a set, each array once. The ids it adds
    become one Arrow array at the next columnar file, which compares them as text. So such a
    file leaves the files after it on the hash path: before, every later file compared all
    the load's ids as text, and a load of many small files slowed down with each file.
    """

    def __init__(self) -> None:
        self._arrays: list[pa.Array] = []  # each columnar file's first copies
        # While every columnar file came with hashes: the hashes of all their ids, sorted, with
        # the array (index in `_arrays`) and place of each id, in a few runs. A file adds a run;
        # two runs merge when the older is at most twice the size of the newer, so a load of
        # many files keeps few runs (about log2 of its files) and each file is compared with
        # those few, not with every file before it.
        self._runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._hashed = True
        # For `in`: the ids added, and those of the first `_in_members` arrays.
        self._members: set[str] = set()
        self._in_members = 0
        self._added: list[str] = []  # added since the last columnar file
        self._line_arrays: list[pa.Array] = []  # the ids added before it, as text

    def __contains__(self, key: object) -> bool:
        for array in self._arrays[self._in_members :]:
            self._members.update(array.to_pylist())
        self._in_members = len(self._arrays)
        return key in self._members

    def add(self, key: str) -> None:
        """Record an id the per-line path took."""
        self._members.add(key)
        self._added.append(key)

    def take_new(self, ids: pa.Array, hashes: pa.Array | None = None) -> pa.Array:
        """Which of a file's `ids` (in file order) are first copies in this load; records them.

        In C: a copy earlier in the same file is found with `index_in` on the file itself, one
        in an earlier file by looking the earlier ids up in this file's ids. With `hashes` (of
        each id, as `columnar` computes them), only the ids whose hash repeats are.
        """
        if self._added:
            self._line_arrays.append(pa.array(self._added, type=pa.string()))
            self._added = []
        taken = np.zeros(len(ids), dtype=bool)  # by a file read line by line
        if self._line_arrays:
            lines = pa.chunked_array(self._line_arrays, type=pa.string())
            taken[pc.index_in(lines, value_set=ids).drop_null().to_numpy()] = True
        self._hashed = self._hashed and hashes is not None
        if hashes is not None and self._hashed:
            keep = self._new_by_hash(ids, hashes.to_numpy(zero_copy_only=False), taken)
        else:
            keep = self._new_by_text(ids) & ~taken
            self._runs = []  # by text from here on
        mask = pa.array(keep, type=pa.bool_())
        self._arrays.append(ids.filter(mask))
        return mask

    def _new_by_text(self, ids: pa.Array) -> np.ndarray:
        first = pc.index_in(ids, value_set=ids).to_numpy(zero_copy_only=False)
        keep: np.ndarray = first == np.arange(len(ids))
        if self._arrays:
            found = pc.index_in(pa.chunked_array(self._arrays, type=pa.string()), value_set=ids)
            keep[found.drop_null().to_numpy()] = False
        return keep

    def _new_by_hash(self, ids: pa.Array, hashes: np.ndarray, taken: np.ndarray) -> np.ndarray:
        order = np.argsort(hashes, kind="stable")
        ordered = hashes[order]
        suspects = [ordered[1:][ordered[1:] == ordered[:-1]]]  # twice in this file
        for earlier, _, _ in self._runs:  # or in an earlier file
            suspects.append(ordered[_among(ordered, earlier)])
        values = np.unique(np.concatenate(suspects))
        keep = ~taken
        if len(values):  # compared as text: the ids with those hashes, here and before
            rows = np.sort(order[_among(ordered, values)])
            candidates = ids.take(pa.array(rows))
            first = pc.index_in(candidates, value_set=candidates).to_numpy(zero_copy_only=False)
            keep[rows[first != np.arange(len(rows))]] = False
            before = []
            for earlier, owners, places in self._runs:
                found = _positions(earlier, values)
                for owner in np.unique(owners[found]):
                    chosen = places[found[owners[found] == owner]]
                    before.append(self._arrays[owner].take(pa.array(chosen)))
            if before:
                found = pc.is_in(candidates, value_set=pa.chunked_array(before, type=pa.string()))
                keep[rows[found.to_numpy(zero_copy_only=False)]] = False
        kept = keep[order]
        places = (np.cumsum(keep) - 1)[order[kept]]  # where the kept ids land in the array
        owners = np.full(len(places), len(self._arrays), dtype=np.int64)  # the array to come
        self._runs.append((ordered[kept], owners, places))
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= 2 * len(self._runs[-1][0]):
            older, newer = self._runs[-2], self._runs[-1]
            merged = [np.concatenate([a, b]) for a, b in zip(older, newer, strict=True)]
            by_hash = np.argsort(merged[0], kind="stable")
            self._runs[-2:] = [(merged[0][by_hash], merged[1][by_hash], merged[2][by_hash])]
        return keep


def _positions(ordered: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Where in `ordered` (sorted) each of `values` (sorted, distinct) is, all its copies.

    Binary searches for the values only: the cost follows the few values, not `ordered`.
    """
    low = np.searchsorted(ordered, values, side="left")
    counts = np.searchsorted(ordered, values, side="right") - low
    starts = np.cumsum(counts) - counts  # where each value's positions begin in the result
    positions: np.ndarray = np.arange(counts.sum()) + np.repeat(low - starts, counts)
    return positions


def _among(ordered: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Which of `ordered` (sorted hashes) are in `values` (sorted): a binary search each."""
    if not len(values):
        return np.zeros(len(ordered), dtype=bool)
    place = np.minimum(np.searchsorted(values, ordered), len(values) - 1)
    found: np.ndarray = values[place] == ordered
    return found


class BadRecord(ValueError):
    """A line that cannot become an event; its message is the reason stored with it."""


def parse_timestamp(value: Any, field_name: str) -> datetime:
    """ISO-8601 to an aware UTC datetime; a timestamp without offset is UTC (docs/metrics.md)."""
    if not isinstance(value, str) or not value:
        raise BadRecord(f"{field_name} is missing or not a string")
    try:
        parsed = datetime.fromisoformat(value)  # fast path: what senders write almost always
    except ValueError:
        text = _FRACTION.sub(r"\1", value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise BadRecord(f"{field_name} is not an ISO-8601 timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _text(value: Any) -> str | None:
    """Ids may arrive as numbers (their decimal text); an empty string is an absent id.

    So is a string of spaces: staging trims ids (`nullif_empty`), so loading one would make the
    record vanish there instead of being set aside here with its reason.
    An object, array or boolean is no id: its text would be a repr no join could match.
    """
    if value is None or (isinstance(value, str) and not value.strip(" ")):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | dict | list):
        kind = (
            "a JSON object"
            if isinstance(value, dict)
            else "a JSON array"
            if isinstance(value, list)
            else "a boolean"
        )
        raise BadRecord(f"expected text or a number, got {kind}")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 123.0 is the id 123
    return str(value)


def _message_key(value: Any) -> str | None:
    """A messageId as the text it is stored as (for the in-load dedup); None if it is no id."""
    try:
        return _text(value)
    except BadRecord:
        return None  # EventBatch.add sets the line aside with the reason


def _event_time(message: dict[str, Any], bounds: Bounds) -> datetime:
    """The event's `timestamp`, if it is a time the event could have had.

    Only `timestamp` decides an event's day (docs/metrics.md: never `receivedAt`), so a message
    without one (a library's raw message, `originalTimestamp` only) is set aside, not guessed.
    """
    key = "timestamp"
    timestamp = parse_timestamp(message.get(key), key)
    earliest, latest = bounds
    if timestamp < earliest:
        raise BadRecord(
            f"{key} {timestamp.isoformat()} is before {earliest.isoformat()} "
            f"(setting {EARLIEST_SETTING})"
        )
    if timestamp > latest:
        raise BadRecord(
            f"{key} {timestamp.isoformat()} is in the future, after {latest.isoformat()} "
            f"(setting {SKEW_SETTING})"
        )
    return timestamp


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


@dataclass
class EventBatch:
    """Column lists for one Arrow table; unknown top-level fields become extra columns."""

    columns: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in _COLUMN_ORDER})
    extras: dict[str, list[Any]] = field(default_factory=dict)
    source_files: list[str] = field(default_factory=list)
    rows: int = 0
    bounds: Bounds = field(default_factory=timestamp_bounds)

    def add(self, message: dict[str, Any], source_file: str) -> None:
        """Validate and append one message, or raise BadRecord without touching the batch."""
        get = message.get
        texts = []
        for key in TEXT_FIELDS:
            try:
                texts.append(_text(get(key)))
            except BadRecord as exc:
                raise BadRecord(f"{key}: {exc}") from None
        message_id, kind, user_id, anonymous_id, event, name, group_id = texts
        if message_id is None:
            raise BadRecord("messageId is missing")
        if kind is None:
            raise BadRecord("type is missing")
        if user_id is None and anonymous_id is None:
            raise BadRecord("neither userId nor anonymousId is present")
        timestamp = _event_time(message, self.bounds)
        received = get("receivedAt")
        received_at = None if received in (None, "") else parse_timestamp(received, "receivedAt")
        sent = get("sentAt")
        sent_at = None if sent in (None, "") else parse_timestamp(sent, "sentAt")
        context = get("context")
        try:
            context_group_id = _text(context.get("groupId")) if isinstance(context, dict) else None
        except BadRecord as exc:
            raise BadRecord(f"context.groupId: {exc}") from None
        row = (
            message_id,
            kind,
            timestamp,
            user_id,
            anonymous_id,
            event,
            name,
            group_id,
            context_group_id,
            received_at,
            sent_at,
            _json_text(get("properties")),
            _json_text(get("traits")),
            _json_text(context),
        )

        extras = self.extras
        extra = (
            {}
            if KNOWN_FIELDS.issuperset(message)
            else {k: v for k, v in message.items() if k not in KNOWN_FIELDS}
        )
        for key, values in extras.items():
            values.append(extra.pop(key, None))
        for key, value in extra.items():
            extras[key] = [None] * self.rows + [value]
        for values, value in zip(self._lists, row, strict=True):
            values.append(value)
        self.source_files.append(source_file)
        self.rows += 1

    def __post_init__(self) -> None:
        self._lists = [self.columns[column] for column in _COLUMN_ORDER]

    def to_arrow(self, column_types: dict[str, str] | None = None) -> pa.Table:
        """Typed Arrow table; unknown fields keep their type, a conflicting value a variant.

        `column_types` maps extra columns to the dlt data type they already have (from the
        schema or earlier batches) and is updated with the columns this batch adds. A value
        of another type goes to `<column>__v_<type>`, as dlt's own normaliser does with
        rows: nothing is cast or lost, and Arrow never carries a type the table cannot take.
        """
        types = {} if column_types is None else column_types
        arrays: dict[str, pa.Array] = {}
        for column, values in self.columns.items():
            kind = _TS_TYPE if column in TIMESTAMP_FIELDS.values() else pa.string()
            arrays[column] = pa.array(values, type=kind)
        for key, values in self.extras.items():
            column = extra_column(key)
            while (
                column in arrays or column in RESERVED_COLUMNS
            ):  # `user_id` beside `userId`: keep both
                column += "_extra"
            for name, array in _extra_arrays(column, values, types).items():
                arrays[name] = array
        arrays["_source_file"] = pa.array(self.source_files, type=pa.string())
        return pa.table(arrays)


def extra_column(key: str) -> str:
    """Snake-case a vendor field name the way dlt's naming convention would."""
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()
    return re.sub(r"[^a-z0-9_]+", "_", snake).strip("_") or "field"


_ARROW_TYPES = {
    "bool": pa.bool_(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "text": pa.string(),
}


def _dlt_type(value: Any) -> str:
    """The dlt data type a JSON scalar lands as; nested values are stored as JSON text."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "bigint" if -(2**63) <= value < 2**63 else "text"
    if isinstance(value, float):
        return "double"
    return "text"


def _as(value: Any, kind: str) -> Any:
    if kind == "text" and not isinstance(value, str):
        return _json_text(value) if isinstance(value, dict | list) else str(value)
    if kind == "double":
        return float(value)
    return value


def _extra_arrays(column: str, values: list[Any], types: dict[str, str]) -> dict[str, pa.Array]:
    """Split one unknown field's values into its column and, for other types, variants."""
    kinds = [None if v is None else _dlt_type(v) for v in values]
    present = [k for k in kinds if k is not None]
    if not present and column not in types:
        return {column: pa.array(values, type=pa.string())}
    target = types.setdefault(column, present[0] if present else "text")
    arrow_type = _ARROW_TYPES.get(target, pa.string())
    if all(kind == target for kind in present):  # the usual case: no conflict, one pass
        return {
            column: pa.array(
                [_as(v, target) if v is not None else None for v in values], type=arrow_type
            )
        }
    size = len(values)
    by_kind: dict[str, list[Any]] = {}
    for index, (value, kind) in enumerate(zip(values, kinds, strict=True)):
        if kind is None:
            continue
        if kind == "bigint" and target == "double":
            kind = "double"  # an integral number in a float column is no conflict
        if kind not in by_kind:
            by_kind[kind] = [None] * size
        by_kind[kind][index] = _as(value, kind)
    result = {column: pa.array(by_kind.pop(target, [None] * size), type=arrow_type)}
    for kind, variant_values in by_kind.items():
        variant = f"{column}__v_{kind}"
        types.setdefault(variant, kind)
        result[variant] = pa.array(variant_values, type=_ARROW_TYPES[kind])
    return result


def read_lines(
    lines: Iterator[bytes],
    source_file: str,
    batch_rows: int,
    seen_ids: SeenIds | set[str],
    column_types: dict[str, str] | None = None,
    bounds: Bounds | None = None,
) -> Iterator[pa.Table | dict[str, Any]]:
    """Yield Arrow batches of good events and reject rows (dicts) for bad lines.

    `seen_ids` holds the messageIds already taken in this load: a copy delivered again in the
    same load is skipped here; one delivered in an earlier load is appended, and staging
    keeps its first copy.
    `bounds` are the plausible event times (`plausibility.timestamp_bounds`, read once per
    load). A read that fails midway (a truncated gzip) keeps the lines read before it and
    sets the rest of the file aside with the reason.
    """
    bounds = bounds or timestamp_bounds()
    batch = EventBatch(bounds=bounds)
    number = 0
    iterator = iter(lines)
    while True:
        try:
            raw = next(iterator)
        except StopIteration:
            break
        except READ_ERRORS as exc:
            reason = f"file cannot be read past line {number}: {_read_error(exc)}"
            yield _reject(source_file, number + 1, source_file.encode(), reason)
            break
        number += 1
        line = raw.strip()
        if number == 1 and line.startswith(_UTF8_BOM):  # written by Windows tools
            line = line[len(_UTF8_BOM) :].strip()
        if not line:
            continue
        try:
            message = orjson.loads(line)
            if not isinstance(message, dict):
                raise BadRecord("line is not a JSON object")
            if _message_key(message.get("messageId")) in seen_ids:
                continue
            batch.add(message, source_file)
            seen_ids.add(batch.columns["message_id"][-1])
        except orjson.JSONDecodeError as exc:
            yield _reject(source_file, number, line, _json_problem(line, exc))
        except BadRecord as exc:
            yield _reject(source_file, number, line, str(exc))
        if batch.rows >= batch_rows:
            yield batch.to_arrow(column_types)
            batch = EventBatch(bounds=bounds)
    if batch.rows:
        yield batch.to_arrow(column_types)


def _read_error(exc: BaseException) -> str:
    """An I/O error in words, its kind first (`BadGzipFile: Not a gzipped file ...`)."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def file_reject(source_file: str, exc: BaseException) -> dict[str, Any]:
    """The reject row of a whole file that cannot be opened (dangling symlink, loop, ...)."""
    reason = f"file cannot be read: {_read_error(exc)}"
    return reject_row(SOURCE_NAME, source_file, source_file, reason, per_location=True)


def _json_problem(line: bytes, exc: orjson.JSONDecodeError) -> str:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"line is not valid UTF-8 ({error.reason} at byte {error.start})"
    return f"malformed JSON: {exc}"


def _reject(source_file: str, line_number: int, line: bytes, reason: str) -> dict[str, Any]:
    return reject_row(
        SOURCE_NAME,
        f"{source_file}:{line_number}",
        line.decode("utf-8", errors="replace"),
        reason,
        per_location=True,
    )


def read_parsed(
    parsed: ParsedFile,
    source_file: str,
    batch_rows: int,
    seen_ids: SeenIds | set[str],
    column_types: dict[str, str] | None = None,
) -> Iterator[pa.Table]:
    """`read_lines` for a file the columnar parser read whole: same rows, batches, dedup.

    The parser vouched that every line is a good event, so there is nothing to set aside.
    """
    table = parsed.table
    if table.num_rows == 0:
        return
    ids = table.column("message_id").combine_chunks()
    if isinstance(seen_ids, SeenIds):
        hashes = (
            table.column("message_id_hash").combine_chunks()
            if "message_id_hash" in table.column_names
            else None
        )
        keep = seen_ids.take_new(ids, hashes)
    else:
        seen_add = seen_ids.add
        keep = pa.array(
            [not (key in seen_ids or seen_add(key)) for key in ids.to_pylist()], type=pa.bool_()
        )
    if not pc.all(keep).as_py():
        table = table.filter(keep)
    source_files = pa.repeat(pa.scalar(source_file, pa.string()), table.num_rows)
    for start in range(0, table.num_rows, batch_rows):
        yield _columnar_batch(
            table.slice(start, batch_rows),
            source_files.slice(start, batch_rows),
            parsed.extra_keys,
            column_types,
        )


def _columnar_batch(
    rows: pa.Table,
    source_files: pa.Array,
    extra_keys: list[str],
    column_types: dict[str, str] | None,
) -> pa.Table:
    """The Arrow table `EventBatch.to_arrow` would build from the same lines."""
    types = {} if column_types is None else column_types
    arrays: dict[str, pa.Array | pa.ChunkedArray] = {}
    for column in _COLUMN_ORDER:
        kind = _TS_TYPE if column in TIMESTAMP_FIELDS.values() else pa.string()
        values = rows.column(column)
        arrays[column] = values if values.type == kind else values.cast(kind)
    # Unknown fields in order of first appearance (row, then place in the row), as
    # EventBatch.extras collects them; a field absent from this batch gets no column.
    firsts = []
    for index, key in enumerate(extra_keys):
        positions = rows.column(f"x{index}__pos")
        row = pc.index(pc.is_valid(positions), True).as_py()
        if row >= 0:
            firsts.append((row, positions[row].as_py(), index, key))
    for _, _, index, key in sorted(firsts):
        column = extra_column(key)
        while column in arrays or column in RESERVED_COLUMNS:
            column += "_extra"
        prefix = f"x{index}__"
        for name, array in _columnar_extra(column, rows, prefix, types).items():
            arrays[name] = array
    arrays["_source_file"] = source_files
    return pa.table(arrays)


def _columnar_extra(
    column: str, rows: pa.Table, prefix: str, types: dict[str, str]
) -> dict[str, pa.Array]:
    """`_extra_arrays` for one unknown field of a columnar batch.

    `<prefix>value` holds a JSON string's value, or else the value's JSON text, and
    `<prefix>kind` says which (`columnar.KIND_SQL`). The usual case, one type throughout, is a
    cast; a conflict (variants) is handed to `_extra_arrays` with the values orjson reads.
    """
    kinds = rows.column(prefix + "kind")
    values = rows.column(prefix + "value")
    present = {_DLT_KINDS[kind] for kind in pc.unique(kinds).to_pylist() if kind is not None}
    if not present and column not in types:
        return {column: pa.nulls(rows.num_rows, type=pa.string())}
    first = kinds.filter(pc.is_valid(kinds))[0].as_py() if present else "string"
    target = types.setdefault(column, _DLT_KINDS[first])
    if present <= {target} and target in _ARROW_TYPES:
        return {column: values.cast(_ARROW_TYPES[target])}
    python_values = [
        value if kind == "string" or value is None else orjson.loads(value)
        for kind, value in zip(kinds.to_pylist(), values.to_pylist(), strict=True)
    ]
    return _extra_arrays(column, python_values, types)


_DLT_KINDS = {
    "string": "text",
    "json": "text",
    "bigint": "bigint",
    "double": "double",
    "bool": "bool",
}
