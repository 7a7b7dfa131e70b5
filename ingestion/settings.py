"""Settings: where the warehouse is (engine, DuckDB file, PostgreSQL server), what dbt gets.

The one place that reads the warehouse settings (`WAREHOUSE`, `WAREHOUSE_PATH`, dlt's
`DESTINATION__POSTGRES__CREDENTIALS`); everything else asks here or receives the values
(`WarehouseSettings`). Also the error for a source setting that is missing.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


DEFAULT_WAREHOUSE = PROJECT_ROOT / "data" / "warehouse.duckdb"


def warehouse_path() -> Path:
    """The DuckDB file that dlt loads and dbt builds in; `WAREHOUSE_PATH` overrides it."""
    configured = os.environ.get("WAREHOUSE_PATH")
    path = Path(configured) if configured else DEFAULT_WAREHOUSE
    if not path.is_absolute():
        path = PROJECT_ROOT / path
    return path


ENGINES = ("duckdb", "postgres", "spark")


POSTGRES_SETTING = "DESTINATION__POSTGRES__CREDENTIALS"


class WarehouseSettingError(ValueError):
    """`WAREHOUSE` names no supported engine, or the PostgreSQL connection is not set."""


def warehouse_engine() -> str:
    """`WAREHOUSE`: `duckdb` (the default, an embedded file), `postgres` (a server) or `spark`.

    The one engine switch: it picks dlt's destination, dbt's target, the Great Expectations
    checks and the Dagster resources (docs/postgres.md, docs/spark.md). A new engine starts here
    and in `WarehouseSettings`.
    """
    engine = (os.environ.get("WAREHOUSE") or "duckdb").strip().lower()
    if engine not in ENGINES:
        raise WarehouseSettingError(
            f"WAREHOUSE={engine!r} is not supported: set WAREHOUSE=duckdb (the default), "
            "WAREHOUSE=postgres (docs/postgres.md) or WAREHOUSE=spark (docs/spark.md)"
        )
    if engine == "spark" and importlib.util.find_spec("pyspark") is None:
        raise WarehouseSettingError(
            "WAREHOUSE=spark, but Spark is not installed: it is an extra. Run "
            "`pip install -e '.[spark]'` in the project's environment (`WAREHOUSE=spark make run` "
            "does it), and see docs/spark.md for Java 17."
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


SPARK_BUCKET_SETTING = "DESTINATION__FILESYSTEM__BUCKET_URL"


def spark_bucket_url() -> str:
    """Where dlt lands the raw Parquet files when `WAREHOUSE=spark` (docs/spark.md).

    dlt's own filesystem setting (`DESTINATION__FILESYSTEM__BUCKET_URL`: `file://`, `s3://`,
    `gs://`, `az://`); by default the folder `parquet/` beside the warehouse file, so a test's
    `WAREHOUSE_PATH` in a scratch folder keeps its Parquet files there too.
    """
    configured = (os.environ.get(SPARK_BUCKET_SETTING) or "").strip()
    if configured:
        return configured.rstrip("/")
    return (warehouse_path().parent / "parquet").as_uri()


def spark_home() -> Path:
    """The local Spark session's metastore (Derby) and managed tables, beside the warehouse."""
    return warehouse_path().parent / "spark"


# Our own sessions (reports, statistics, checks) count UTC days, as dbt does (docs/metrics.md).
POSTGRES_UTC_OPTIONS = "options=-c%20TimeZone%3DUTC"


@dataclass(frozen=True)
class PostgresServer:
    """The PostgreSQL server of `WAREHOUSE=postgres`, resolved once from dlt's credentials."""

    host: str
    port: int | None
    user: str
    database: str
    password: str = field(default="", repr=False)
    native_url: str = field(default="", repr=False)

    @classmethod
    def from_credentials(cls, credentials: Any) -> PostgresServer:
        """Take dlt's resolved `PostgresCredentials` apart (dlt and dbt share one server)."""
        return cls(
            host=str(credentials.host),
            port=credentials.port,
            user=str(credentials.username),
            database=str(credentials.database),
            password=str(credentials.password or ""),
            native_url=str(credentials.to_native_representation()),
        )

    def url(self) -> str:
        """One connection string (psycopg2, SQLAlchemy, GX), its sessions on UTC."""
        separator = "&" if "?" in self.native_url else "?"
        return f"{self.native_url}{separator}{POSTGRES_UTC_OPTIONS}"


@dataclass(frozen=True)
class WarehouseSettings:
    """Where the warehouse is, as values: read once (`from_env`) and handed to whoever needs it.

    Dagster's definitions build one and pass it to their assets and resources; the dbt process
    gets `dbt_env()` as its environment instead of this process exporting it.
    """

    engine: str
    path: Path
    postgres: PostgresServer | None = None
    spark_bucket_url: str | None = None

    @classmethod
    def from_env(cls) -> WarehouseSettings:
        """Read the settings (after `.env` is loaded); a bad or incomplete one names the fix."""
        engine = warehouse_engine()
        return cls(
            engine=engine,
            path=warehouse_path(),
            postgres=(
                PostgresServer.from_credentials(postgres_credentials())
                if engine == "postgres"
                else None
            ),
            spark_bucket_url=spark_bucket_url() if engine == "spark" else None,
        )

    @property
    def server(self) -> PostgresServer:
        """The PostgreSQL server; only `WAREHOUSE=postgres` has one."""
        if self.postgres is None:
            raise WarehouseSettingError(
                f"WAREHOUSE={self.engine}: there is no PostgreSQL server to connect to "
                "(set WAREHOUSE=postgres, docs/postgres.md)"
            )
        return self.postgres

    @property
    def spark_home(self) -> Path:
        """The local Spark session's metastore and managed tables, beside the warehouse."""
        return self.path.parent / "spark"

    def postgres_url(self) -> str:
        """The server as one connection string (psycopg2, SQLAlchemy, GX)."""
        return self.server.url()

    def dbt_env(self) -> dict[str, str]:
        """Environment for a dbt process: its target, and where that target's warehouse is.

        `dbt_project/profiles.yml` reads these: `WAREHOUSE` picks the output, `WAREHOUSE_PATH`
        is the DuckDB file, and the `DBT_POSTGRES_*` variables are the server (taken apart from
        the dlt setting so that dlt and dbt can never point at two different databases).
        """
        env = {"WAREHOUSE": self.engine, "WAREHOUSE_PATH": str(self.path)}
        if self.engine == "postgres":
            server = self.server
            env.update(
                DBT_POSTGRES_HOST=server.host,
                DBT_POSTGRES_PORT=str(server.port or 5432),
                DBT_POSTGRES_USER=server.user,
                DBT_POSTGRES_PASSWORD=server.password,
                DBT_POSTGRES_DBNAME=server.database,
                # UTC days everywhere (docs/metrics.md), whatever the server's default zone is.
                PGOPTIONS="-c TimeZone=UTC",
            )
        if self.engine == "spark":
            home = self.spark_home
            env.update(
                DBT_SPARK_BUCKET_URL=str(self.spark_bucket_url),
                DBT_SPARK_WAREHOUSE_DIR=str(home / "warehouse"),
                DBT_SPARK_METASTORE_URL=(
                    f"jdbc:derby:;databaseName={home / 'metastore_db'};create=true"
                ),
            )
        return env

    def describe(self) -> str:
        """The warehouse in words, for progress output and summaries (no password)."""
        if self.engine == "postgres":
            server = self.server
            return f"PostgreSQL {server.host}:{server.port}/{server.database} (WAREHOUSE=postgres)"
        if self.engine == "spark":
            return f"Spark over the Parquet files in {self.spark_bucket_url} (WAREHOUSE=spark)"
        return str(self.path)

    def pipelines_dir(self) -> Path:
        """Where dlt keeps pipeline state: beside the warehouse, so a fresh warehouse starts fresh.

        On PostgreSQL the folder is named after the server and database: dlt restores a
        pipeline's state from the destination when the local folder is missing, and must never
        mix two.
        """
        folder = self.path.parent / ".dlt_pipelines"
        if self.engine == "postgres":
            server = self.server
            return folder / f"postgres-{server.host}-{server.port}-{server.database}"
        if self.engine == "spark":
            return folder / "spark"
        return folder / self.path.stem


# The same answers for callers that read the environment where they stand (ingestion/).
def postgres_url() -> str:
    """`WarehouseSettings.postgres_url` of the current environment."""
    return WarehouseSettings.from_env().postgres_url()


def dbt_env() -> dict[str, str]:
    """`WarehouseSettings.dbt_env` of the current environment."""
    return WarehouseSettings.from_env().dbt_env()


def describe_warehouse() -> str:
    """`WarehouseSettings.describe` of the current environment."""
    return WarehouseSettings.from_env().describe()


def pipelines_dir() -> Path:
    """`WarehouseSettings.pipelines_dir` of the current environment."""
    return WarehouseSettings.from_env().pipelines_dir()


class MissingSettingError(ValueError):
    """A source was run without a setting it needs; the message names the env var to set."""


def env_var_name(source: str, setting: str) -> str:
    """Name the env var dlt reads for a source setting, e.g. SOURCES__ZENDESK__API_TOKEN."""
    return f"SOURCES__{source.upper()}__{setting.upper()}"


def require_setting(source: str, value: Any, setting: str, hint: str = "") -> Any:
    """Fail early, naming the env var and toml key, instead of dlt's long lookup trace.

    The message also names the way out for a team that does not use the source at all.
    """
    if value is None or value == "":
        raise MissingSettingError(
            f"{source}: missing setting '{setting}': set {env_var_name(source, setting)} or "
            f"`{setting}` under [sources.{source}] in .dlt/secrets.toml or config.toml{hint}. "
            f"Not using {source}? Set {switched_off(source)} "
            f"(`{ENABLED_SETTING} = false` under [sources.{source}])."
        )
    return value


ENABLED_SETTING = "enabled"


def source_enabled(source: str) -> bool:
    """False when the team said it does not use the source (`SOURCES__<NAME>__ENABLED=false`).

    Read through dlt's config resolution (environment, `.dlt/config.toml`, secrets), as the
    source's other settings are; unset means used. A disabled source loads nothing and only
    creates its raw tables empty, so every mart builds from the other sources (README,
    "Configure the sources").
    """
    import dlt
    from dlt.common.configuration.exceptions import ConfigValueCannotBeCoercedException

    key = f"sources.{source}.{ENABLED_SETTING}"
    try:
        value = dlt.config.get(key, bool)
    except ConfigValueCannotBeCoercedException:
        raise MissingSettingError(
            f"{source}: {env_var_name(source, ENABLED_SETTING)} (`{ENABLED_SETTING}` under "
            f"[sources.{source}]) must be true or false"
        ) from None
    return value is not False


def not_used_note(source: str) -> str:
    """One line saying a source is switched off, and by which setting."""
    return f"{source}: not used ({switched_off(source)}), nothing loaded"


def switched_off(source: str) -> str:
    """The setting, as an environment variable, that says a source is not used."""
    return f"{env_var_name(source, ENABLED_SETTING)}=false"
