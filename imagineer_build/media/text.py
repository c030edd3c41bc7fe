"""Captions read from files people and web pages wrote: UTF-8 text, no control characters.

A sidecar `.txt` can hold anything (a binary renamed, a NUL from a bad export); kohya and every
other trainer reads captions as plain text, so control characters never reach a caption.
"""

from __future__ import annotations

import re

MAX_CAPTION_BYTES = 1 << 20  # a sidecar larger than this is not a caption
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[ \t\r\n]+")


def caption_text(data: bytes) -> tuple[str | None, str | None]:
    """(clean text, None) or (None, why it is unusable) for a caption file's bytes."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        return None, f"caption is not UTF-8 text (byte {e.start})"
    if "\x00" in text:
        return None, "caption holds NUL bytes (a binary file?)"
    return _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip(), None
