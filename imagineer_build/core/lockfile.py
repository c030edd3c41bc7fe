"""imagineer.lock: target → kind, key, artifact digest and a few facts; sorted for clean diffs.

The lock is committed and edited by merges, so it is read as untrusted input: conflict
markers, another tool version's format or a hand edit gives a LockError that names the file
and the entry, never a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .store import atomic_write

HEADER = "# imagineer.lock: what each target was last built from (key) and to (artifact). Commit it.\n"
VERSION = 1
DIGEST = re.compile(r"^[0-9a-f]{32}$")
MAX_BYTES = 16 << 20
FIX = "regenerate it with `imagineer build` (delete it first) or restore it from git"


class LockError(Exception):
    """imagineer.lock cannot be used; the message says where and what to do."""


def read_lock(path: Path) -> dict[str, dict[str, Any]]:
    """target → entry; {} when there is no lock yet."""
    if not path.exists() and not path.is_symlink():
        return {}
    return parse_lock(path, _read_text(path))


def parse_lock(path: Path, text: str) -> dict[str, dict[str, Any]]:
    """read_lock() of text already read from path."""
    from .spec import SpecErrors, load_yaml

    name = path.name
    conflict = next((i for i, line in enumerate(text.splitlines(), 1)
                     if line.startswith(("<<<<<<< ", "=======", ">>>>>>> ")) or line in ("<<<<<<<", ">>>>>>>")), None)
    if conflict:
        raise LockError(f"{name}:{conflict}:1: git conflict markers: keep one side of each conflict, "
                        f"or {FIX}")
    try:
        doc = load_yaml(path, name, text=text)
    except SpecErrors as e:
        raise LockError(f"{e.errors[0]}\n  {name} is damaged: {FIX}") from None
    data = doc.data
    if data in (None, {}):
        return {}
    if not isinstance(data, dict):
        raise LockError(f"{doc.pos(())}: expected a mapping with `version` and `targets`; {FIX}")
    version = data.get("version", VERSION)
    if version != VERSION:
        raise LockError(f"{doc.pos(('version',))}: lock format version {version!r}, written by another version of "
                        f"imagineer-build (this one reads version {VERSION}); {FIX}")
    targets = data.get("targets") or {}
    if not isinstance(targets, dict):
        raise LockError(f"{doc.pos(('targets',))}: `targets` must be a mapping of target names; {FIX}")
    out: dict[str, dict[str, Any]] = {}
    for tname, entry in targets.items():
        problem = _entry_problem(entry)
        if problem:
            field, why = problem
            raise LockError(f"{doc.pos(('targets', tname, *field))}: entry {tname!r}: {why}; {FIX}")
        out[str(tname)] = entry
    return out


def _read_text(path: Path) -> str:
    from .files import read_regular

    try:
        data = read_regular(path, MAX_BYTES)
    except OSError as e:
        raise LockError(f"{path.name}: cannot read it ({e.strerror or e}); {FIX}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise LockError(f"{path.name}: not UTF-8 text (a binary file?); {FIX}") from None


def _entry_problem(entry: Any) -> tuple[tuple[str, ...], str] | None:
    """(where in the entry, what is wrong), or None for a usable entry."""
    if not isinstance(entry, dict):
        return (), f"expected a mapping, got {type(entry).__name__}"
    for field in ("key", "artifact"):
        v = entry.get(field)
        if not isinstance(v, str) or not DIGEST.match(v):
            return (field,), f"`{field}` must be a 32-character hex digest, got {str(v)[:40]!r}"
    if not isinstance(entry.get("kind", ""), str):
        return ("kind",), "`kind` must be text"
    if not isinstance(entry.get("facts", {}), dict):
        return ("facts",), "`facts` must be a mapping"
    return None


def lock_entry(kind: str, key: str, artifact: str, facts: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """A built or cached target's entry; `run`: its action record's run facts."""
    entry = {"kind": kind, "key": key, "artifact": artifact, "facts": facts}
    if run.get("nondeterministic"):
        entry["nondeterministic"] = run["nondeterministic"]
    return entry


def write_lock(path: Path, entries: dict[str, dict[str, Any]]) -> None:
    import yaml

    body = {"version": VERSION, "targets": {k: entries[k] for k in sorted(entries)}}
    text = HEADER + yaml.safe_dump(body, sort_keys=True, default_flow_style=False, allow_unicode=True)
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    atomic_write(path, text.encode("utf-8"))
