"""Settings inside the image: the A1111 `parameters` text chunk, plus our JSON, added to a PNG.

Chunks are spliced in after IHDR, so the pixels (and the memoised PNG) are never re-encoded.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

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
    """The A1111 infotext: prompt (with <lora:…> tags), negative, then `Key: value` settings."""
    loras = p.get("loras") or []
    prompt = p["prompt"] + "".join(f" <lora:{lo['name']}:{lo['weight']:g}>" for lo in loras)
    fields = [
        ("Steps", p["steps"]), ("Sampler", SAMPLER_NAMES.get(p["scheduler"], p["scheduler"])),
        ("CFG scale", f"{p['guidance']:g}"), ("Seed", p["seed"]), ("Size", f"{p['width']}x{p['height']}"),
        ("Model hash", p["model_hash"][:10]), ("Model", p["model"]),
    ]
    if loras:
        hashes = ", ".join(f"{lo['name']}: {lo['digest'][:12]}" for lo in loras)
        fields.append(("Lora hashes", f'"{hashes}"'))
    fields.append(("Version", "imagineer-build"))
    lines = [prompt]
    if p.get("negative"):
        lines.append(f"Negative prompt: {p['negative']}")
    lines.append(", ".join(f"{k}: {v}" for k, v in fields))
    return "\n".join(lines)


def with_metadata(png: bytes, params: dict[str, Any]) -> bytes:
    return add_text(png, {"parameters": parameters_text(params),
                          "imagineer": json.dumps(params, sort_keys=True, ensure_ascii=False)})
