"""Repeat the incremental daily run on warehouses `bench/marts.py --keep-built` left: N rounds.

    .venv/bin/python bench/marts.py --build --skip-scale-1 --longer-history 10 --keep-built DIR
    .venv/bin/python bench/incremental_rounds.py DIR --rounds 3

The #16 target (the incremental `dbt build` at 10x history at most 1.5x the one at scale 10)
must hold in three consecutive runs on a quiet machine; a whole `bench/marts.py` run rebuilds
both worlds from nothing first (the 10x full build alone takes several minutes). This takes
the fully built warehouses instead (`<world>-built.duckdb` in DIR) and, each round, for each
world in turn (the order reversed every other round): a fresh copy, one more day of events
as a new completed load (`add_one_day`), then `dbt build` timed as `bench/marts.py` times it
(wall, and dbt's node seconds). Before the clock starts, `dbt parse` fills the round's
target folder, as `bench/marts.py`'s full build does before its incremental run and as the
daily schedule has it (dagster-dbt copies the prepared project's `partial_parse.msgpack`
into each invocation's target folder): the timed run parses partially, not the whole
project (a whole parse is about 6 s more).

Prints each round's figures and ratio and writes `bench/results/incremental-rounds-<ts>.json`.
The built warehouses must come from the project as it is now (a model added or changed since
would first be built whole).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from marts import incremental_run, run_dbt_command  # noqa: E402
from record import write_results  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("built", type=Path, help="the folder `bench/marts.py --keep-built` wrote")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base", default="scale_10", help="the world the ratio divides by")
    args = parser.parse_args(argv)
    built = args.built.glob("*-built.duckdb")
    worlds = sorted(path.name.removesuffix("-built.duckdb") for path in built)
    if args.base not in worlds:
        parser.error(f"no {args.base}-built.duckdb in {args.built} (found: {', '.join(worlds)})")

    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_rounds_") as tmp:
        for number in range(1, args.rounds + 1):
            figures: dict[str, Any] = {}
            # Worlds alternate in order from round to round: a world that always runs after
            # the other would always meet what the other left (its freed GBs, a warm cache).
            for world in worlds if number % 2 else worlds[::-1]:
                work = Path(tmp) / f"{number}-{world}"
                work.mkdir()
                copy = work / "warehouse.duckdb"
                shutil.copyfile(args.built / f"{world}-built.duckdb", copy)
                run_dbt_command(["parse"], copy, work)  # untimed: the timed run parses partially
                os.sync()  # the copy's GBs reach the disk before the clock starts, not during
                figures[world] = incremental_run(copy, work, with_tests=False, command="build")
                copy.unlink()  # the longer history's copy is several GB
                os.sync()  # and its blocks are freed before the next world's clock starts
            base = figures[args.base]
            line = [f"round {number}:"]
            for world in worlds:
                run = figures[world]
                run["ratio_wall"] = run["run"] / base["run"]
                run["ratio_nodes"] = run["run_nodes"] / base["run_nodes"]
                line.append(
                    f"{world} {run['run']:.1f} s ({run['run_nodes']:.1f} s nodes,"
                    f" {run['ratio_wall']:.2f}x / {run['ratio_nodes']:.2f}x)"
                )
            print("  ".join(line), flush=True)
            rounds.append(figures)

    out = write_results("incremental-rounds", {"rounds": rounds, "base": args.base})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
