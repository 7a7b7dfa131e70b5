"""Read the marts built on Spark (`WAREHOUSE=spark`), for comparison with another engine.

    WAREHOUSE=spark python -m tools.spark_marts data/warehouse.duckdb [--through-spark]

reads every table of schema `marts` and compares it row for row with the marts of the DuckDB
file given (tools/compare_marts.py). By default it reads the Parquet files of the Spark
warehouse folder (what Spark wrote, plus the marts Python computes, which Spark's catalog does
not list); `--through-spark` starts a local Spark session on the same metastore as dbt's
`spark` target and reads the tables Spark's catalog lists. Run that when no dbt process is
using the metastore: the local Derby metastore admits one process at a time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from ingestion.settings import WarehouseSettings
from tools.compare_marts import SCHEMA, Marts, _read, _rows, differences, read_duckdb


def spark_session(env: dict[str, str]) -> Any:
    """A local Spark session on the metastore and warehouse folder of dbt's `spark` target."""
    # pyspark turns timestamps into Python datetimes in the process's zone: make it UTC.
    os.environ["TZ"] = "UTC"
    time.tzset()
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(env.get("DBT_SPARK_MASTER", "local[2]"))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config(
            "spark.driver.extraJavaOptions", f"-Dderby.system.home={env['DBT_SPARK_WAREHOUSE_DIR']}"
        )
        .config("spark.sql.warehouse.dir", env["DBT_SPARK_WAREHOUSE_DIR"])
        .config("spark.hadoop.javax.jdo.option.ConnectionURL", env["DBT_SPARK_METASTORE_URL"])
        .enableHiveSupport()
        .getOrCreate()
    )


def read_spark(env: dict[str, str]) -> Marts:
    """Every table of database `marts` on Spark, read like `compare_marts.read_duckdb`."""
    spark = spark_session(env)
    try:
        marts: Marts = {}
        for row in spark.sql(f"show tables in {SCHEMA}").collect():
            if row.isTemporary:
                continue
            frame = spark.table(f"{SCHEMA}.{row.tableName}")
            rows = [tuple(record) for record in frame.collect()]
            marts[row.tableName] = (list(frame.columns), _rows(rows))
        return marts
    finally:
        spark.stop()


def read_spark_files(settings: WarehouseSettings) -> Marts:
    """Every mart's Parquet files in the Spark warehouse folder, read like `read_duckdb`."""
    import duckdb

    from ingestion.parquet_files import attach_built_tables

    with duckdb.connect() as con:
        attach_built_tables(con, settings, "spark")
        con.execute("use spark")
        return _read(con)


def main(argv: list[str] | None = None) -> int:
    """CLI: compare a DuckDB file's marts with the Spark marts of the configured warehouse."""
    parser = argparse.ArgumentParser(prog="python -m tools.spark_marts", description=__doc__)
    parser.add_argument("duckdb_file", type=Path)
    parser.add_argument("--through-spark", action="store_true")
    args = parser.parse_args(argv)
    settings = WarehouseSettings.from_env()
    left = read_duckdb(args.duckdb_file)
    right = read_spark(settings.dbt_env()) if args.through_spark else read_spark_files(settings)
    problems = differences(left, right)
    for problem in problems:
        print(problem)
    verdict = "differ" if problems else "are equal, row for row"
    print(f"{len(left)} marts on DuckDB vs {len(right)} on Spark: {verdict}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
