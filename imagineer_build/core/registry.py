"""Kinds are found through the `imagineer_build.kinds` entry-point group, so core imports none."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from .kind import Kind

GROUP = "imagineer_build.kinds"


@cache
def load_kinds() -> dict[str, Kind]:
    """section name (e.g. 'sources') → kind instance."""
    kinds: dict[str, Kind] = {}
    for ep in entry_points(group=GROUP):
        cls = ep.load()
        kinds[cls.section] = cls()
    return kinds
