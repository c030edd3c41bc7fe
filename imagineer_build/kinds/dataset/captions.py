"""Caption assembly: a small template language, normalization, seeded tag shuffling.

Templates use `{field}` and `{tags:N}` (the first N tags); `{{` and `}}` are literal braces.
Python's str.format is not used because `{tags:5}` would be read as a format spec.
Empty fields leave no dangling commas: captions are treated as comma-separated parts, as
kohya's shuffle_caption / keep_tokens treat them.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

FIELDS = ("trigger", "caption", "tags", "shot", "prefix", "name")
_TOKEN = re.compile(r"\{\{|\}\}|\{([a-z_]+)(?::(\d+))?\}|[{}]")


class TemplateError(ValueError):
    """A caption template that cannot be rendered; the message says what is wrong."""


def check_template(template: str) -> list[str]:
    """Problems with a template (unknown fields, stray braces); empty when it is fine."""
    problems = []
    for m in _TOKEN.finditer(template):
        tok = m.group(0)
        if tok in ("{{", "}}"):
            continue
        if m.group(1) is None:
            problems.append(f"stray '{tok}' at column {m.start() + 1} (write '{tok * 2}' for a literal brace)")
        elif m.group(1) not in FIELDS:
            problems.append(f"unknown field {{{m.group(1)}}}; known: {', '.join('{' + f + '}' for f in FIELDS)}")
        elif m.group(2) is not None and m.group(1) != "tags":
            problems.append(f"{{{m.group(1)}:{m.group(2)}}}: only {{tags:N}} takes a count")
    return problems


def uses_field(template: str, name: str) -> bool:
    return any(m.group(1) == name for m in _TOKEN.finditer(template))


def render(template: str, values: dict[str, str | None], tags: list[str]) -> str:
    """Fill a template; {tags} joins all tags, {tags:N} the first N."""
    def sub(m: re.Match) -> str:
        tok = m.group(0)
        if tok == "{{":
            return "{"
        if tok == "}}":
            return "}"
        name, count = m.group(1), m.group(2)
        if name is None or name not in FIELDS:
            raise TemplateError(f"bad caption template {template!r}: {'; '.join(check_template(template))}")
        if name == "tags":
            return ", ".join(tags[: int(count)] if count is not None else tags)
        return values.get(name) or ""

    return _TOKEN.sub(sub, template)


def split_parts(text: str) -> list[str]:
    return [p for p in (s.strip() for s in text.split(",")) if p]


_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """One line, single spaces, no empty or padded comma-separated parts."""
    text = _SPACES.sub(" ", text)
    return ", ".join(split_parts(text))


def shuffle_parts(text: str, keep_tokens: int, seed: int, salt: str) -> str:
    """Shuffle the parts after the first keep_tokens; the same (seed, salt) always gives the same order."""
    parts = split_parts(text)
    head, tail = parts[:keep_tokens], parts[keep_tokens:]
    random.Random(f"{seed}:{salt}").shuffle(tail)
    return ", ".join(head + tail)


def truncate(text: str, limit: int) -> str:
    """Cut at the last part boundary (else word boundary) that fits in limit characters."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    for sep in (", ", " "):
        i = cut.rfind(sep)
        if i > limit // 2:
            return cut[:i].rstrip(", ")
    return cut.rstrip()


@dataclass
class CaptionSettings:
    template: str
    trigger: str | None = None
    shuffle: bool = False
    keep_tokens: int = 1
    seed: int = 0
    max_length: int = 400
    prefixes: dict[str, str] = field(default_factory=dict)


@dataclass
class Assembled:
    text: str
    truncated_from: int | None = None  # the length before cutting, when it was cut


def assemble(s: CaptionSettings, *, caption: str | None, tags: list[str], shot: str | None,
             name: str, salt: str) -> Assembled:
    """The caption written next to one image."""
    prefix = s.prefixes.get(shot or "", "")
    template = s.template
    if prefix and not uses_field(template, "prefix"):
        template = "{prefix}, " + template
    values = {"trigger": s.trigger, "caption": normalize(caption or ""), "shot": shot, "prefix": prefix,
              "name": name}
    text = normalize(render(template, values, tags))
    if s.shuffle:
        text = shuffle_parts(text, s.keep_tokens, s.seed, salt)
    cut = truncate(text, s.max_length)
    return Assembled(cut, len(text) if cut != text else None)
