"""Settings inside the image: the A1111 `parameters` text chunk, plus our JSON, added to a PNG.

Chunks are spliced in after IHDR, so the pixels (and the memoised PNG) are never re-encoded.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

from ...media.webui_hashes import LORA_HASH_DIGITS, MODEL_HASH_DIGITS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Our scheduler names → the sampler names A1111 writes, which other tools parse.
SAMPLER_NAMES = {
    "dpmpp": "DPM++ 2M", "dpmpp_karras": "DPM++ 2M Karras", "euler": "Euler", "euler_a": "Euler a",
    "ddim": "DDIM", "pndm": "PLMS", "heun": "Heun", "unipc": "UniPC",
}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def text_chunk(key: str, text: str) -> bytes:
    """tEXt when the text is Latin-1 (what A1111 writes), else uncompressed UTF-8 iTXt."""
    try:
        return _chunk(b"tEXt", key.encode("latin-1") + b"\0" + text.encode("latin-1"))
    except UnicodeEncodeError:
        return _chunk(b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + text.encode("utf-8"))


def add_text(png: bytes, items: dict[str, str]) -> bytes:
    """The PNG with text chunks inserted right after its IHDR chunk."""
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG")
    ihdr_len = struct.unpack(">I", png[8:12])[0]
    end = 8 + 12 + ihdr_len
    extra = b"".join(text_chunk(k, v) for k, v in items.items())
    return png[:end] + extra + png[end:]


def parameters_text(p: dict[str, Any]) -> str:
    """The A1111 infotext: prompt (with <lora:…> tags), negative, then `Key: value` settings.

    Hashes are the ones the web UIs look files up by (media/webui_hashes.py): `Model hash` only
    for a single checkpoint file, `Lora hashes` as `name: hash` pairs matching the prompt's tags.
    """
    loras = p.get("loras") or []
    prompt = p["prompt"] + "".join(f" <lora:{_alias(lo['name'])}:{lo['weight']:g}>" for lo in loras)
    fields: list[tuple[str, Any]] = [
        ("Steps", p["steps"]), ("Sampler", SAMPLER_NAMES.get(p["scheduler"], p["scheduler"])),
        ("CFG scale", f"{p['guidance']:g}"), ("Seed", p["seed"]), ("Size", f"{p['width']}x{p['height']}"),
    ]
    if p.get("model_sha256"):
        fields.append(("Model hash", p["model_sha256"][:MODEL_HASH_DIGITS]))
    fields.append(("Model", p["model"]))
    hashes = ", ".join(f"{_alias(lo['name'])}: {lo['webui_hash'][:LORA_HASH_DIGITS]}"
                       for lo in loras if lo.get("webui_hash"))
    if hashes:
        fields.append(("Lora hashes", hashes))
    fields.append(("Version", "imagineer-build"))
    lines = [prompt]
    if p.get("negative"):
        lines.append(f"Negative prompt: {p['negative']}")
    lines.append(", ".join(f"{k}: {_quoted(v)}" for k, v in fields))
    return "\n".join(lines)


def _alias(name: str) -> str:
    """A LoRA name as A1111 writes it in tags and hashes: no ':' or ',' (its separators)."""
    return name.replace(":", "").replace(",", "")


def _quoted(value: Any) -> str:
    """A value that holds a separator (',', ':' or a newline) becomes a JSON string, which is
    how A1111's infotext keeps such values whole."""
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if any(c in text for c in ",:\n") else text


def with_metadata(png: bytes, params: dict[str, Any]) -> bytes:
    return add_text(png, {"parameters": parameters_text(params),
                          "imagineer": json.dumps(params, sort_keys=True, ensure_ascii=False)})
