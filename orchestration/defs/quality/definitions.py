"""Great Expectations suites from expectations/ as asset checks on their tables."""

import dagster as dg

from orchestration.lib.gx_checks import build_gx_checks


@dg.definitions
def defs() -> dg.Definitions:
    """One check per suite, keyed by the suite's table; raw-table checks block the marts."""
    return dg.Definitions(asset_checks=build_gx_checks())
