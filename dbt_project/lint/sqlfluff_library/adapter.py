"""Lint-only stand-in for dbt's `adapter.dispatch`: render the DuckDB implementation."""


def dispatch(macro_name: str, macro_namespace: str | None = None):  # noqa: ANN201
    """Return a callable that renders `duckdb__<macro_name>` as dbt-duckdb would."""
    if macro_name == "json_text":
        return lambda column, key: f"json_extract_string({column}, '$.{key}')"
    if macro_name == "day_series":
        return lambda start, end, step=1, alias="day_series": (
            f"generate_series(cast({start} as timestamp), cast({end} as timestamp), "
            f"interval '{step} day') as {alias} (date_ts)"
        )
    if macro_name == "int_series":
        return lambda first, last, alias, column: (
            f"generate_series({first}, {last}) as {alias} ({column})"
        )
    if macro_name == "binary_text":
        return lambda column: column
    raise NotImplementedError(macro_name)


def get_relation(database=None, schema=None, identifier=None):  # noqa: ANN001, ANN201, ARG001
    """adapter.get_relation: at lint time nothing is built yet."""
    return None
