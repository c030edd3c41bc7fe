"""File names for generated images: `001_ace-of-spades_neon-blue.png`, safe on every OS."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

MAX_PART = 48
NOT_WORD = re.compile(r"[^\w]+|_+")


def slug(text: str, max_len: int = MAX_PART) -> str:
    """Lower-case words joined by '-': accents folded, anything but letters and digits dropped."""
    text = str(text)
    if not text.isascii():  # ASCII has nothing to fold
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.lower()
    text = NOT_WORD.sub("-", text).strip("-")
    return text[:max_len].rstrip("-")


def image_stem(index: int, width: int, row_part: str, variation_values: Iterable[str], copy: int | None) -> str:
    """index (zero-padded to `width`), the row's slug, the variation values, the copy number."""
    parts = [f"{index:0{width}d}"]
    for p in (slug(row_part), *(slug(v, 24) for v in variation_values)):
        if p:
            parts.append(p)
    if copy is not None:
        parts.append(str(copy))
    return "_".join(parts)


def index_width(count: int) -> int:
    return max(3, len(str(count)))
