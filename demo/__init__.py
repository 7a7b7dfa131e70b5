"""The sample world: a deterministic generator of every source's files, and a vendor sandbox.

`generate_world` lives in `world.py`; it is re-exported here lazily so that importing the
sandbox does not pull in the generator (and numpy).
"""

from __future__ import annotations

from typing import Any

__all__ = ["generate_world"]


def __getattr__(name: str) -> Any:
    if name == "generate_world":
        from demo.world import generate_world

        return generate_world
    raise AttributeError(name)
