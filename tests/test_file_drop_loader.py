"""The CSV drops: typed rows, bad rows set aside with their reason, files read once."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pytest
from conftest import query

from ingestion import file_drop

SURVEYS = """response_id,submitted_at,user_id,account_id,survey,score,comment
r1,2026-01-05T10:00:00Z,u1,acc_1,nps,9,great
r2,2026-01-06T10:00:00Z,,acc_1,csat,4,
r3,2026-01-06T11:00:00Z,u2,acc_2,nps,11,too high
r4,2026-01-06T11:00:00Z,u2,acc_2,csat,0,too low
r5,yesterday,u2,acc_2,nps,5,
"""
LICENSES = """license_id,account_id,product,plan,seats,starts_on,ends_on,annual_price,currency
L1,acc_1,Core,enterprise,50,2026-01-01,,60000.00,usd
L2,acc_2,Core,growth,fifty,2026-01-01,2027-01-01,1000,USD
L3,,Core,growth,5,2026-01-01,2026-06-30,1000,USD
"""


def test_csv_rows_are_typed_and_bad_rows_kept_with_reason(tmp_path: Path, warehouse: Path):
    (tmp_path / "surveys").mkdir()
    (tmp_path / "surveys" / "2026-01.csv").write_text(SURVEYS)
    (tmp_path / "licenses").mkdir()
    (tmp_path / "licenses" / "licenses.csv").write_text(LICENSES)
    kwargs = {"surveys_url": str(tmp_path / "surveys"), "licenses_url": str(tmp_path / "licenses")}
    file_drop.load(**kwargs)

    surveys = query(
        warehouse,
        "select response_id, user_id, survey, score from raw_file_drop.survey_responses order by 1",
    )
    assert surveys == [("r1", "u1", "nps", 9), ("r2", None, "csat", 4)]
    licenses = query(
        warehouse,
        "select license_id, account_id, seats, starts_on, ends_on, annual_price "
        "from raw_file_drop.licenses order by 1",
    )
    assert licenses == [
        ("L1", "acc_1", 50, date(2026, 1, 1), None, 60000.0),
        ("L3", None, 5, date(2026, 1, 1), date(2026, 6, 30), 1000.0),
    ]
    rejects = dict(query(warehouse, "select record, reason from raw_file_drop.rejected_records"))
    assert rejects == {
        "r3,2026-01-06T11:00:00Z,u2,acc_2,nps,11,too high": "nps score must be 0-10, got 11",
        "r4,2026-01-06T11:00:00Z,u2,acc_2,csat,0,too low": "csat score must be 1-5, got 0",
        "r5,yesterday,u2,acc_2,nps,5,": "submitted_at is not a timestamp: 'yesterday'",
        "L2,acc_2,Core,growth,fifty,2026-01-01,2027-01-01,1000,USD": (
            "seats is not an integer: 'fifty'"
        ),
    }

    # Second run: nothing new is read, nothing is duplicated, rejects are not repeated.
    file_drop.load(**kwargs)
    assert query(warehouse, "select count(*) from raw_file_drop.survey_responses") == [(2,)]
    assert query(warehouse, "select count(*) from raw_file_drop.rejected_records") == [(4,)]


def test_extra_columns_are_kept_and_named_in_a_warning(
    tmp_path: Path, warehouse: Path, caplog: pytest.LogCaptureFixture
):
    folder = tmp_path / "surveys"
    folder.mkdir()
    header = SURVEYS.splitlines()[0]
    (folder / "a.csv").write_text(
        f"{header},Region\nr1,2026-01-05T10:00:00Z,u1,acc_1,nps,9,ok,emea\n"
    )
    with caplog.at_level(logging.WARNING, logger="ingestion.file_drop.helpers"):
        file_drop.load(surveys_url=str(folder))
    assert "columns ['Region'] are not in the survey_responses layout" in caplog.text
    assert query(warehouse, "select response_id, region from raw_file_drop.survey_responses") == [
        ("r1", "emea")
    ]


def test_a_file_set_aside_whole_is_read_again_once_it_is_fixed(tmp_path: Path, warehouse: Path):
    folder = tmp_path / "licenses"
    folder.mkdir()
    target = tmp_path / "elsewhere.csv"
    (folder / "l.csv").symlink_to(target)  # dangling until the file arrives
    file_drop.load(licenses_url=str(folder))
    file_drop.load(licenses_url=str(folder))  # unchanged: not set aside twice
    rejects = query(warehouse, "select location, reason from raw_file_drop.rejected_records")
    assert len(rejects) == 1 and "No such file or directory" in rejects[0][1]
    assert rejects[0][0].endswith("/licenses/l.csv")

    target.write_text(LICENSES)
    file_drop.load(licenses_url=str(folder))
    assert query(warehouse, "select license_id from raw_file_drop.licenses order by 1") == [
        ("L1",),
        ("L3",),
    ]
