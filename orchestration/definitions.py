"""Composition root: load every piece under defs/ and pin the one warehouse setting."""

from pathlib import Path

import dagster as dg

from orchestration.lib.project import export_warehouse_path

export_warehouse_path()

defs = dg.load_from_defs_folder(project_root=Path(__file__).resolve().parent.parent)
