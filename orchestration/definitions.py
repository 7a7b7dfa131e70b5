"""Composition root: load every piece under defs/ and apply the freshness policy.

Each piece builds its assets and resources from `project.warehouse_settings()` (the project's
`.env`, then the environment; exported variables win), read when the definitions load.
"""

from pathlib import Path

import dagster as dg

from orchestration.lib.freshness import with_freshness
from orchestration.lib.startup import load_project_env

load_project_env()  # before any piece reads a setting (dlt's source settings included)

defs = with_freshness(dg.load_from_defs_folder(project_root=Path(__file__).resolve().parent.parent))
