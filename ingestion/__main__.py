"""Run loaders without Dagster: `python -m ingestion [SOURCE ...]` (all configured by default)."""

from __future__ import annotations

import argparse
import logging
import sys

from ingestion.settings import WarehouseSettingError, describe_warehouse, not_used_note
from ingestion.sources import BY_NAME, SOURCE_SYSTEMS


def main(argv: list[str] | None = None) -> int:
    """Load each named source; one failing source does not stop the others."""
    parser = argparse.ArgumentParser(prog="python -m ingestion", description=__doc__)
    parser.add_argument("sources", nargs="*", help=f"any of {', '.join(BY_NAME)}; default: all")
    args = parser.parse_args(argv)
    unknown = [name for name in args.sources if name not in BY_NAME]
    if unknown:
        parser.error(f"unknown source {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    failed = []
    try:
        print(f"warehouse: {describe_warehouse()}")
    except WarehouseSettingError as error:
        print(f"ingestion: {error}", file=sys.stderr)
        return 2
    for system in [BY_NAME[name] for name in args.sources] or list(SOURCE_SYSTEMS):
        try:
            result = system.load()
        except Exception as exc:  # noqa: BLE001 - report and go on with the next source
            failed.append(system.name)
            print(f"{system.name}: FAILED: {exc}", file=sys.stderr)
            continue
        if not result.enabled:
            print(f"{not_used_note(system.name)}; its tables exist empty")
            continue
        rows = ", ".join(f"{t} {n:,}" for t, n in sorted(result.rows.items())) or "no new rows"
        print(f"{system.name}: {rows}; {result.rejected} set aside; {result.seconds:.1f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
