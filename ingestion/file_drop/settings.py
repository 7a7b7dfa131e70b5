"""File-drop constants: the survey and license CSV layouts (docs/architecture.md)."""

PIPELINE_NAME = "file_drop"
DATASET_NAME = "raw_file_drop"
SOURCE_NAME = "file_drop"
CSV_SUFFIXES = (".csv",)
# A CSV that is not UTF-8 (and has no byte-order mark) is read in this encoding, with a
# warning: what spreadsheet programs on Windows export.
FALLBACK_ENCODING = "cp1252"

SURVEY_COLUMNS = (
    "response_id",
    "submitted_at",
    "user_id",
    "account_id",
    "survey",
    "score",
    "comment",
)
LICENSE_COLUMNS = (
    "license_id",
    "account_id",
    "product",
    "plan",
    "seats",
    "starts_on",
    "ends_on",
    "annual_price",
    "currency",
)
SCORE_RANGES = {"nps": (0, 10), "csat": (1, 5)}
