"""Command line: `python -m demo generate|serve ...`."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from demo.world import timed_generate


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="write a deterministic sample world")
    gen.add_argument("--out", type=Path, required=True, help="folder to (over)write")
    gen.add_argument("--scale", type=float, default=1.0, help="1 = 150 accounts, 150k events")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument(
        "--end-date",
        type=date.fromisoformat,
        default=None,
        help="last day (default: yesterday UTC)",
    )
    gen.add_argument("--days", type=int, default=90)
    serve = commands.add_parser("serve", help="serve a world's vendor APIs on localhost")
    serve.add_argument("--data", type=Path, required=True)
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--page-size", type=int, default=50)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    if args.command == "serve":
        # Imported here so that `generate` works without the sandbox module.
        from demo.sandbox import serve_forever

        serve_forever(args.data, args.port, args.page_size)
        return 0
    manifest, seconds = timed_generate(
        out=args.out, scale=args.scale, seed=args.seed, end_date=args.end_date, days=args.days
    )
    counts = manifest["counts"]
    print(
        f"sample world {manifest['start_date']}..{manifest['end_date']} "
        f"(seed {manifest['seed']}, scale {manifest['scale']}) -> {args.out}"
    )
    for key, value in counts.items():
        if not isinstance(value, dict):
            print(f"  {key:32} {value:>10,}")
    by_type = ", ".join(f"{k} {v:,}" for k, v in counts["events_by_type"].items())
    print(f"  events by type: {by_type}")
    planted = ", ".join(f"{k} {v}" for k, v in manifest["planted"].items())
    print(f"  planted: {planted}")
    print(f"  generated in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
