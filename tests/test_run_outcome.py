"""The run summary's verdict: a run that silently skipped assets is a failed run."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg

from orchestration.run import EXIT_FAILED, EXIT_OK, collect_outcome, outcome_exit_code


def build_job(lose_output: bool) -> dg.JobDefinition:
    """Two assets from one step, as dagster-dbt makes them, and one downstream of each."""

    @dg.multi_asset(
        outs={name: dg.AssetOut(is_required=False) for name in ("model_a", "model_b")},
        can_subset=True,
    )
    def models() -> Iterator[dg.Output[int]]:
        yield dg.Output(1, output_name="model_a")
        if not lose_output:  # a model whose result line the step could not read
            yield dg.Output(2, output_name="model_b")

    @dg.asset(deps=["model_b"])
    def report() -> None:
        return None

    return dg.Definitions(assets=[models, report]).resolve_implicit_global_asset_job_def()


def test_an_asset_lost_without_a_failure_fails_the_run() -> None:
    instance = dg.DagsterInstance.ephemeral()
    job = build_job(lose_output=True)
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert result.success  # what Dagster says: the step yielded what it yielded

    outcome = collect_outcome([result], {}, instance)

    assert outcome_exit_code(outcome) == EXIT_FAILED
    [failure] = outcome["step_failures"]
    assert failure.startswith("2 asset(s) planned but never materialized")
    assert "model_b" in failure and "report" in failure and "model_a" not in failure


def test_a_whole_run_passes() -> None:
    instance = dg.DagsterInstance.ephemeral()
    result = build_job(lose_output=False).execute_in_process(
        instance=instance, raise_on_error=False
    )

    outcome = collect_outcome([result], {}, instance)

    assert outcome["step_failures"] == []
    assert outcome_exit_code(outcome) == EXIT_OK
