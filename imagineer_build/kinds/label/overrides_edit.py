"""Set fields in an overrides file without disturbing what a person wrote there.

The file is edited as text: a field's value is replaced in place, an entry without the field
gets a line for it, a new image gets a block at the end; comments, order and every other entry
stay byte for byte. Callers parse the result again before it replaces the file (atomically).
`imagineer labels review` sets approved captions this way, the review web app any field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HEADER = ("# Hand edits of labels, keyed by image digest: caption / tags / nsfw / add_tags / remove_tags.\n"
          "# They always win over the labelers. Captions approved in `imagineer labels review` land here.\n")


def quoted(value: Any) -> str:
    """A YAML flow value: JSON strings, lists and null are valid YAML."""
    return json.dumps(value, ensure_ascii=False)


def set_captions(path: Path, captions: dict[str, tuple[str, dict[str, str]]]) -> str:
    """The file's new text with digest → (caption, extra fields for a new entry) applied."""
    return set_fields(path, {d: ({"caption": c}, extra) for d, (c, extra) in captions.items()})


def write_fields(path: Path, updates: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """set_fields, checked as an overrides file, then written atomically; ValueError says why not."""
    import yaml
    from pydantic import ValidationError

    from ...core.store import atomic_write
    from .overrides import OverrideEntry

    try:
        text = set_fields(path, updates)
        data = yaml.safe_load(text) or {}
        for value in data.values():
            OverrideEntry.model_validate(value or {})
    except (yaml.YAMLError, ValidationError) as e:
        raise ValueError(str(e)) from None
    atomic_write(path, text.encode("utf-8"))


def set_fields(path: Path, updates: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> str:
    """The file's new text with digest → (fields to set, extra fields for a new entry) applied."""
    import yaml

    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None and not isinstance(root, yaml.MappingNode):
        raise ValueError(f"{path}: expected a mapping of image digest → edits")
    entries = {str(k.value): (k, v) for k, v in (root.value if root is not None else [])}
    edits: list[tuple[int, int, str]] = []
    blocks: list[str] = []
    for digest, (fields, extra) in updates.items():
        if digest not in entries:
            new = {"file": extra["file"]} if "file" in extra else {}
            new.update({**fields, **extra})
            blocks.append(f"{quoted(digest)}:\n" + "".join(f"  {k}: {quoted(v)}\n" for k, v in new.items()))
            continue
        edits += _edits(text, entries[digest][1], fields)
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    if blocks:
        text = (text if not text or text.endswith("\n") else text + "\n") + "".join(blocks)
    return text


def _edits(text: str, value, fields: dict[str, Any]) -> list[tuple[int, int, str]]:
    import yaml

    if isinstance(value, yaml.MappingNode) and not value.flow_style and value.value:
        present = {str(k.value): (k, v) for k, v in value.value}
        out: list[tuple[int, int, str]] = []
        missing: dict[str, Any] = {}
        for name, val in fields.items():
            if name not in present:
                missing[name] = val
                continue
            k, v = present[name]
            if not isinstance(v, yaml.ScalarNode) and not v.flow_style and v.value:
                # a block list or mapping, perhaps on the key's indentation: `KEY: VALUE` replaces it
                out.append((k.end_mark.index, _end(v), ": " + quoted(val)))
                continue
            start, end = v.start_mark.index, v.end_mark.index
            new = quoted(val)
            if end > start and text[end - 1] == "\n":  # block scalars end past their newline
                new += "\n"
            if not text[start - 1:start].isspace():
                new = " " + new
            out.append((start, end, new))
        if missing:
            first = value.value[0][0]
            line_start = text.rfind("\n", 0, first.start_mark.index) + 1
            pad = " " * first.start_mark.column
            out.append((line_start, line_start, "".join(f"{pad}{k}: {quoted(v)}\n" for k, v in missing.items())))
        return out
    # an empty entry or a flow mapping: rewritten as a flow mapping with the fields set
    start, end = value.start_mark.index, value.end_mark.index
    data = yaml.safe_load(text[start:end]) if end > start else None
    data = {**(data if isinstance(data, dict) else {}), **fields}
    pad = "" if text[start - 1:start].isspace() else " "
    return [(start, end, pad + json.dumps(data, ensure_ascii=False))]


def _end(node) -> int:
    """Where a value's own text ends: a block collection ends with its last scalar (its end
    mark lies at the next key, past the indentation)."""
    import yaml

    if isinstance(node, yaml.ScalarNode) or node.flow_style or not node.value:
        return node.end_mark.index
    last = node.value[-1]
    return _end(last[1] if isinstance(last, tuple) else last)
