"""dlt's completed-loads rule, for the Python readers of raw tables (GX checks, build state)."""

from __future__ import annotations


def completed_loads(dataset: str) -> str:
    """SQL selecting the ids of `dataset`'s completed loads, for every reader of raw rows.

    dlt writes a load's `_dlt_loads` row (status 0) only after all of its rows: rows of a load
    without one are a crashed load's and count nowhere (docs/architecture.md). dbt's copy of
    this rule is the `dlt_completed_loads` macro (dbt_project/macros/dlt_loads.sql).
    """
    quoted = '"' + dataset.replace('"', '""') + '"'
    return f"select load_id from {quoted}._dlt_loads where status = 0"
