"""Input files for the file loaders: Segment event lines and the file-drop CSVs.

The file-drop samples hold one bad row of each kind next to good ones (a score out of range,
a date that is not one, seats that are not a number, no account), so a test of either engine
can check what is loaded and what is set aside.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

SURVEYS_CSV = """response_id,submitted_at,user_id,account_id,survey,score,comment
r1,2026-01-05T10:00:00Z,u1,acc_1,nps,9,great
r2,2026-01-06T10:00:00Z,,acc_1,csat,4,
r3,2026-01-06T11:00:00Z,u2,acc_2,nps,11,too high
r4,2026-01-06T11:00:00Z,u2,acc_2,csat,0,too low
r5,yesterday,u2,acc_2,nps,5,
"""
LICENSES_CSV = """license_id,account_id,product,plan,seats,starts_on,ends_on,annual_price,currency
L1,acc_1,Core,enterprise,50,2026-01-01,,60000.00,usd
L2,acc_2,Core,growth,fifty,2026-01-01,2027-01-01,1000,USD
L3,,Core,growth,5,2026-01-01,2026-06-30,1000,USD
"""


def write_file_drop(root: Path) -> dict[str, str]:
    """The two CSV samples in their landing folders under `root`; the loader's keyword args."""
    (root / "surveys").mkdir()
    (root / "surveys" / "2026-01.csv").write_text(SURVEYS_CSV)
    (root / "licenses").mkdir()
    (root / "licenses" / "licenses.csv").write_text(LICENSES_CSV)
    return {"surveys_url": str(root / "surveys"), "licenses_url": str(root / "licenses")}


def track(
    message_id: str, user: str | None = "u1", ts: str = "2026-01-05T10:00:00Z", **extra: Any
) -> dict[str, Any]:
    """A Segment `track` message (no userId when `user` is None); `extra` adds or overrides."""
    message: dict[str, Any] = {
        "type": "track",
        "messageId": message_id,
        "timestamp": ts,
        "event": "Report Created",
    }
    if user is not None:
        message["userId"] = user
    return {**message, **extra}


def write_events(path: Path, lines: list[Any], gz: bool = True) -> Path:
    """An events file: messages as JSON lines (strings written as they are), gzipped or not."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    if gz:
        path.write_bytes(gzip.compress(text.encode(), mtime=0))
    else:
        path.write_text(text)
    return path
