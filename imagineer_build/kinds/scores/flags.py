"""Hand flags: a project YAML file that marks images failed or ok, keyed by image digest.

A flag always wins over the scorer's verdict and never touches the scored album. The file is
a person's: `imagineer scores flag` changes only the entries it is asked to, line by line, and
keeps everything else (comments, notes, other entries) as it was.

    # <image digest>: {flag: failed | ok, file: NAME (for people), note: free text}
    3f2a…: {flag: failed, file: 004_ace-of-spades_neon-blue.png}
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

import yaml

from ...media.album import AlbumImage

FLAGS = ("failed", "ok")
HEADER = ("# Hand flags for {target}: failed | ok per image, keyed by image digest; they always win over\n"
          "# the scorer. Written by `imagineer scores flag`; edit freely (`file` and `note` are for people).\n")


class FlagsError(ValueError):
    pass


def load_flags(path: Path, shown: str) -> dict[str, str]:
    """key (image digest, album path or file name) → 'failed' | 'ok'; errors name file:line:col."""
    from ...core.spec import SpecErrors, load_yaml

    try:
        doc = load_yaml(path, shown)
    except SpecErrors as e:
        raise FlagsError(str(e)) from None
    if doc.data in (None, {}):
        return {}
    if not isinstance(doc.data, dict):
        raise FlagsError(f"{doc.pos(())}: expected a mapping of image digest → {{flag: failed | ok}}")
    out: dict[str, str] = {}
    for key, entry in doc.data.items():
        flag = entry.get("flag") if isinstance(entry, dict) else entry
        if flag not in FLAGS:
            raise FlagsError(f"{doc.pos((key, 'flag') if isinstance(entry, dict) else (key,))}: "
                             f"flag must be failed or ok, got {flag!r}")
        unknown = sorted(set(entry) - {"flag", "file", "note"}) if isinstance(entry, dict) else []
        if unknown:
            raise FlagsError(f"{doc.key_pos((key, unknown[0]))}: unknown key {unknown[0]!r}; expected flag, file, note")
        out[str(key)] = flag
    return out


def match_flags(flags: dict[str, str], images: list[AlbumImage]) -> tuple[dict[str, str], list[str]]:
    """(image digest → flag, keys that name no image or several). A digest key beats a name."""
    by_path = {im.path: im.digest for im in images}
    by_name: dict[str, set[str]] = {}
    for im in images:
        by_name.setdefault(posixpath.basename(im.path), set()).add(im.digest)
    digests = {im.digest for im in images}
    out: dict[str, str] = {}
    unmatched: list[str] = []
    for key, flag in flags.items():
        if key in digests:
            continue
        hit = by_path.get(key) or (next(iter(by_name[key])) if len(by_name.get(key, ())) == 1 else None)
        if hit is None:
            unmatched.append(key)
        else:
            out[hit] = flag
    out.update({k: f for k, f in flags.items() if k in digests})
    return out, unmatched


def flags_file(config, target: str, to: Path | None = None) -> str:
    """The project file a scores target's flags go to: its `overrides:`, else `to`, else flags/TARGET.yaml."""
    return config.overrides or (str(to) if to else f"flags/{target}.yaml")


def flag_entry(im: AlbumImage, flag: str, note: str | None = None) -> dict[str, Any]:
    """One image's entry as `imagineer scores flag` and the review web app write it."""
    return {"flag": flag, "file": posixpath.basename(im.path), **({"note": note} if note else {})}


def write_flags(path: Path, updates: dict[str, dict[str, Any] | None], target: str) -> None:
    """Apply set_flags to the file (created when missing), atomically."""
    from ...core.store import atomic_write

    text = path.read_text(encoding="utf-8") if path.exists() else ""
    new = set_flags(text, updates, target)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, new.encode("utf-8"))


def set_flags(text: str, updates: dict[str, dict[str, Any] | None], target: str) -> str:
    """The file's text with each digest's entry replaced by a one-line entry (None: removed)
    or appended; every other line is kept as written."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    node = yaml.compose(text) if text.strip() else None
    if node is not None and not isinstance(node, yaml.MappingNode):
        raise FlagsError("the flags file is not a mapping of image digest → {flag: ...}")
    spans: dict[str, tuple[int, int, Any]] = {}
    for k, v in (node.value if node is not None else []):
        spans[str(k.value)] = (k.start_mark.line, _last_line(v) + 1, yaml.safe_load(yaml.serialize(v)))
    edits: list[tuple[int, int, list[str]]] = []
    appended: list[str] = []
    for digest, entry in updates.items():
        if digest in spans:
            start, end, old = spans[digest]
            if entry is None:
                edits.append((start, end, []))
            else:
                merged = {**(old if isinstance(old, dict) else {}), **entry}
                edits.append((start, end, [_line(digest, merged)]))
        elif entry is not None:
            appended.append(_line(digest, entry))
    for start, end, new in sorted(edits, reverse=True):
        lines[start:end] = new
    if not lines:
        lines = [HEADER.format(target=target)]
    return "".join(lines + appended)


def _line(digest: str, entry: dict[str, Any]) -> str:
    ordered = {k: entry[k] for k in ("flag", "file", "note") if k in entry}
    ordered.update({k: v for k, v in entry.items() if k not in ordered})
    return yaml.safe_dump({digest: ordered}, default_flow_style=None, sort_keys=False, width=10_000,
                          allow_unicode=True)


def _last_line(node: Any) -> int:
    """The last line (0-based) a value node's own text is on: for a block mapping, the end of
    its last scalar, so comments after it stay."""
    if isinstance(node, yaml.ScalarNode) or getattr(node, "flow_style", False):
        end = node.end_mark
        return end.line if end.column > 0 else end.line - 1
    if isinstance(node, yaml.MappingNode):
        return max([node.start_mark.line] + [_last_line(x) for kv in node.value for x in kv])
    if isinstance(node, yaml.SequenceNode):
        return max([node.start_mark.line] + [_last_line(x) for x in node.value])
    return node.start_mark.line
