"""Where things are, for tests in any folder under tests/."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
VENV_BIN = PROJECT_ROOT / ".venv" / "bin"
# Real vendor records, kept beside the repository (tests that read them skip when absent).
REALDATA = PROJECT_ROOT.parent / "shared" / "realdata"
