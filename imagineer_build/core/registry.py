"""Kinds are found through the `imagineer_build.kinds` entry-point group, so core imports none.

IMAGINEER_KINDS="pkg.module:Class,..." adds kinds without packaging them (local experiments,
tests); they are loaded after the entry points and may replace a section.
"""

from __future__ import annotations

import importlib
import os
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
    for spec in filter(None, os.environ.get("IMAGINEER_KINDS", "").split(",")):
        module, _, attr = spec.strip().partition(":")
        cls = getattr(importlib.import_module(module), attr)
        kinds[cls.section] = cls()
    return kinds
