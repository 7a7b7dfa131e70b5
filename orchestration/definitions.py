"""Composition root: load every piece under defs/, pin the warehouse, apply freshness policy."""

from pathlib import Path

import dagster as dg

from orchestration.lib.freshness import with_freshness
from orchestration.lib.project import export_warehouse_settings, load_project_env

load_project_env()  # `.env` at the project root; exported variables win
export_warehouse_settings()

defs = with_freshness(dg.load_from_defs_folder(project_root=Path(__file__).resolve().parent.parent))
