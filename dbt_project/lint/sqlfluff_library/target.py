"""Lint-only stand-in for dbt's `target`: models are linted as the DuckDB target renders them."""

type = "duckdb"  # noqa: A001 - dbt's attribute name
name = "duckdb"
