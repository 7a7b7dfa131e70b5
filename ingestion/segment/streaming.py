"""Event files the DuckDB warehouse reads and inserts itself, one statement per group of files.

On DuckDB (the default engine) the loader hands a group of whole files to the warehouse as one
`INSERT ... SELECT` of the columnar parse (`columnar.parse_sql`, every check of the fast path
included), under the load id dlt gave the extract: no Arrow, no Parquet, no Python per batch,
both cores busy. dlt still writes the load's `_dlt_loads` record once its load step ends, so
the rows of a load that never completes are never read (staging reads completed loads only),
and the file cursors still commit with the load.

A statement inserts all of its files or nothing: a line the fast path cannot vouch for, or a
value whose type disagrees with its column's (dlt's variant columns), fails it (`error()`,
naming the file), and the loader reads that file the usual way (`columnar.ColumnarParser`,
else line by line, which sets bad lines aside) and tries the rest of the group again; a line
whose list of top-level keys was not read yet fails it too, and the group's lists are read
(`learn`) before it is tried again. Columns come only from Arrow batches typed as dlt types
them (`ensure_columns`): the usual path's, and for an unknown field without a column an empty
batch of the first lines of the file that has it (the loader's `_sample_columns`).

A re-delivered copy stays (staging keeps each message's first copy: earliest load, then
`received_at`, then file), except two different copies inside one file, which staging could
not order: that file's rows are taken out again and it is read the usual way (first line).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import duckdb
import pyarrow as pa

from ingestion.segment.columnar import (
    NOT_BLANK,
    Bounds,
    _quote,  # one SQL string quoting for the parse and here
    lines_sql,
    parse_sql,
    unknown_fields,
)
from ingestion.segment.helpers import RESERVED_COLUMNS, extra_column
from ingestion.segment.settings import DATASET_NAME, DUCKDB_CONFIG, TABLE_NAME

# Where a field lands: the dlt type of its column, and the kinds of JSON values it takes
# (`columnar.KIND_SQL`) without a variant column (an integer in a float column is a float).
_KINDS = {
    "text": ("string", "json"),
    "bigint": ("bigint",),
    "double": ("double", "bigint"),
    "bool": ("bool",),
}
_SQL_TYPES = {"text": "VARCHAR", "bigint": "BIGINT", "double": "DOUBLE", "bool": "BOOLEAN"}
_DLT_TYPES = {sql: dlt for dlt, sql in _SQL_TYPES.items()}
_MARK = "segment-stream-file:"
# `_dlt_id` in dlt's shape: 22 base64 characters, from a random UUID's 16 bytes.
_ROW_ID = "substr(to_base64(unhex(replace(uuid()::varchar, '-', ''))), 1, 22)"


def _ddl_type(field: pa.Field) -> str:
    """The DuckDB type dlt's DuckDB destination gives a column of this Arrow type."""
    kind = field.type
    if pa.types.is_timestamp(kind):
        return "TIMESTAMP WITH TIME ZONE"
    if pa.types.is_boolean(kind):
        return "BOOLEAN"
    if pa.types.is_integer(kind):
        return "BIGINT"
    if pa.types.is_floating(kind):
        return "DOUBLE"
    return "VARCHAR"


def _name(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def local_path(file_url: str) -> str | None:
    """The local path of a `file://` URL (or a plain path), None for a bucket's file."""
    parsed = urlparse(file_url)
    if parsed.scheme not in ("", "file"):
        return None
    return unquote(parsed.path) if parsed.scheme else file_url


class WarehouseInserter:
    """One connection to the warehouse file for a load's extract, closed before dlt's load."""

    def __init__(
        self,
        path: Path,
        load_id: str,
        bounds: Bounds,
        key_lists: dict[int, list[str]],
    ) -> None:
        config: dict[str, Any] = dict(DUCKDB_CONFIG)
        self._con = duckdb.connect(str(path), config=config)
        self._con.execute("set TimeZone = 'UTC'")
        self._load_id = load_id
        self._bounds = bounds
        self._key_lists = key_lists  # shared with the usual path's parser
        self._table = f"{_name(DATASET_NAME)}.{_name(TABLE_NAME)}"
        self._columns = self._table_columns()
        self._first_file_with: dict[str, str] = {}  # unknown field -> the first file with it
        self.rows_per_byte = 0.0  # of the last group inserted (0: not known yet)

    def close(self) -> None:
        """Close the connection (dlt's load step opens the file next)."""
        self._con.close()

    def _table_columns(self) -> dict[str, str]:
        """The table's columns, each with its type (DuckDB's name), {} if there is no table."""
        rows = self._con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [DATASET_NAME, TABLE_NAME],
        ).fetchall()
        return dict(rows)

    def ensure_columns(self, schema: pa.Schema) -> None:
        """Create the table, or add the columns of a batch it lacks, as dlt's load would.

        dlt then finds them in place and adds nothing; the batch itself is loaded by dlt.
        """
        missing = [field for field in schema if field.name not in self._columns]
        if not missing:
            return
        definitions = [
            f"{_name(field.name)} {_ddl_type(field)}{'' if field.nullable else ' NOT NULL'}"
            for field in missing
        ]
        if not self._columns:
            self._con.execute(f"create schema if not exists {_name(DATASET_NAME)}")
            self._con.execute(f"create table {self._table} ({', '.join(definitions)})")
        else:
            for definition in definitions:
                self._con.execute(f"alter table {self._table} add column {definition}")
        self._columns.update((field.name, _ddl_type(field)) for field in missing)

    def learn(self, paths: list[str]) -> None:
        """Read the lists of top-level keys of the files at `paths`, and their rows per byte.

        Which file first has each unknown field is kept, for `Refused` to name it.
        """
        try:
            rows = self._con.execute(
                f"select filename, hash(keys), keys, count(*) from (select filename, "
                f"try(json_keys(line)) as keys from {lines_sql(paths)} where {NOT_BLANK}) "
                f"where keys is not null group by all"
            ).fetchall()
        except duckdb.Error:  # the statement will fail on it too, and say so
            return
        for path, value, keys, _ in sorted(rows, key=lambda row: paths.index(row[0])):
            self._key_lists[int(value)] = list(keys)
            for key in unknown_fields([keys]):
                self._first_file_with.setdefault(key, path)
        stored = sum(_size(path) for path in paths)
        lines = sum(row[3] for row in rows)
        if lines and stored:
            self.rows_per_byte = lines / stored

    def insert(self, files: list[tuple[str, str]], column_types: dict[str, str]) -> Outcome:
        """Insert every event of `files` ((url, local path)) under the load id, or nothing.

        Returns the rows inserted (`Inserted`), or why not: `Refused` (an unknown field
        without a column, or one this path does not map; nothing was read) or `Failed` with
        the files it cannot take (none named: the group could not be read). An unknown field
        takes its column's type; `column_types` (the load's) learns it.
        """
        paths = [path for _, path in files]
        if not self._key_lists:
            self.learn(paths[:1])
        vetted = [value for value, keys in self._key_lists.items() if len(set(keys)) == len(keys)]
        extras = unknown_fields(self._key_lists[value] for value in vetted)
        targets: dict[str, tuple[str, str]] = {}  # field -> (column, dlt type)
        for key in extras:
            column = extra_column(key)
            kind = _DLT_TYPES.get(self._columns.get(column, ""))
            taken = {target for target, _ in targets.values()}
            if column in RESERVED_COLUMNS or column in taken or kind is None:
                # a name the usual path resolves, or no column yet: the file that has it
                first = self._first_file_with.get(key)
                return Refused(next((url for url, path in files if path == first), None))
            targets[key] = (column, kind)
        if not self._columns or not vetted:
            return Refused(None)
        try:
            select = parse_sql(lines_sql(paths), extras, self._bounds)
        except duckdb.Error:
            return Refused(None)  # field names that differ only by case
        outputs = [
            f"cast(x{index}__value as {_SQL_TYPES[kind]}) as {_name(column)}"
            for index, (column, kind) in enumerate(targets.values())
        ]
        checks = ["ok"]
        checks += [
            f"(x{index}__kind is null or x{index}__kind in "
            f"({', '.join(_quote(kind) for kind in _KINDS[dlt_type])}))"
            for index, (_, dlt_type) in enumerate(targets.values())
        ]
        urls = ", ".join(f"({_quote(path)}, {_quote(url)})" for url, path in files)
        statement = f"""
            insert into {self._table} by name
            select message_id, type, timestamp, user_id, anonymous_id, event, name, group_id,
                context_group_id, received_at, sent_at, properties, traits, context,
                {"".join(output + ", " for output in outputs)}
                files.url as _source_file, {_ROW_ID} as _dlt_id,
                {_quote(self._load_id)} as _dlt_load_id
            from ({select}) as parsed
            join (values {urls}) as files(path, url) on files.path = parsed.filename
            where case
                when not ({" and ".join(checks)})
                    then error({_quote(_MARK + "line:")} || parsed.filename)
                when keys_hash not in ({", ".join(str(value) for value in vetted)})
                    then error({_quote(_MARK + "keys:")} || parsed.filename)
                else true end
        """
        self._con.execute("begin transaction")
        try:
            row = self._con.execute(statement).fetchone()
            inserted = int(row[0]) if row else 0
            left = self._repeated_in_a_file([url for url, _ in files])
            if left:  # those files' rows out again: they are read the usual way
                marks = ", ".join("?" for _ in left)
                removed = self._con.execute(
                    f"delete from {self._table} where _dlt_load_id = ? "
                    f"and _source_file in ({marks})",
                    [self._load_id, *left],
                ).fetchone()
                inserted -= int(removed[0]) if removed else 0
        except duckdb.Error as exc:
            self._con.execute("rollback")
            found = re.search(re.escape(_MARK) + r"(keys|line):(.*)", str(exc))
            if found and found.group(1) == "keys":
                return Failed([], keys=True)
            failed = found.group(2).strip() if found else None
            by_path = dict((path, url) for url, path in files)
            if failed not in by_path:
                return Failed([])
            # Every file of the group the statement cannot take, in one more pass.
            try:
                rows = self._con.execute(
                    f"select filename, bool_or(not ok) from ({select}) "
                    f"where not ({' and '.join(checks)}) group by filename"
                ).fetchall()
            except duckdb.Error:
                rows = [(failed, True)]
            return Failed(
                [by_path[path] for path, _ in rows if path in by_path],
                not_plain=[by_path[path] for path, bad in rows if bad and path in by_path],
            )
        self._con.execute("commit")
        for column, kind in targets.values():  # later batches of the load keep these types
            column_types.setdefault(column, kind)
        stored = sum(_size(path) for url, path in files if url not in left)
        if stored:
            self.rows_per_byte = inserted / stored
        return Inserted(inserted, left)

    def _repeated_in_a_file(self, urls: list[str]) -> list[str]:
        """The files of `urls` with two different copies of a messageId in the rows inserted.

        Which copy came first inside one file is known only to the usual path (staging tells
        copies apart by load, `received_at` and file): such a file is read that way. The
        same line twice (a sender's retry) is no such case: either copy is the first.
        """
        marks = ", ".join("?" for _ in urls)
        repeated = self._con.execute(
            f"select _source_file, message_id from {self._table} "
            f"where _dlt_load_id = ? and _source_file in ({marks}) "
            f"group by all having count(*) > 1",
            [self._load_id, *urls],
        ).fetchall()
        if not repeated:
            return []
        values = ", ".join(name for name in map(_name, self._columns) if name not in ('"_dlt_id"',))
        rows = self._con.execute(
            f"with repeated(file, id) as (values {', '.join('(?, ?)' for _ in repeated)}) "
            f"select distinct _source_file from {self._table} join repeated "
            f"on _source_file = repeated.file and message_id = repeated.id "
            f"where _dlt_load_id = ? group by _source_file, message_id "
            f"having count(distinct hash({values})) > 1",
            [value for pair in repeated for value in pair] + [self._load_id],
        ).fetchall()
        return sorted(str(file) for (file,) in rows)


class Inserted:
    """`rows` inserted; the rows of the files `left` were taken out again (read the usual way)."""

    def __init__(self, rows: int, left: list[str]) -> None:
        self.rows = rows
        self.left = left


class Refused:
    """Nothing read: an unknown field needs a column first (`file_url` has it, if known)."""

    def __init__(self, file_url: str | None) -> None:
        self.file_url = file_url


class Failed:
    """A statement failed: `files` have lines it cannot insert ([]: which is not known).

    `not_plain`: those of `files` with a line the fast path cannot vouch for (read them line
    by line), the others a value of another type than its column's. `keys`: a line's list of
    top-level keys had not been read (`learn`) yet.
    """

    def __init__(
        self, files: list[str], not_plain: list[str] | None = None, keys: bool = False
    ) -> None:
        self.files = files
        self.not_plain = not_plain or []
        self.keys = keys


Outcome = Inserted | Refused | Failed


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
