"""Zip the Superset dashboard bundle with the path of your published marts file filled in.

`superset import-dashboards` takes one ZIP of YAML files (database, datasets, charts,
dashboard), and a database's YAML holds its SQLAlchemy URI, so the checked-in bundle carries
the placeholder `__MARTS_PATH__` and this script writes a ZIP for your file:

    python bi/superset/make_bundle.py data/analytics.duckdb /tmp/productops-dashboard.zip
    superset import-dashboards -p /tmp/productops-dashboard.zip -u admin

Standard library only, so that any Python (the project's or Superset's) runs it.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

BUNDLE = Path(__file__).resolve().parent / "bundle"
ROOT = "productops_dashboard"  # the folder every file sits in inside the ZIP, as Superset exports
PLACEHOLDER = "__MARTS_PATH__"


def make_bundle(marts: Path, out: Path) -> Path:
    """Write the ZIP `out` whose database points at `marts` (read-only); return `out`."""
    marts = marts.resolve()
    if not marts.is_file():
        raise FileNotFoundError(
            f"{marts}: no published marts file here. Run the pipeline (`make run`) or pass the "
            "path of analytics.duckdb (MARTS_PATH, docs/bi.md)."
        )
    if "?" in str(marts) or "#" in str(marts):
        raise ValueError(f"{marts}: a '?' or '#' in the path would break the database URL; move it")
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(BUNDLE.rglob("*.yaml")):
            text = path.read_text(encoding="utf-8").replace(PLACEHOLDER, marts.as_posix())
            archive.writestr(f"{ROOT}/{path.relative_to(BUNDLE).as_posix()}", text)
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: make_bundle.py MARTS_FILE OUT_ZIP."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("marts", type=Path, help="the published analytics.duckdb")
    parser.add_argument("out", type=Path, help="the ZIP to write")
    args = parser.parse_args(argv)
    try:
        print(make_bundle(args.marts, args.out))
    except (FileNotFoundError, ValueError) as error:
        print(f"make_bundle: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
