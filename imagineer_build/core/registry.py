"""Kinds are found through the `imagineer_build.kinds` entry-point group, so core imports none.

Each entry point is named after its spec section (`sources = pkg.module:Class`), so a kind's
module is imported only when a spec uses its section: a project of folders never pays for
the LoRA trainer's config models. IMAGINEER_KINDS="pkg.module:Class,..." adds kinds without
packaging them (local experiments, tests); they are loaded at once and may replace a section.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Mapping
from functools import cache

from .kind import Kind

GROUP = "imagineer_build.kinds"


class Kinds(Mapping):
    """section → kind instance, importing each kind on first use."""

    def __init__(self, loaders: dict[str, object], loaded: dict[str, Kind]):
        self._loaders = loaders  # section → entry point (not loaded yet)
        self._loaded = loaded

    def __getitem__(self, section: str) -> Kind:
        if section not in self._loaded:
            ep = self._loaders[section]  # KeyError for an unknown section, as a Mapping should
            cls = ep.load()  # type: ignore[attr-defined]
            if cls.section != section:
                raise RuntimeError(f"entry point {ep.name!r} ({ep.value}) declares section {cls.section!r}")  # type: ignore[attr-defined]
            self._loaded[section] = cls()
        return self._loaded[section]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(set(self._loaders) | set(self._loaded)))

    def __len__(self) -> int:
        return len(set(self._loaders) | set(self._loaded))

    def __contains__(self, section: object) -> bool:
        return section in self._loaders or section in self._loaded


@cache
def load_kinds() -> Kinds:
    """section name (e.g. 'sources') → kind instance, imported lazily."""
    from importlib.metadata import entry_points

    loaders = {ep.name: ep for ep in entry_points(group=GROUP)}
    loaded: dict[str, Kind] = {}
    for spec in filter(None, os.environ.get("IMAGINEER_KINDS", "").split(",")):
        module, _, attr = spec.strip().partition(":")
        cls = getattr(importlib.import_module(module), attr)
        loaded[cls.section] = cls()
        loaders.pop(cls.section, None)
    return Kinds(loaders, loaded)
