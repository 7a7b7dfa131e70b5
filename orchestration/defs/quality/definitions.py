"""Great Expectations suites from expectations/ as asset checks on their tables."""

import dagster as dg

from orchestration.lib.gx_checks import build_gx_checks
from orchestration.lib.project import warehouse_settings


@dg.definitions
def defs() -> dg.Definitions:
    """One check per suite, keyed by the suite's table.

    Raw-table checks are blocking, but only an ERROR result (data that would make a number
    wrong) stops the marts; what the vendor contracts allow is a WARN (docs/checks.md).
    """
    return dg.Definitions(asset_checks=build_gx_checks(settings=warehouse_settings()))
