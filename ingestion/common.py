"""Pieces every loader shares: where the warehouse is, and how bad records are set aside."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
from dlt.common.schema.typing import TColumnSchema, TDataType

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WAREHOUSE = PROJECT_ROOT / "data" / "warehouse.duckdb"
REJECTS_TABLE = "rejected_records"


def warehouse_path() -> Path:
    """The DuckDB file that dlt loads and dbt builds in; `WAREHOUSE_PATH` overrides it."""
    configured = os.environ.get("WAREHOUSE_PATH")
    path = Path(configured) if configured else DEFAULT_WAREHOUSE
    if not path.is_absolute():
        path = PROJECT_ROOT / path
    return path


ENGINES = ("duckdb", "postgres")
POSTGRES_SETTING = "DESTINATION__POSTGRES__CREDENTIALS"


class WarehouseSettingError(ValueError):
    """`WAREHOUSE` names no supported engine, or the PostgreSQL connection is not set."""


def warehouse_engine() -> str:
    """`WAREHOUSE`: `duckdb` (the default, an embedded file) or `postgres` (a server).

    The one setting that switches dlt's destination, dbt's target, the Great Expectations
    checks and the Dagster resources (docs/postgres.md).
    """
    engine = (os.environ.get("WAREHOUSE") or "duckdb").strip().lower()
    if engine not in ENGINES:
        raise WarehouseSettingError(
            f"WAREHOUSE={engine!r} is not supported: set WAREHOUSE=duckdb (the default) or "
            "WAREHOUSE=postgres (docs/postgres.md)"
        )
    return engine


def postgres_credentials() -> Any:
    """The server dlt loads into when `WAREHOUSE=postgres`, from dlt's usual secrets.

    `DESTINATION__POSTGRES__CREDENTIALS=postgresql://user:password@host:5432/database`, or its
    parts (`DESTINATION__POSTGRES__CREDENTIALS__HOST`, ...), or `[destination.postgres]
    credentials = "..."` in `.dlt/secrets.toml`. dbt and the GX checks read the same setting.
    """
    from dlt.common.configuration import resolve_configuration
    from dlt.common.configuration.exceptions import ConfigFieldMissingException
    from dlt.destinations.impl.postgres.configuration import PostgresCredentials

    try:
        return resolve_configuration(
            PostgresCredentials(), sections=("destination", "postgres", "credentials")
        )
    except ConfigFieldMissingException as error:
        missing = ", ".join(error.fields)
        raise WarehouseSettingError(
            f"WAREHOUSE=postgres, but the PostgreSQL connection lacks: {missing}. "
            f"Set {POSTGRES_SETTING}=postgresql://user:password@host:5432/database, or "
            "`credentials` under [destination.postgres] in .dlt/secrets.toml (docs/postgres.md)."
        ) from None


def postgres_url() -> str:
    """`postgres_credentials()` as one connection string (psycopg2, SQLAlchemy, GX)."""
    return str(postgres_credentials().to_native_representation())


def dbt_env() -> dict[str, str]:
    """Environment for a dbt process: its target, and where that target's warehouse is.

    `dbt_project/profiles.yml` reads these: `WAREHOUSE` picks the output, `WAREHOUSE_PATH` is
    the DuckDB file, and the `DBT_POSTGRES_*` variables are the server (taken apart from the
    dlt setting so that dlt and dbt can never point at two different databases).
    """
    engine = warehouse_engine()
    env = {"WAREHOUSE": engine, "WAREHOUSE_PATH": str(warehouse_path())}
    if engine == "postgres":
        credentials = postgres_credentials()
        env.update(
            DBT_POSTGRES_HOST=str(credentials.host),
            DBT_POSTGRES_PORT=str(credentials.port or 5432),
            DBT_POSTGRES_USER=str(credentials.username),
            DBT_POSTGRES_PASSWORD=str(credentials.password or ""),
            DBT_POSTGRES_DBNAME=str(credentials.database),
            # UTC days everywhere (METRICS.md), whatever the server's default zone is.
            PGOPTIONS="-c TimeZone=UTC",
        )
    return env


def describe_warehouse() -> str:
    """The warehouse in words, for progress output and summaries (no password)."""
    if warehouse_engine() == "postgres":
        server = postgres_credentials()
        return f"PostgreSQL {server.host}:{server.port}/{server.database} (WAREHOUSE=postgres)"
    return str(warehouse_path())


def duckdb_destination(global_config: dict[str, Any] | None = None) -> Any:
    """A dlt duckdb destination bound to the one warehouse file.

    `global_config` sets DuckDB options on each connection dlt opens, e.g. a `memory_limit`
    so that a large merge spills to disk instead of growing without bound.
    """
    path = warehouse_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not global_config:
        return dlt.destinations.duckdb(str(path))
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

    return dlt.destinations.duckdb(DuckDbCredentials(str(path), global_config=global_config))


def destination(duckdb_config: dict[str, Any] | None = None) -> Any:
    """The dlt destination `WAREHOUSE` selects; `duckdb_config` applies to DuckDB only."""
    if warehouse_engine() == "postgres":
        return dlt.destinations.postgres(credentials=postgres_credentials())
    return duckdb_destination(duckdb_config)


def pipelines_dir() -> Path:
    """Where dlt keeps pipeline state: beside the warehouse, so a fresh warehouse starts fresh.

    On PostgreSQL the folder is named after the server and database: dlt restores a pipeline's
    state from the destination when the local folder is missing, and must never mix two.
    """
    if warehouse_engine() == "postgres":
        credentials = postgres_credentials()
        name = f"postgres-{credentials.host}-{credentials.port}-{credentials.database}"
        return warehouse_path().parent / ".dlt_pipelines" / name
    return warehouse_path().parent / ".dlt_pipelines" / warehouse_path().stem


def reject_row(
    source: str, location: str, record: str, reason: str, *, per_location: bool = False
) -> dict[str, Any]:
    """Build one rejects-table row; its id makes re-reading the same bad record idempotent.

    API records are identified by their text (a page URL changes with the cursor). File lines
    are identified by `location` too (`per_location`): the same broken text on two lines, or in
    two files, is two bad records, and each must be counted.
    """
    identity = f"{source}\x00{location if per_location else ''}\x00{record}\x00{reason}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    return {
        "reject_id": digest,
        "source": source,
        "location": location,
        "record": record,
        "reason": reason,
        "rejected_at": datetime.now(UTC),
    }


REJECT_HINTS = dict(
    table_name=REJECTS_TABLE,
    write_disposition="merge",
    primary_key="reject_id",
    columns={
        "reject_id": {"data_type": "text", "nullable": False},
        "source": {"data_type": "text"},
        "location": {"data_type": "text"},
        "record": {"data_type": "text"},
        "reason": {"data_type": "text"},
        "rejected_at": {"data_type": "timestamp"},
    },
)


def mark_reject(row: dict[str, Any]) -> Any:
    """Route a reject row (from `reject_row`) to the dataset's rejects table from any resource."""
    hints = dlt.mark.make_hints(**REJECT_HINTS)  # type: ignore[arg-type]
    return dlt.mark.with_hints(row, hints, create_table_variant=True)


def make_pipeline(
    pipeline_name: str, dataset_name: str, duckdb_config: dict[str, Any] | None = None
) -> dlt.Pipeline:
    """A dlt pipeline into the warehouse `WAREHOUSE` selects, its state kept beside the file."""
    # Arrow batches skip dlt's row normaliser; without these they would carry no load id, and
    # staging could not tell rows of completed loads from rows a crashed load left behind.
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    dlt.config["normalize.parquet_normalizer.add_dlt_id"] = True
    # Once a load is committed its job files are dead weight (about 90-340 MB per million
    # events, kept forever by default); the package's state and schema stay for dlt.
    dlt.config["load.delete_completed_jobs"] = True
    return dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=destination(duckdb_config),
        dataset_name=dataset_name,
        pipelines_dir=str(pipelines_dir()),
    )


def list_new_files(
    bucket_url: str, suffixes: tuple[str, ...], seen: dict[str, str]
) -> list[tuple[str, str, Any]]:
    """Files under `bucket_url` (any depth) with one of `suffixes` that `seen` has not recorded.

    `seen` maps a file URL to the modification time it had when it was read, so a file is read
    once and read again only when it is replaced. Returns (file_url, mtime, fs_client) sorted by
    path, so loads are deterministic. A local entry that cannot be examined (a dangling symlink,
    a symlink loop, no permission) is listed with `UNREADABLE_MTIME` and its error as its mtime:
    the loader's attempt to read it fails and sets it aside whole, and the rest of the folder
    still loads (listing it fails for nobody).
    """
    from dlt.common.storages.fsspec_filesystem import fsspec_filesystem, glob_files

    if "://" not in bucket_url:
        bucket_url = Path(bucket_url).resolve().as_uri()
    protocol = bucket_url.split("://", 1)[0]
    if protocol == "file":
        fs_client, _ = fsspec_filesystem(protocol)
        listing = _local_files(fs_client, bucket_url, suffixes)
    else:
        fs_client = remote_filesystem(bucket_url)
        listing = [
            (item["file_url"], str(item["modification_date"]))
            for item in glob_files(fs_client, bucket_url, "**")
            if item["file_url"].endswith(suffixes)
        ]
    new = [(url, mtime, fs_client) for url, mtime in listing if seen.get(url) != mtime]
    new.sort(key=lambda entry: entry[0])
    return new


def remote_filesystem(bucket_url: str, section: str = "segment") -> Any:
    """An authenticated fsspec client for an `s3://`, `gs://`, `az://` ... bucket, through dlt.

    Credentials come from dlt's usual places for the source, e.g.
    `SOURCES__SEGMENT__CREDENTIALS__AWS_ACCESS_KEY_ID` (README, "Running on your own data");
    a missing one, or a missing fsspec package (`pip install "dlt[gs]"`, `"dlt[az]"`), fails
    with dlt's message naming it.
    """
    from dlt.common.configuration import resolve_configuration
    from dlt.common.storages.configuration import FilesystemConfiguration
    from dlt.common.storages.fsspec_filesystem import fsspec_from_config

    config = resolve_configuration(
        FilesystemConfiguration(bucket_url=bucket_url), sections=("sources", section)
    )
    fs_client, _ = fsspec_from_config(config)
    return fs_client


UNREADABLE_MTIME = "unreadable"


def _local_files(
    fs_client: Any, bucket_url: str, suffixes: tuple[str, ...]
) -> list[tuple[str, str]]:
    """(file_url, mtime) of a local folder, as dlt's `glob_files` names them, never raising.

    Directory symlinks are followed once (a loop is walked no further); a file entry whose
    `stat` fails gets `UNREADABLE_MTIME: <error>` so the loader sets it aside with the reason.
    """
    from dlt.common.storages.configuration import FilesystemConfiguration
    from dlt.common.storages.fsspec_filesystem import MTIME_DISPATCH

    root = FilesystemConfiguration.make_local_path(bucket_url)
    found: list[tuple[str, str]] = []
    visited: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in visited:  # a symlink back up the tree: walked already
            dirs[:] = []
            continue
        visited.add(real)
        dirs.sort()
        for name in sorted(files):
            if not name.endswith(suffixes):
                continue
            path = os.path.join(folder, name)
            try:
                info = fs_client.info(path)
                url = FilesystemConfiguration.make_file_url(path)
            except (OSError, RuntimeError) as error:  # RuntimeError: pathlib's symlink loop
                url = Path(real, name).as_uri()  # the entry itself: its target is the problem
                problem = getattr(error, "strerror", None) or str(error)
                found.append((url, f"{UNREADABLE_MTIME}: {problem}"))
                continue
            if info["type"] == "directory":
                continue
            found.append((url, str(MTIME_DISPATCH["file"](info))))
    return found


# --- Vendor APIs: settings, HTTP with retries, id normalisation (zendesk, typeform, stripe) ---


class MissingSettingError(ValueError):
    """A source was run without a setting it needs; the message names the env var to set."""


class CredentialRejectedError(RuntimeError):
    """The vendor refused the credential (401/403): retrying cannot help, a person must act."""


class VendorApiError(RuntimeError):
    """The vendor kept failing (5xx, 429, connection) after the bounded retries."""


def env_var_name(source: str, setting: str) -> str:
    """Name the env var dlt reads for a source setting, e.g. SOURCES__ZENDESK__API_TOKEN."""
    return f"SOURCES__{source.upper()}__{setting.upper()}"


def require_setting(source: str, value: Any, setting: str, hint: str = "") -> Any:
    """Fail early, naming the env var and toml key, instead of dlt's long lookup trace."""
    if value is None or value == "":
        raise MissingSettingError(
            f"{source}: missing setting '{setting}'. Set the environment variable "
            f"{env_var_name(source, setting)} or `{setting}` under [sources.{source}] in "
            f".dlt/secrets.toml (or config.toml), or pass {setting}= to the source.{hint}"
        )
    return value


class PagingError(VendorApiError):
    """The vendor's paging cannot be trusted (a cursor that repeats, a stream with no end).

    Raised instead of stopping quietly: a load that ended there would report success on
    partial data.
    """


HTTP_MAX_ATTEMPTS = 5
HTTP_BACKOFF_SECONDS = 0.5
HTTP_MAX_WAIT_SECONDS = 60.0
HTTP_TIMEOUT_SECONDS = 60.0
# Statuses that a healthy endpoint can answer for a moment (a proxy's 404 during a deploy, a
# request timeout): retried like 5xx. Other 4xx are our request's fault and fail at once.
HTTP_RETRIED_CLIENT_STATUSES = frozenset({404, 408, 409})
# A source reads at most this many pages per resource and run unless `max_pages` says otherwise:
# a stream that never ends must stop with an error, not page forever holding the pool slot.
DEFAULT_MAX_PAGES = 10_000

EnvelopeCheck = Callable[[dict[str, Any]], "str | None"]


def list_envelope(key: str) -> EnvelopeCheck:
    """Check that a page body holds its records as a list under `key` (null counts as empty)."""

    def check(body: dict[str, Any]) -> str | None:
        value = body.get(key)
        if value is None or isinstance(value, list):
            return None
        return f"`{key}` is {type(value).__name__}, not a list of records"

    return check


def request_url(url: str, params: dict[str, Any] | None) -> str:
    """The full URL a GET of `url` with `params` asks for, for messages and reject locations."""
    import requests

    return str(requests.Request("GET", url, params=params).prepare().url)


def get_json(
    session: Any,
    url: str,
    params: dict[str, Any] | None,
    *,
    source: str,
    credential_hint: str,
    max_attempts: int = HTTP_MAX_ATTEMPTS,
    envelope: EnvelopeCheck | None = None,
) -> tuple[dict[str, Any], str]:
    """GET a JSON object, riding out rate limits and transient failures; return (body, url).

    429 waits the server's `Retry-After` (capped at HTTP_MAX_WAIT_SECONDS); 5xx, 404/408/409,
    connection errors and a page that is not what the vendor documents (not JSON, an HTML
    error page, not an object, `envelope` failing) back off exponentially; each counts
    towards `max_attempts`, then VendorApiError names the page URL. 401/403 fail at once with
    CredentialRejectedError naming the setting to fix: retrying cannot help. The returned url
    is the one actually requested, used as the location of records set aside.
    """
    import requests  # local: only the API loaders need it

    page = request_url(url, params)
    last_problem = ""
    for attempt in range(1, max_attempts + 1):
        wait = min(HTTP_BACKOFF_SECONDS * 2 ** (attempt - 1), HTTP_MAX_WAIT_SECONDS)
        try:
            response = session.get(url, params=params, timeout=HTTP_TIMEOUT_SECONDS)
        except (requests.ConnectionError, requests.Timeout) as exc:
            last_problem = f"connection error: {exc}"
        else:
            status = response.status_code
            if status in (401, 403):
                raise CredentialRejectedError(
                    f"{source}: the API rejected the credential (HTTP {status} for "
                    f"{response.url}): {response.text[:300]}. Check {credential_hint}; "
                    "not retried, a new credential is needed."
                )
            if status == 429:
                wait = min(
                    _retry_after(response.headers.get("Retry-After"), wait), HTTP_MAX_WAIT_SECONDS
                )
                last_problem = f"rate limited (HTTP 429, Retry-After {wait:g}s)"
            elif status >= 500 or status in HTTP_RETRIED_CLIENT_STATUSES:
                last_problem = f"HTTP {status}: {response.text[:300]}"
            elif status >= 400:
                raise VendorApiError(
                    f"{source}: HTTP {status} for {response.url}: {response.text[:500]}. "
                    "Check the source's base_url and settings."
                )
            else:
                problem, body = _page_problem(response, envelope)
                if body is not None:
                    return body, str(response.url)
                last_problem = problem
        if attempt < max_attempts:
            time.sleep(wait)
    raise VendorApiError(
        f"{source}: gave up on page {page} after {max_attempts} tries: {last_problem}"
    )


def _page_problem(
    response: Any, envelope: EnvelopeCheck | None
) -> tuple[str, dict[str, Any] | None]:
    """(problem, None) when a 2xx page is not the documented JSON object, else ("", body)."""
    content_type = response.headers.get("Content-Type", "")
    try:
        # The standard parser, not requests' (simplejson refuses NaN): a NaN or Infinity in
        # one record must set that record aside, not fail the whole page.
        body = json.loads(response.content)
    except ValueError:
        return (
            f"HTTP {response.status_code} but not JSON ({content_type or 'no content type'}): "
            f"{response.text[:200]!r}",
            None,
        )
    if not isinstance(body, dict):
        return f"the body is a JSON {type(body).__name__}, not an object", None
    problem = envelope(body) if envelope else None
    if problem:
        return f"not the documented page: {problem}", None
    return "", body


def check_page_budget(source: str, resource: str, pages: int, max_pages: int, url: str) -> None:
    """Fail once a resource has read `max_pages` pages in one run (a stream with no end)."""
    if pages >= max_pages:
        raise PagingError(
            f"{source}.{resource}: read {pages} pages without reaching the end of the stream "
            f"(last page {url}); stopping. Raise SOURCES__{source.upper()}__MAX_PAGES if the "
            "data really is that large, or report the endless stream to the vendor."
        )


def repeated_cursor(source: str, resource: str, cursor: str, url: str) -> PagingError:
    """The error for a vendor cursor that points back to a page already read."""
    return PagingError(
        f"{source}.{resource}: the vendor returned a cursor it had already given ({cursor!r}, "
        f"after page {url}); the stream would loop, so the load stops instead of ending on "
        "partial data. Rerun later; if it persists, report it to the vendor."
    )


class FetchProblems:
    """Errors that stopped a resource's paging; raised once the pages fetched are committed.

    A resource whose stream breaks mid-way (a bad page after retries, a repeating cursor)
    yields what it already fetched and records the error here; the load then commits those
    rows (and the cursor they reached), and `raise_if_any` fails the run, naming every page.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.messages: list[str] = []

    def add(self, error: Exception) -> None:
        """Record why a resource stopped."""
        self.messages.append(str(error))

    def raise_if_any(self) -> None:
        """Fail the load when any resource stopped early; the fetched pages are already kept."""
        if self.messages:
            raise VendorApiError(
                f"{self.source}: the load kept every page fetched before the failure, but is "
                "incomplete: " + " | ".join(self.messages)
            )


def vendor_error_in(error: BaseException) -> VendorApiError | CredentialRejectedError | None:
    """The vendor error inside dlt's wrapped exception chain (PipelineStepFailed...), if any."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, VendorApiError | CredentialRejectedError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def run_api_load(
    pipeline: dlt.Pipeline, source: Any, row_counts: dict[str, int] | None, problems: FetchProblems
) -> Any:
    """Run an API source's load; surface the vendor's error itself, not dlt's wrapper.

    A credential or vendor failure raised inside a resource reaches the caller as that error
    (so Dagster can tell a rejected credential from a transient fault); a resource that
    stopped early fails the run after the pages it fetched are committed.
    """
    try:
        info = run_counted(pipeline, source, row_counts)
    except Exception as exc:
        vendor_error = vendor_error_in(exc)
        if vendor_error is None:
            raise
        raise vendor_error from exc
    problems.raise_if_any()
    return info


def guarded_pages(pages: Iterator[Any], problems: FetchProblems) -> Iterator[Any]:
    """Yield a resource's records; a vendor error after retries is recorded, not raised.

    Credential errors still raise at once: nothing fetched with a refused key can follow.
    """
    try:
        yield from pages
    except CredentialRejectedError:
        raise
    except VendorApiError as exc:
        problems.add(exc)


def _retry_after(header: str | None, default: float) -> float:
    """Seconds from a Retry-After header (seconds or HTTP date); the backoff if unreadable."""
    if not header:
        return default
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        from email.utils import parsedate_to_datetime

        return max(0.0, (parsedate_to_datetime(header) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return default


def _is_id_key(key: str) -> bool:
    return key == "id" or key.endswith("_id")


def normalize_ids(value: Any, int_keys: frozenset[str] = frozenset()) -> Any:
    """Integral float ids/epochs (7253394974479.0) become ints; empty-string ids become null.

    Applies to `id`, `*_id`, `*_ids` and the given `int_keys`, at any depth. Other floats are
    left alone: turning 25.0 into 25 elsewhere would split a column into two dlt variants.
    """
    if isinstance(value, list):
        return [normalize_ids(item, int_keys) for item in value]
    if not isinstance(value, dict):
        return value
    result: dict[str, Any] = {}
    for key, item in value.items():
        if _is_id_key(key) or key in int_keys:
            item = _int_or_same(item)
            if item == "" and _is_id_key(key):
                item = None
        elif key.endswith("_ids") and isinstance(item, list):
            item = [_int_or_same(element) for element in item]
        elif isinstance(item, dict | list):
            item = normalize_ids(item, int_keys)
        result[key] = item
    return result


def _int_or_same(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def parse_timestamp(value: Any) -> datetime | None:
    """Read ISO-8601 text or Unix seconds as an aware UTC datetime; None if unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class RecordRejected(ValueError):
    """Raised by a record cleaner; its message is the reason stored in rejected_records."""


def split_page(
    items: Any,
    *,
    source: str,
    location: str,
    clean: Any,
    counts: dict[str, int],
) -> Iterator[Any]:
    """Yield cleaned records of one API page and route the bad ones to rejected_records.

    `clean(record) -> dict` raises RecordRejected for a bad record; the rest of the page still
    loads. `counts` accumulates "loaded" and "rejected" so the caller can report them.
    """
    if not isinstance(items, list):
        items = [items]
    for item in items:
        try:
            if not isinstance(item, dict):
                raise RecordRejected(f"page item is not a JSON object ({type(item).__name__})")
            record = clean(item)
        except RecordRejected as exc:
            counts["rejected"] = counts.get("rejected", 0) + 1
            text = json.dumps(item, sort_keys=True, ensure_ascii=False, default=str)
            yield mark_reject(reject_row(source, location, text, str(exc)))
            continue
        counts["loaded"] = counts.get("loaded", 0) + 1
        yield record


def merge_resource(
    data: Any,
    *,
    name: str,
    primary_key: str,
    columns: Any = None,
    nested_hints: Any = None,
) -> Any:
    """Build a merge resource that may `mark_reject` rows without leaking its hints to them.

    dlt builds a table variant from the resource's hints at the moment it first sees it, so
    registering the rejects variant before the resource's own key and columns keeps
    `rejected_records` free of, e.g., a NOT NULL `id` column that reject rows never have.
    """
    resource = dlt.resource(data, name=name)
    resource.apply_hints(create_table_variant=True, **REJECT_HINTS)
    resource.apply_hints(
        write_disposition="merge",
        primary_key=primary_key,
        columns=columns,
        nested_hints=nested_hints,
    )
    return resource


def column(data_type: TDataType, nullable: bool = True) -> TColumnSchema:
    """Return a fresh column hint: dlt writes into hint dicts, so they must never be shared."""
    hint: TColumnSchema = {"data_type": data_type}
    if not nullable:
        hint["nullable"] = False
    return hint


def add_row_counts(pipeline: dlt.Pipeline, row_counts: dict[str, int] | None) -> None:
    """Add the rows per table of the pipeline's last run to `row_counts` (when given)."""
    trace = pipeline.last_trace
    if row_counts is None or trace is None or trace.last_normalize_info is None:
        return
    for table, rows in trace.last_normalize_info.row_counts.items():
        row_counts[table] = row_counts.get(table, 0) + rows


def run_counted(pipeline: dlt.Pipeline, source: Any, row_counts: dict[str, int] | None) -> Any:
    """Run one load and add its rows per table to `row_counts`; return dlt's LoadInfo."""
    info = pipeline.run(source)
    add_row_counts(pipeline, row_counts)
    return info
