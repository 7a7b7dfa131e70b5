"""Where every bench writes its figures: `bench/results/<name>-<UTC time>[-<label>].json`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"  # git-ignored


def write_results(name: str, figures: Any, label: str = "") -> Path:
    """Write `figures` as JSON (anything else as its text) and return the file written."""
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = RESULTS / f"{name}-{stamp}{'-' + label if label else ''}.json"
    target.write_text(json.dumps(figures, indent=2, default=str))
    return target
