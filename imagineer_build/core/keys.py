"""A target's key: its static part (kind, config, settings: fixed once the project is loaded)
plus what is read at build time (upstream artifacts, file listings, allowed environment).

One function composes both parts, for the planner and for a project snapshot alike, so a
key made from a snapshot is the key a full load makes.
"""

from __future__ import annotations

import os
from typing import Any

from .hashing import digest_json
from .inputs import FileListing


def static_inputs(t, settings: dict[str, Any]) -> dict[str, Any]:
    """The part of a loaded target's key that no build-time read changes."""
    kind = t.kind
    static = {
        "kind": kind.name,
        "version": kind.version,
        "config": t.config.model_dump(mode="json", by_alias=True),
        "settings": {
            "defaults": settings["defaults"].get(t.section, {}),
            **{name: settings.get(name) for name in kind.settings_in_key},
            **kind.key_extras(t.config, settings),
        },
    }
    if kind.key_includes_name:
        static["target"] = t.name
    return static


def key_inputs(static: dict[str, Any], upstream: dict[str, str], listings: dict[str, FileListing],
               env_names: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Everything a key hashes: `static` and what this build read."""
    return {**static,
            "upstream": upstream,
            "files": {key_path(p, i): lst.digest for i, (p, lst) in enumerate(listings.items())},
            "env": {v: os.environ.get(v) for v in env_names}}


def key_of(inputs: dict[str, Any]) -> str:
    return digest_json(inputs)


def key_path(path: str, index: int) -> str:
    """Keys never hold absolute paths: a file outside the project is named by its place among
    the target's inputs and its base name (unique, and the same on every machine)."""
    return f"external:{index}:{os.path.basename(path.rstrip('/'))}" if os.path.isabs(path) else path
