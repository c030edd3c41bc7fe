"""Keys, staleness and the reason for it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .files import list_input, listing_key, still_as_listed
from .hashing import canonical_json
from .inputs import FileListing
from .keys import key_inputs, key_of, key_path, static_inputs
from .project import Project, Target
from .store import ActionRecord, LocalStore


@dataclass
class KeyInfo:
    key: str
    inputs: dict[str, Any]  # what was hashed
    listings: dict[str, FileListing]


class Planner:
    """listed: file inputs listed moments ago under this build's lock (a project snapshot's
    check that missed), each used once instead of walking the folder again."""

    def __init__(self, project: Project, store: LocalStore, listed: dict[tuple, FileListing] | None = None):
        self.project = project
        self.store = store
        self.settings = project.settings_dict()
        self.listed = dict(listed or {})

    def listings(self, t: Target) -> dict[str, FileListing]:
        return {fi.path: self.listed.pop(listing_key(fi), None) or list_input(self.project.root, fi, self.store.stat)
                for fi in t.files}

    def changed_since(self, t: Target, listings: dict[str, FileListing],
                      only: dict[str, list[str]] | None = None) -> list[str]:
        """The inputs whose listed files (of a folder in `only`, just the files named there) no
        longer hold the listed bytes."""
        only = only or {}
        return [fi.path for fi in t.files
                if not still_as_listed(self.project.root, fi, self.store.stat, _part(listings[fi.path], only.get(fi.path)))]

    def key(self, t: Target, upstream: dict[str, str], listings: dict[str, FileListing] | None = None) -> KeyInfo:
        """The key of a target given its upstream artifact digests."""
        listings = self.listings(t) if listings is None else listings
        inputs = key_inputs(static_inputs(t, self.settings), {r.target: upstream[r.target] for r in t.refs}, listings,
                            t.kind.env_allowlist)
        return KeyInfo(key_of(inputs), inputs, listings)

    def why_stale(self, old: ActionRecord | None, info: KeyInfo) -> list[str]:
        """explain(), with the files that changed inside a folder input named one by one."""
        reasons = explain(old, info.inputs)
        if old is None or not old.listings:
            return reasons
        current = {key_path(p, i): lst for i, (p, lst) in enumerate(info.listings.items())}
        out = []
        for line in reasons:
            out.append(line)
            for path, blob in old.listings.items():
                if line.startswith(f"file {path}:") and path in current:
                    detail = self._folder_diff(blob, current[path])
                    if detail:
                        out[-1] = f"file {path}: {detail}"
        return out

    def listing_blobs(self, info: KeyInfo) -> dict[str, str]:
        """Store each folder input's listing, for a later why_stale()."""
        return {
            key_path(p, i): self.store.put_bytes(canonical_json({rel: v[0] for rel, v in lst.entries.items()}))
            for i, (p, lst) in enumerate(info.listings.items())
            if "" not in lst.entries
        }

    def _folder_diff(self, blob: str, lst: FileListing) -> str | None:
        try:
            before = json.loads(self.store.blob_path(blob).read_bytes())
        except (OSError, ValueError):
            return None
        now = {rel: v[0] for rel, v in lst.entries.items()}
        parts = []
        for word, names in (("changed", [r for r in now if r in before and before[r] != now[r]]),
                            ("added", [r for r in now if r not in before]),
                            ("removed", [r for r in before if r not in now])):
            if names:
                shown = ", ".join(sorted(names)[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
                parts.append(f"{len(names)} {word} ({shown})")
        return "; ".join(parts) or None


def _part(listing: FileListing, rels: list[str] | None) -> FileListing:
    if rels is None or "" in listing.entries:
        return listing
    return FileListing(listing.root, {r: listing.entries[r] for r in rels if r in listing.entries})


def explain(old: ActionRecord | None, new: dict[str, Any]) -> list[str]:
    """Human reasons why `new` key inputs differ from the last build's."""
    if old is None:
        return ["never built"]
    return diff(old.key_inputs, new) or ["same inputs as the last build (cache entry removed?)"]


def diff(old: Any, new: Any, path: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in sorted(set(old) | set(new), key=str):
            p = f"{path}.{k}" if path else str(k)
            if k not in old:
                out.append(f"{p} added: {_short(new[k])}")
            elif k not in new:
                out.append(f"{p} removed (was {_short(old[k])})")
            else:
                out += diff(old[k], new[k], p)
        return out
    if old != new:
        label = _label(path)
        return [f"{label}: {_short(old)} → {_short(new)}"]
    return []


def _label(path: str) -> str:
    for prefix, name in (("upstream.", "upstream artifact "), ("files.", "file "), ("config.", "config "),
                         ("settings.", "settings "), ("env.", "environment ")):
        if path.startswith(prefix):
            return name + path[len(prefix):]
    return path


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."
