"""The experiment read-out: dbt's counts plus the statistics SQL engines lack (scipy)."""

import dagster as dg

from orchestration.lib.experiments import (
    COUNTS_SCHEMA,
    COUNTS_TABLE,
    RESULTS_SCHEMA,
    RESULTS_TABLE,
    build_experiment_results,
    check_results,
)
from orchestration.lib.project import OWNERS, WAREHOUSE_POOL, warehouse_settings

CHECKS = {
    "one_control_per_experiment": "Every experiment has exactly one control row.",
    "rates_within_0_1": "Conversion rates and p-values lie in [0, 1].",
    "interval_contains_lift": "Each 95% interval contains its absolute lift.",
}


@dg.definitions
def defs() -> dg.Definitions:
    """One asset, `marts.fct_experiment_results`, after the dbt counts model, with its checks."""
    key = dg.AssetKey([RESULTS_SCHEMA, RESULTS_TABLE])
    settings = warehouse_settings()

    @dg.asset(
        key=key,
        deps=[dg.AssetKey([COUNTS_SCHEMA, COUNTS_TABLE])],
        # The group of its dbt counts model (models/intermediate/experiments/).
        group_name="experiments",
        kinds={"python", settings.engine},
        owners=OWNERS,
        pool=WAREHOUSE_POOL,
        check_specs=[
            dg.AssetCheckSpec(name, asset=key, description=text) for name, text in CHECKS.items()
        ],
        description=(
            "A/B test read-out (docs/metrics.md, fct_experiment_results): per experiment and "
            "variation, conversion, lift against the control with its 95% interval, the "
            "z-test p-value and the sample-ratio-mismatch check. Counts come from dbt "
            "(int_experiment_counts); the statistics are computed here with scipy and the "
            "table is replaced in one transaction."
        ),
    )
    def fct_experiment_results(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        results = build_experiment_results(settings)
        failures = check_results(results)
        context.log.info(f"{RESULTS_SCHEMA}.{RESULTS_TABLE}: {len(results)} rows")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(results),
                "experiments": len({row.experiment_id for row in results}),
                "with_srm": sorted({row.experiment_id for row in results if row.has_srm}),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=name,
                    passed=not failures[name],
                    metadata={"failures": failures[name][:20]},
                )
                for name in CHECKS
            ],
        )

    return dg.Definitions(assets=[fct_experiment_results])
