"""Paths and the one warehouse setting, resolved once for every Dagster piece."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ingestion.common import PROJECT_ROOT, dbt_env, warehouse_path

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DBT_MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
# The venv's dbt, not whichever `dbt` is first on PATH (dagster-dbt would run that one).
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")
OWNERS = ["team:data-engineering"]
# Every step that opens the warehouse for writing shares this pool; dagster.yaml gives it one
# slot, so two runs started together queue their writes instead of failing on DuckDB's lock.
WAREHOUSE_POOL = "warehouse"
# dagster-dbt gives each `dbt build` its own target folder (11-13 MB); keep the newest few.
DBT_TARGETS_KEPT = 5
ENV_FILE = PROJECT_ROOT / ".env"


def load_project_env() -> Path | None:
    """Read the project's `.env` (as .env.example says) without overriding exported variables.

    Relative paths in it (WAREHOUSE_PATH, DAGSTER_HOME) are taken from the project root, as
    everywhere else.
    """
    if not ENV_FILE.exists():
        return None
    from dotenv import dotenv_values

    for key, value in dotenv_values(ENV_FILE).items():
        if not value or key in os.environ:  # an empty `KEY=` in a copied example is unset
            continue
        if key == "DAGSTER_HOME" and not Path(value).is_absolute():
            value = str(PROJECT_ROOT / value)
        os.environ[key] = value
    return ENV_FILE


def prune_dbt_targets(keep: int = DBT_TARGETS_KEPT) -> list[Path]:
    """Delete all but the newest `keep` per-run dbt target folders; return what was deleted."""
    target = DBT_PROJECT_DIR / "target"
    if not target.is_dir():
        return []
    runs = [p for p in target.iterdir() if p.is_dir() and p.name.startswith("productops_dbt-")]
    runs.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in runs[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    return runs[keep:]


def export_warehouse_settings() -> Path:
    """Export the warehouse settings dbt reads (`ingestion.common.dbt_env`) into this process.

    WAREHOUSE_PATH becomes absolute (dbt runs in dbt_project/ and must see that file), and with
    `WAREHOUSE=postgres` the server's parts are exported for the dbt profile.
    """
    os.environ.update(dbt_env())
    return warehouse_path()


def warehouse_identity() -> str:
    """What a parsed manifest is bound to: the DuckDB file, or the PostgreSQL database."""
    env = dbt_env()
    if env["WAREHOUSE"] == "postgres":
        return "postgres:{DBT_POSTGRES_HOST}:{DBT_POSTGRES_PORT}/{DBT_POSTGRES_DBNAME}".format(
            **env
        )
    return env["WAREHOUSE_PATH"]


def ensure_dbt_manifest() -> Path:
    """Parse the dbt project when its manifest is missing or older than a model, seed or macro."""
    sources = [
        p
        for folder in ("models", "seeds", "macros", "tests")
        for p in (DBT_PROJECT_DIR / folder).rglob("*")
        if p.is_file()
    ]
    sources.append(DBT_PROJECT_DIR / "dbt_project.yml")
    # dbt-duckdb names the database after the file, so a manifest parsed for another
    # warehouse file (or engine) points at relations that do not exist here.
    stamp = DBT_MANIFEST.parent / "warehouse_path.txt"
    identity = warehouse_identity()
    if DBT_MANIFEST.exists() and stamp.exists() and stamp.read_text() == identity:
        built = DBT_MANIFEST.stat().st_mtime
        if all(p.stat().st_mtime <= built for p in sources):
            return DBT_MANIFEST
    subprocess.run(
        [DBT_EXECUTABLE, "parse", "--profiles-dir", str(DBT_PROJECT_DIR), "--quiet"],
        cwd=DBT_PROJECT_DIR,
        check=True,
        env={**os.environ, **dbt_env()},
    )
    stamp.write_text(identity)
    return DBT_MANIFEST
