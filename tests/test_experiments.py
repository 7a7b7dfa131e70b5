"""fct_experiment_results: the statistics step, checked against numbers worked by hand.

The counts come from dbt (int_experiment_counts, whose rules have their unit test beside the
model); here the lift, interval, z-test and sample-ratio chi-square are checked against
textbook values, and the step's write is checked on a small DuckDB warehouse.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import duckdb
import pytest

from orchestration.lib import experiments
from orchestration.lib.experiments import (
    VariationCounts,
    VariationResult,
    build_experiment_results,
    check_results,
    compare_to_control,
    compute_results,
    srm_p_value,
)
from tests.toolkit.warehouse import column_types, query


def test_z_test_lift_interval_and_p_value_by_hand() -> None:
    # 60/100 against 40/100: pooled p = 0.5, se = sqrt(0.25 * 0.02) = 0.0707107, lift 0.2,
    # z = 0.2 / 0.0707107 = 2 sqrt 2, p = erfc(2) = 0.004677735 (2 * (1 - Phi(2.828))).
    # Interval: sqrt(0.6 * 0.4 / 100 + 0.4 * 0.6 / 100) = sqrt(0.0048) = 0.0692820,
    # margin 1.959963984540054 * 0.0692820 = 0.1357903.
    result = compare_to_control(60, 100, 40, 100)
    assert result.absolute_lift == pytest.approx(0.2)
    assert result.relative_lift == pytest.approx(0.5)
    assert result.p_value == pytest.approx(0.004677735, rel=1e-6)
    assert result.ci_low == pytest.approx(0.2 - 0.1357903, abs=1e-7)
    assert result.ci_high == pytest.approx(0.2 + 0.1357903, abs=1e-7)


def test_z_test_textbook_example() -> None:
    # 120/1000 vs 100/1000: pooled 0.11, se = sqrt(0.11 * 0.89 * 0.002) = 0.0139929,
    # z = 0.02 / 0.0139929 = 1.42930, two-sided p = 0.15291.
    result = compare_to_control(120, 1000, 100, 1000)
    assert result.p_value == pytest.approx(0.15291, abs=5e-5)
    assert result.relative_lift == pytest.approx(0.2)


def test_nulls_where_a_denominator_is_zero() -> None:
    # No exposure on one side: everything null.
    assert compare_to_control(0, 0, 5, 10).absolute_lift is None
    assert compare_to_control(5, 10, 0, 0).p_value is None
    # Control rate 0: relative lift null, the rest defined.
    zero_control = compare_to_control(3, 10, 0, 10)
    assert zero_control.relative_lift is None
    assert zero_control.absolute_lift == pytest.approx(0.3)
    assert zero_control.p_value is not None
    # Nobody converted anywhere: pooled standard error 0 -> p null; interval collapses on 0.
    nothing = compare_to_control(0, 10, 0, 12)
    assert nothing.p_value is None and nothing.relative_lift is None
    assert nothing.absolute_lift == 0 and nothing.ci_low == 0 and nothing.ci_high == 0


def test_srm_chi_square_textbook_values() -> None:
    # 50/30/20 against equal weights: expected 100/3 each, chi2 = 14 with 2 df, whose upper
    # tail is exp(-14 / 2) = 0.000911882.
    assert srm_p_value([50, 30, 20], [1, 1, 1]) == pytest.approx(math.exp(-7), rel=1e-9)
    # 60/40 against 1:1: chi2 = 4 with 1 df -> p = erfc(sqrt 2) = 0.0455003.
    assert srm_p_value([60, 40], [1, 1]) == pytest.approx(0.0455003, rel=1e-5)
    # Exactly on unequal weights 2:1:1: chi2 = 0 -> p = 1.
    assert srm_p_value([200, 100, 100], [2, 1, 1]) == pytest.approx(1.0)
    # Weights are relative: 2:2:2 is 1:1:1.
    assert srm_p_value([50, 30, 20], [2, 2, 2]) == pytest.approx(math.exp(-7), rel=1e-9)
    assert srm_p_value([0, 0], [1, 1]) is None


def _counts(variation: str, control: bool, weight: float, n: int, x: int) -> VariationCounts:
    day = date(2024, 1, 1) if n else None
    return VariationCounts("e", variation, control, weight, n, x, 3, day, day)


def test_compute_results_rows() -> None:
    rows = compute_results(
        [
            _counts("b", False, 1, 30, 3),
            _counts("c", True, 1, 50, 10),
            _counts("a", False, 1, 20, 8),
            _counts("empty", False, 1, 0, 0),
        ]
    )
    assert [r.variation_id for r in rows] == ["c", "a", "b", "empty"]  # control first
    control, a, b, empty = rows
    assert control.conversion_rate == pytest.approx(0.2)
    assert control.absolute_lift is None and control.p_value is None and control.ci_low is None
    assert a.absolute_lift == pytest.approx(0.4 - 0.2)
    assert a.relative_lift == pytest.approx(1.0)
    assert b.absolute_lift == pytest.approx(0.1 - 0.2)
    assert empty.conversion_rate is None and empty.absolute_lift is None
    # SRM over 50/20/30/0 against 1:1:1:1: expected 25 each, chi2 = (625+25+25+625)/25 = 52
    # with 3 df, whose upper tail is erfc(sqrt(x/2)) + sqrt(2x/pi) exp(-x/2) = 2.98e-11 ->
    # has_srm on every row of the experiment.
    x = 52.0
    expected = math.erfc(math.sqrt(x / 2)) + math.sqrt(2 * x / math.pi) * math.exp(-x / 2)
    assert expected == pytest.approx(2.98e-11, rel=1e-2)
    assert all(r.srm_p_value == pytest.approx(expected, rel=1e-9) for r in rows)
    assert all(r.has_srm for r in rows)
    assert all(r.crossover_users == 3 for r in rows)
    assert check_results(rows) == {
        "one_control_per_experiment": [],
        "rates_within_0_1": [],
        "interval_contains_lift": [],
    }


def test_checks_catch_broken_rows() -> None:
    good = compute_results([_counts("c", True, 1, 10, 1), _counts("t", False, 1, 10, 2)])
    broken = [
        good[0],
        VariationResult(**{**good[1].__dict__, "is_control": True, "conversion_rate": 1.5}),
        VariationResult(**{**good[1].__dict__, "variation_id": "u", "ci_high": -1.0}),
    ]
    failures = check_results(broken)
    assert failures["one_control_per_experiment"] == ["e: 2 controls"]
    assert len(failures["rates_within_0_1"]) == 1
    assert len(failures["interval_contains_lift"]) == 1


def test_step_replaces_the_mart_on_duckdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("WAREHOUSE_PATH", str(warehouse))
    monkeypatch.delenv("WAREHOUSE", raising=False)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema intermediate")
        con.execute(
            "create table intermediate.int_experiment_counts (experiment_id varchar,"
            " variation_id varchar, is_control boolean, weight double, exposed_users bigint,"
            " converted_users bigint, crossover_users bigint, first_exposed_on date,"
            " last_exposed_on date)"
        )
        con.execute(
            "insert into intermediate.int_experiment_counts values"
            " ('e', 'c', true, 1, 100, 40, 2, '2024-01-01', '2024-01-09'),"
            " ('e', 't', false, 1, 100, 60, 2, '2024-01-02', '2024-01-08'),"
            " ('z', 'c', true, 2, 0, 0, 0, null, null)"
        )
        con.execute("create schema marts")
        con.execute("create table marts.fct_experiment_results (stale integer)")
    rows = build_experiment_results()
    assert len(rows) == 3
    types = column_types(warehouse, "marts.fct_experiment_results")
    got = query(
        warehouse,
        "select experiment_id, variation_id, exposed_users, conversion_rate, p_value,"
        " has_srm, first_exposed_on from marts.fct_experiment_results"
        " order by experiment_id, variation_id",
    )
    assert list(types) == [name for name, _ in experiments.RESULT_COLUMNS]
    assert types["has_srm"] == "BOOLEAN" and types["exposed_users"] == "BIGINT"
    assert types["first_exposed_on"] == "DATE" and types["p_value"] == "DOUBLE"
    assert got[0][:4] == ("e", "c", 100, 0.4) and got[0][4] is None
    assert got[1][:4] == ("e", "t", 100, 0.6)
    assert got[1][4] == pytest.approx(0.004677735, rel=1e-6)
    assert got[0][5] is False and got[0][6] == date(2024, 1, 1)  # 100/100 on 1:1: no SRM
    assert got[2][2:] == (0, None, None, None, None)  # nobody exposed: SRM null
