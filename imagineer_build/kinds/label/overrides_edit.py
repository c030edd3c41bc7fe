"""Set captions in an overrides file without disturbing what a person wrote there.

The file is edited as text: a caption value is replaced in place, an entry without one gets a
`caption:` line, a new image gets a block at the end; comments, order and every other entry
stay byte for byte. The result is parsed again before it replaces the file (atomically).
"""

from __future__ import annotations

import json
from pathlib import Path

HEADER = ("# Hand edits of labels, keyed by image digest: caption / tags / nsfw / add_tags / remove_tags.\n"
          "# They always win over the labelers. Captions approved in `imagineer labels review` land here.\n")


def quoted(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def set_captions(path: Path, captions: dict[str, tuple[str, dict[str, str]]]) -> str:
    """The file's new text with digest → (caption, extra fields for a new entry) applied."""
    import yaml

    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None and not isinstance(root, yaml.MappingNode):
        raise ValueError(f"{path}: expected a mapping of image digest → edits")
    entries = {str(k.value): (k, v) for k, v in (root.value if root is not None else [])}
    edits: list[tuple[int, int, str]] = []
    blocks: list[str] = []
    for digest, (caption, extra) in captions.items():
        if digest not in entries:
            fields = {"file": extra["file"]} if "file" in extra else {}
            fields.update({"caption": caption, **extra})
            blocks.append(f"{quoted(digest)}:\n" + "".join(f"  {k}: {quoted(v)}\n" for k, v in fields.items()))
            continue
        key, value = entries[digest]
        edits.append(_edit(text, key, value, caption))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    if blocks:
        text = (text if not text or text.endswith("\n") else text + "\n") + "".join(blocks)
    return text


def _edit(text: str, key, value, caption: str) -> tuple[int, int, str]:
    import yaml

    if isinstance(value, yaml.MappingNode) and not value.flow_style and value.value:
        for k, v in value.value:
            if k.value == "caption":
                new = quoted(caption)
                end = v.end_mark.index
                if end > v.start_mark.index and text[end - 1] == "\n":  # block scalars end past their newline
                    new += "\n"
                return v.start_mark.index, end, new
        first = value.value[0][0]
        line_start = text.rfind("\n", 0, first.start_mark.index) + 1
        return line_start, line_start, " " * first.start_mark.column + f"caption: {quoted(caption)}\n"
    # an empty entry or a flow mapping: rewritten as a flow mapping with the caption set
    start, end = value.start_mark.index, value.end_mark.index
    data = yaml.safe_load(text[start:end]) if end > start else None
    data = {**(data if isinstance(data, dict) else {}), "caption": caption}
    pad = "" if text[start - 1:start].isspace() else " "
    return start, end, pad + json.dumps(data, ensure_ascii=False)
