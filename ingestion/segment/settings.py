"""Segment Spec constants: the fields the loader types itself; every other field is kept as-is."""

PIPELINE_NAME = "segment_events"
DATASET_NAME = "raw_segment"
TABLE_NAME = "events"
SOURCE_NAME = "segment"

EVENT_FILE_SUFFIXES = (".jsonl", ".json", ".gz")
BATCH_ROWS = 50_000
# A file without an unusual line is parsed whole in C (columnar.py) when it is at most this
# many bytes as stored (gzip: about ten times as many in memory); a larger one, or one with
# a bad line, is streamed line by line.
COLUMNAR_MAX_FILE_BYTES = 16 * 1024 * 1024
# Consecutive smaller files are parsed in one query, up to this many bytes as stored: a query
# costs about as much as 4,000 lines before it reads one, which a backlog of many small files
# (a sender writing a file a minute) would pay for each.
COLUMNAR_GROUP_BYTES = 4 * 1024 * 1024
# On DuckDB, consecutive files are inserted by the warehouse in one statement, up to this many
# bytes as stored (`streaming.py`): DuckDB reads a gzip file on one thread, so one statement
# over several files keeps the cores busy (1M events in ten files: 5.5 s in one statement, 6.0
# in statements of five files, 6.9 of two).
STREAM_GROUP_BYTES = 128 * 1024 * 1024
# The lines of a file read first to learn the columns of unknown fields it brings.
SAMPLE_LINES = 1_000
# A backlog is loaded in dlt loads of about this many rows (whole files): the in-load dedup
# set and the load package on disk then hold one load's rows, not the whole backlog's.
MAX_ROWS_PER_LOAD = 1_000_000
PENDING_FILES_KEY = "pending_files"
# The parquet files dlt writes between extract and load (this pipeline only): uncompressed,
# since compressing them costs more time than the disk it saves (the packages are about 3.5
# times larger, 340 MB per million events).
PARQUET_COMPRESSION = "none"
# DuckDB's insert of a load's Parquet files stays under this (it spills past it).
DUCKDB_CONFIG = {"memory_limit": "512MB", "preserve_insertion_order": False}

# Segment field -> raw column. Ids and names are text; timestamps are parsed to UTC.
TEXT_FIELDS = {
    "messageId": "message_id",
    "type": "type",
    "userId": "user_id",
    "anonymousId": "anonymous_id",
    "event": "event",
    "name": "name",
    "groupId": "group_id",
}
TIMESTAMP_FIELDS = {"timestamp": "timestamp", "receivedAt": "received_at", "sentAt": "sent_at"}
JSON_FIELDS = {"properties": "properties", "traits": "traits", "context": "context"}
KNOWN_FIELDS = frozenset(TEXT_FIELDS) | frozenset(TIMESTAMP_FIELDS) | frozenset(JSON_FIELDS)
