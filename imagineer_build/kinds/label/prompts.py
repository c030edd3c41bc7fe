"""Prompt presets and the tool schema Claude answers through.

A label's `prompt_version` is the preset name plus a hash of the exact text sent, so any edit
to a preset, a custom prompt or the context relabels (it is part of the memo key).
"""

from __future__ import annotations

from typing import Any

from ...core.hashing import digest_json
from ...media.labelset import NSFW_RATINGS

SCHEMA_VERSION = "1"  # bump when the tool schema or the answer parsing changes
TOOL_NAME = "record_image_label"

_RATINGS = (
    "Rate the image for NSFW content with exactly one of: SAFE (nothing sensitive), SUGGESTIVE "
    "(revealing or flirtatious, no nudity), ADULT (nudity or strongly sexual themes), EXPLICIT "
    "(sexual acts or graphic content)."
)

_CARDS = (
    "If the image is a card (playing card, tarot, oracle), say which kind, and the suit, rank or "
    "card name when you can read or recognise it; note the art style (for example vintage, art "
    "nouveau, modern), the colour palette and any decorative border or ornament."
)

PRESETS: dict[str, str] = {
    "default": (
        "You label images for a searchable collection. Describe the image in one or two plain "
        "sentences: the subject, what it is doing, the setting, the medium and style, and the main "
        "colours. Then give 5 to 10 short lowercase tags. " + _CARDS + " " + _RATINGS
        + f" Answer only by calling the {TOOL_NAME} tool."
    ),
    "sd_training": (
        "You write captions for training a Stable Diffusion LoRA. Write one caption as a single line "
        "of comma-separated phrases, most important first: the main subject, then pose or action, "
        "clothing or surface details, background and setting, lighting, composition and camera "
        "framing, and the art style or medium. Describe only what is visible; do not guess names, "
        "do not write 'an image of', and do not judge quality. Then give 5 to 10 short lowercase "
        "tags. " + _CARDS + " " + _RATINGS + f" Answer only by calling the {TOOL_NAME} tool."
    ),
    "tags_only": (
        "You tag images for a training dataset. Give 8 to 20 short lowercase tags in the style of an "
        "image board: subject, objects, colours, setting, style and medium, most important first. "
        "Leave out the caption. " + _RATINGS + f" Answer only by calling the {TOOL_NAME} tool."
    ),
}


def instructions(preset: str, custom: str | None, context: str | None) -> str:
    """The system prompt actually sent."""
    text = custom.strip() if custom else PRESETS[preset]
    if context and context.strip():
        text += "\n\nAbout this collection: " + context.strip()
    return text


def prompt_version(preset: str, custom: str | None, text: str) -> str:
    return f"{'custom' if custom else preset}@{digest_json([SCHEMA_VERSION, text])[:8]}"


def tool(preset: str) -> dict[str, Any]:
    """The tool Claude must call; a tags_only answer needs no caption."""
    props: dict[str, Any] = {
        "caption": {"type": "string", "description": "the caption, one line"},
        "tags": {"type": "array", "items": {"type": "string"}, "description": "short lowercase tags"},
        "nsfw": {"type": "string", "enum": list(NSFW_RATINGS), "description": "content rating"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1,
                       "description": "how sure you are of the caption, 0 to 1"},
    }
    required = ["tags", "nsfw"] if preset == "tags_only" else ["caption", "tags", "nsfw"]
    if preset == "tags_only":
        del props["caption"]
    return {
        "name": TOOL_NAME,
        "description": "Record the label of the image.",
        "input_schema": {"type": "object", "properties": props, "required": required,
                         "additionalProperties": False},
    }
