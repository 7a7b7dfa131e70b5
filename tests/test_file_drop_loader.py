"""The CSV drops: typed rows, bad rows set aside with their reason, files read once."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pytest

from ingestion import file_drop
from tests.toolkit.files import LICENSES_CSV, SURVEYS_CSV, write_file_drop
from tests.toolkit.warehouse import query, rejects, row_count


def test_csv_rows_are_typed_and_bad_rows_kept_with_reason(tmp_path: Path, warehouse: Path):
    kwargs = write_file_drop(tmp_path)
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
    reasons = dict(rejects(warehouse, "raw_file_drop", "record, reason"))
    assert reasons == {
        "r3,2026-01-06T11:00:00Z,u2,acc_2,nps,11,too high": "nps score must be 0-10, got 11",
        "r4,2026-01-06T11:00:00Z,u2,acc_2,csat,0,too low": "csat score must be 1-5, got 0",
        "r5,yesterday,u2,acc_2,nps,5,": "submitted_at is not a timestamp: 'yesterday'",
        "L2,acc_2,Core,growth,fifty,2026-01-01,2027-01-01,1000,USD": (
            "seats is not an integer: 'fifty'"
        ),
    }

    # Second run: nothing new is read, nothing is duplicated, rejects are not repeated.
    file_drop.load(**kwargs)
    assert row_count(warehouse, "raw_file_drop.survey_responses") == 2
    assert row_count(warehouse, "raw_file_drop.rejected_records") == 4


def test_extra_columns_are_kept_and_named_in_a_warning(
    tmp_path: Path, warehouse: Path, caplog: pytest.LogCaptureFixture
):
    folder = tmp_path / "surveys"
    folder.mkdir()
    header = SURVEYS_CSV.splitlines()[0]
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
    set_aside = rejects(warehouse, "raw_file_drop")
    assert len(set_aside) == 1 and "No such file or directory" in set_aside[0][1]
    assert set_aside[0][0].endswith("/licenses/l.csv")

    target.write_text(LICENSES_CSV)
    file_drop.load(licenses_url=str(folder))
    assert query(warehouse, "select license_id from raw_file_drop.licenses order by 1") == [
        ("L1",),
        ("L3",),
    ]


def test_a_license_corrected_in_a_later_file_of_the_same_load_takes_the_correction(
    tmp_path: Path, warehouse: Path
):
    """Both files land before one run: the greater file name wins, as a later load would."""
    folder = tmp_path / "licenses"
    folder.mkdir()
    header = LICENSES_CSV.splitlines()[0]
    # Written in reverse, so neither listing nor write order can decide by chance.
    (folder / "licenses_2024-02.csv").write_text(
        f"{header}\nL1,acc_1,Core,pro,20,2024-01-01,,2400,USD\n"
    )
    (folder / "licenses_2024-01.csv").write_text(
        f"{header}\nL1,acc_1,Core,pro,10,2024-01-01,,1200,USD\n"
    )
    file_drop.load(licenses_url=str(folder))
    assert query(
        warehouse, "select license_id, seats, annual_price from raw_file_drop.licenses"
    ) == [("L1", 20, 2400.0)]
