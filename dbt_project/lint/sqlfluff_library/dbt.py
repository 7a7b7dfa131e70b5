"""Lint-only stand-ins for dbt's cross-database macros (sqlfluff's jinja templater has no dbt).

They render the DuckDB SQL that dbt-duckdb renders, so sqlfluff parses what dbt runs.
"""


def date_trunc(datepart: str, date: str) -> str:
    """dbt.date_trunc."""
    return f"date_trunc('{datepart}', {date})"


def dateadd(datepart: str, interval: object, from_date_or_timestamp: str) -> str:
    """dbt.dateadd."""
    return f"date_add({from_date_or_timestamp}, interval ({interval}) {datepart})"


def datediff(first_date: str, second_date: str, datepart: str) -> str:
    """dbt.datediff."""
    return f"date_diff('{datepart}', {first_date}::timestamp, {second_date}::timestamp)"
