"""imagineer.lock: target → kind, key, artifact digest and a few facts; sorted for clean diffs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .store import atomic_write

HEADER = "# imagineer.lock: what each target was last built from (key) and to (artifact). Commit it.\n"


def read_lock(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return dict(data.get("targets") or {})


def write_lock(path: Path, entries: dict[str, dict[str, Any]]) -> None:
    body = {"version": 1, "targets": {k: entries[k] for k in sorted(entries)}}
    text = HEADER + yaml.safe_dump(body, sort_keys=True, default_flow_style=False, allow_unicode=True)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    atomic_write(path, text.encode("utf-8"))
