"""Turn a Messages API answer into a Label, or say exactly why it cannot be one."""

from __future__ import annotations

import json
from typing import Any

from ...media.labelset import NSFW_RATINGS, Label
from .prompts import TOOL_NAME


class AnswerError(ValueError):
    """An answer that is not a usable label: a refusal, no tool call, or a malformed one."""


def _text(content: list[dict[str, Any]]) -> str:
    return " ".join(b.get("text", "") for b in content if b.get("type") == "text").strip()


def parse_answer(msg: dict[str, Any], preset: str) -> dict[str, Any]:
    """{caption, tags, nsfw, confidence} from the forced tool call of a message."""
    content = msg.get("content") or []
    stop = msg.get("stop_reason")
    if stop == "refusal":
        said = _text(content)
        raise AnswerError("Claude declined to label this image" + (f": {said[:200]}" if said else ""))
    calls = [b for b in content if b.get("type") == "tool_use" and b.get("name") == TOOL_NAME]
    if not calls:
        said = _text(content)
        raise AnswerError(f"the answer has no {TOOL_NAME} call (stop_reason {stop})"
                          + (f": {said[:200]!r}" if said else ""))
    data = calls[0].get("input")
    if isinstance(data, str):  # some proxies pass the arguments through as JSON text
        try:
            data = json.loads(data)
        except ValueError:
            raise AnswerError(f"the {TOOL_NAME} arguments are not JSON: {data[:100]!r}") from None
    if not isinstance(data, dict):
        raise AnswerError(f"the {TOOL_NAME} arguments are not an object")
    hint = " (the answer hit max_tokens)" if stop == "max_tokens" else ""
    caption = data.get("caption")
    tags = data.get("tags", [])
    nsfw = data.get("nsfw")
    conf = data.get("confidence")
    if preset != "tags_only" and not (isinstance(caption, str) and caption.strip()):
        raise AnswerError(f"the answer has no caption{hint}")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise AnswerError(f"tags must be a list of strings, got {json.dumps(tags)[:80]}{hint}")
    if not isinstance(nsfw, str) or nsfw.strip().upper() not in NSFW_RATINGS:
        raise AnswerError(f"nsfw must be one of {', '.join(NSFW_RATINGS)}, got {json.dumps(nsfw)[:40]}{hint}")
    if conf is not None and (isinstance(conf, bool) or not isinstance(conf, (int, float)) or not 0 <= conf <= 1):
        conf = None  # optional: a bad confidence loses only the confidence
    tags = list(dict.fromkeys(t.strip() for t in tags if t.strip()))
    if preset == "tags_only":
        if not tags:
            raise AnswerError(f"the answer has no tags{hint}")
        caption = ", ".join(tags)
    return {"caption": caption.strip() if caption else None, "tags": tags,
            "nsfw": nsfw.strip().upper(), "confidence": float(conf) if conf is not None else None}


def to_label(fields: dict[str, Any], model: str, prompt_version: str) -> Label:
    return Label(**fields, labeler="claude", model=model, prompt_version=prompt_version, origin="claude")
