"""The statistics of `marts.fct_experiment_results` (docs/metrics.md, "Experiments").

dbt counts the exposures and conversions (`intermediate.int_experiment_counts`); SQL engines
lack the normal and chi-square distributions, so this step adds the rates, the lift against
the control with its 95% interval, the two-proportion z-test and the sample-ratio-mismatch
chi-square test (scipy), and writes the mart as one table in schema `marts`, replaced in one
transaction so a reader sees the old table or the new one, on DuckDB and on PostgreSQL.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import date
from typing import Any

from ingestion.settings import WarehouseSettings

COUNTS_SCHEMA, COUNTS_TABLE = "intermediate", "int_experiment_counts"
RESULTS_SCHEMA, RESULTS_TABLE = "marts", "fct_experiment_results"
# The 97.5% quantile of the standard normal, as docs/metrics.md writes it (not 1.96).
Z_95 = 1.959963984540054
SRM_ALPHA = 0.001

# Column types of the mart, in order (the same names and types on both engines).
RESULT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("experiment_id", "varchar"),
    ("variation_id", "varchar"),
    ("is_control", "boolean"),
    ("exposed_users", "bigint"),
    ("converted_users", "bigint"),
    ("conversion_rate", "double precision"),
    ("absolute_lift", "double precision"),
    ("relative_lift", "double precision"),
    ("ci_low", "double precision"),
    ("ci_high", "double precision"),
    ("p_value", "double precision"),
    ("srm_p_value", "double precision"),
    ("has_srm", "boolean"),
    ("crossover_users", "bigint"),
    ("first_exposed_on", "date"),
    ("last_exposed_on", "date"),
)


@dataclass(frozen=True)
class VariationCounts:
    """One row of `int_experiment_counts`."""

    experiment_id: str
    variation_id: str
    is_control: bool
    weight: float
    exposed_users: int
    converted_users: int
    crossover_users: int
    first_exposed_on: date | None
    last_exposed_on: date | None


@dataclass(frozen=True)
class VariationResult:
    """One row of `marts.fct_experiment_results` (fields in the mart's column order)."""

    experiment_id: str
    variation_id: str
    is_control: bool
    exposed_users: int
    converted_users: int
    conversion_rate: float | None
    absolute_lift: float | None
    relative_lift: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    srm_p_value: float | None
    has_srm: bool | None
    crossover_users: int
    first_exposed_on: date | None
    last_exposed_on: date | None


@dataclass(frozen=True)
class Comparison:
    """A variation against the control: lift, its 95% interval and the z-test p-value."""

    absolute_lift: float | None = None
    relative_lift: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None


def compare_to_control(x_v: int, n_v: int, x_c: int, n_c: int) -> Comparison:
    """Lift of a variation (x_v of n_v converted) over the control (x_c of n_c).

    All null when either n is 0; the relative lift is null when the control's rate is 0; the
    p-value (two-sided, pooled two-proportion z-test, erfc(|z| / sqrt 2)) is null when the
    pooled standard error is 0. The interval uses the unpooled standard error.
    """
    if n_v == 0 or n_c == 0:
        return Comparison()
    r_v, r_c = x_v / n_v, x_c / n_c
    lift = r_v - r_c
    margin = Z_95 * math.sqrt(r_v * (1 - r_v) / n_v + r_c * (1 - r_c) / n_c)
    pooled = (x_v + x_c) / (n_v + n_c)
    pooled_se = math.sqrt(pooled * (1 - pooled) * (1 / n_v + 1 / n_c))
    p_value = None
    if pooled_se > 0:
        from scipy import special  # scipy loads in ~1 s: only when a read-out is built

        p_value = float(special.erfc(abs(lift / pooled_se) / math.sqrt(2)))
    return Comparison(
        absolute_lift=lift,
        relative_lift=lift / r_c if r_c != 0 else None,
        ci_low=lift - margin,
        ci_high=lift + margin,
        p_value=p_value,
    )


def srm_p_value(observed: Sequence[int], weights: Sequence[float]) -> float | None:
    """Pearson chi-square goodness-of-fit of the exposures against the configured weights.

    Expected counts are total * weight / sum of weights, with len - 1 degrees of freedom; the
    upper-tail probability. Null when no one was exposed, and for a single-variation
    experiment (no degree of freedom: nothing to mismatch).
    """
    total = sum(observed)
    if total == 0 or len(observed) < 2:
        return None
    weight_sum = sum(weights)
    statistic = 0.0
    for count, weight in zip(observed, weights, strict=True):
        expected = total * weight / weight_sum
        statistic += (count - expected) ** 2 / expected
    from scipy import stats  # scipy loads in ~1 s: only when a read-out is built

    return float(stats.chi2.sf(statistic, len(observed) - 1))


def compute_results(counts: Iterable[VariationCounts]) -> list[VariationResult]:
    """Every variation's row of the mart, ordered by experiment, control first, variation."""
    experiments: dict[str, list[VariationCounts]] = {}
    for row in counts:
        experiments.setdefault(row.experiment_id, []).append(row)
    results: list[VariationResult] = []
    for experiment_id in sorted(experiments):
        rows = sorted(experiments[experiment_id], key=lambda r: (not r.is_control, r.variation_id))
        controls = [row for row in rows if row.is_control]
        # The seed test allows exactly one control; without it no lift can be computed.
        control = controls[0] if len(controls) == 1 else None
        srm = srm_p_value([r.exposed_users for r in rows], [r.weight for r in rows])
        for row in rows:
            if row.is_control or control is None:
                comparison = Comparison()
            else:
                comparison = compare_to_control(
                    row.converted_users,
                    row.exposed_users,
                    control.converted_users,
                    control.exposed_users,
                )
            results.append(
                VariationResult(
                    experiment_id=row.experiment_id,
                    variation_id=row.variation_id,
                    is_control=row.is_control,
                    exposed_users=row.exposed_users,
                    converted_users=row.converted_users,
                    conversion_rate=(
                        row.converted_users / row.exposed_users if row.exposed_users else None
                    ),
                    absolute_lift=comparison.absolute_lift,
                    relative_lift=comparison.relative_lift,
                    ci_low=comparison.ci_low,
                    ci_high=comparison.ci_high,
                    p_value=comparison.p_value,
                    srm_p_value=srm,
                    has_srm=None if srm is None else srm < SRM_ALPHA,
                    crossover_users=row.crossover_users,
                    first_exposed_on=row.first_exposed_on,
                    last_exposed_on=row.last_exposed_on,
                )
            )
    return results


def check_results(results: Sequence[VariationResult]) -> dict[str, list[str]]:
    """The mart's invariants, each with the rows that break it (empty lists: all hold).

    `one_control_per_experiment`, `rates_within_0_1` (conversion rates and p-values) and
    `interval_contains_lift`.
    """
    controls: dict[str, int] = {}
    for row in results:
        controls[row.experiment_id] = controls.get(row.experiment_id, 0) + int(row.is_control)
    out_of_range = [
        f"{row.experiment_id}/{row.variation_id}: {name} = {value}"
        for row in results
        for name, value in (
            ("conversion_rate", row.conversion_rate),
            ("p_value", row.p_value),
            ("srm_p_value", row.srm_p_value),
        )
        if value is not None and not 0 <= value <= 1
    ]
    outside = [
        f"{row.experiment_id}/{row.variation_id}: {row.absolute_lift} not in "
        f"[{row.ci_low}, {row.ci_high}]"
        for row in results
        if row.absolute_lift is not None
        and not (
            row.ci_low is not None
            and row.ci_high is not None
            and row.ci_low <= row.absolute_lift <= row.ci_high
        )
    ]
    return {
        "one_control_per_experiment": [
            f"{experiment}: {count} controls"
            for experiment, count in controls.items()
            if count != 1
        ],
        "rates_within_0_1": out_of_range,
        "interval_contains_lift": outside,
    }


_COUNT_COLUMNS = ", ".join(field.name for field in fields(VariationCounts))
_READ_COUNTS = f"select {_COUNT_COLUMNS} from {COUNTS_SCHEMA}.{COUNTS_TABLE}"


def _create_statement() -> str:
    columns = ", ".join(f"{name} {data_type}" for name, data_type in RESULT_COLUMNS)
    return f"create table {RESULTS_SCHEMA}.{RESULTS_TABLE} ({columns})"


def _counts(rows: Iterable[Sequence[Any]]) -> list[VariationCounts]:
    return [
        VariationCounts(
            experiment_id=str(r[0]),
            variation_id=str(r[1]),
            is_control=bool(r[2]),
            weight=float(r[3]),
            exposed_users=int(r[4]),
            converted_users=int(r[5]),
            crossover_users=int(r[6]),
            first_exposed_on=r[7],
            last_exposed_on=r[8],
        )
        for r in rows
    ]


def build_experiment_results(settings: WarehouseSettings | None = None) -> list[VariationResult]:
    """Read the counts, compute the mart and replace `marts.fct_experiment_results` atomically.

    On DuckDB this opens the warehouse for writing: call it only from a step in the
    `warehouse` pool (orchestration/lib/project.py), like every other warehouse writer.
    """
    settings = settings or WarehouseSettings.from_env()
    placeholders = ", ".join(["?"] * len(RESULT_COLUMNS))
    if settings.engine == "postgres":
        import psycopg2

        with psycopg2.connect(settings.postgres_url()) as con, con.cursor() as cursor:
            # One transaction (psycopg2 commits when the block ends, rolls back on error).
            cursor.execute(_READ_COUNTS)
            results = compute_results(_counts(cursor.fetchall()))
            cursor.execute(f"create schema if not exists {RESULTS_SCHEMA}")
            cursor.execute(f"drop table if exists {RESULTS_SCHEMA}.{RESULTS_TABLE}")
            cursor.execute(_create_statement())
            cursor.executemany(
                f"insert into {RESULTS_SCHEMA}.{RESULTS_TABLE} values "
                f"({', '.join(['%s'] * len(RESULT_COLUMNS))})",
                [astuple(row) for row in results],
            )
        con.close()
        return results
    if settings.engine == "spark":
        # Parquet beside the tables dbt built on Spark (docs/spark.md).
        from ingestion.parquet_files import spark_files, write_built_table

        with spark_files(settings) as con:
            results = compute_results(_counts(con.execute(_READ_COUNTS).fetchall()))
            con.execute("create schema if not exists computed")
            con.execute(_create_statement().replace(f"{RESULTS_SCHEMA}.", "computed.", 1))
            if results:
                con.executemany(
                    f"insert into computed.{RESULTS_TABLE} values ({placeholders})",
                    [astuple(row) for row in results],
                )
            write_built_table(
                con,
                settings,
                RESULTS_SCHEMA,
                RESULTS_TABLE,
                f"select * from computed.{RESULTS_TABLE}",
            )
        return results
    import duckdb

    with duckdb.connect(str(settings.path)) as con:
        results = compute_results(_counts(con.execute(_READ_COUNTS).fetchall()))
        con.execute("begin transaction")
        try:
            con.execute(f"create schema if not exists {RESULTS_SCHEMA}")
            con.execute(f"drop table if exists {RESULTS_SCHEMA}.{RESULTS_TABLE}")
            con.execute(_create_statement())
            if results:
                con.executemany(
                    f"insert into {RESULTS_SCHEMA}.{RESULTS_TABLE} values ({placeholders})",
                    [astuple(row) for row in results],
                )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return results
