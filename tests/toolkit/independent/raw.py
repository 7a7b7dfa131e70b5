"""The raw rows every area reads: completed dlt loads, first copies, latest vendor versions."""

from __future__ import annotations


def completed(schema: str) -> str:
    """SQL condition: the row belongs to a completed dlt load of one raw schema."""
    return f"_dlt_load_id in (select load_id from {schema}._dlt_loads where status = 0)"


# Every column of the first copy of each messageId (docs/metrics.md, "Re-delivered records":
# earliest load, then earliest received_at, then file), rows of completed loads only.
FIRST_COPY_EVENTS = f"""
    select *
    from raw_segment.events
    where {completed("raw_segment")}
    qualify row_number() over (
        partition by message_id
        order by _dlt_load_id, received_at nulls last, _source_file, _dlt_id
    ) = 1
"""


def latest_version(table: str, key: str = "id") -> str:
    """SQL: each Zendesk record's greatest updated_at, then the later one in the export stream.

    The loader writes version_order as '<updated_at>#<stream position>'.
    """
    return f"""
        select * from {table}
        where {completed("raw_zendesk")}
        qualify row_number() over (
            partition by {key} order by updated_at desc, version_order desc
        ) = 1
    """
