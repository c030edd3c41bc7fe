"""The hashes A1111 / Civitai know a generation's model and LoRAs by, for the PNG infotext.

Both are memoised by the file's digest (which the build already has), so a multi-gigabyte
checkpoint or a large LoRA is hashed once, not on every build that writes its images.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from ...core.kind import BuildContext
from ...media.webui_hashes import file_sha256, lora_hash

MEMO_NS = "generation.webui_hash"


def _memoised(ctx: BuildContext, what: str, digest: str, compute) -> str:
    memo = ctx.memo(MEMO_NS)
    key = memo.key(what, digest)
    hit = memo.get(key)
    if hit is not None:
        return hit[0]
    value = compute()
    memo.put(key, value)
    return value


def checkpoint_sha256(ctx: BuildContext, spec: Any) -> str | None:
    """sha256 of the model when it is one checkpoint file; None for a folder, a hub id or a
    builtin, which no web UI could look up by hash."""
    from ...models import model_file_input_path

    rel = model_file_input_path(spec, ctx.project_root)
    listing = ctx.inputs.get(rel) if rel is not None else None
    if listing is None or "" not in listing.entries:
        return None
    return _memoised(ctx, "checkpoint", listing.entries[""][0], lambda: file_sha256(listing.abspath("")))


def lora_webui_hash(ctx: BuildContext, digest: str, path: Path) -> str:
    """A LoRA file's web-UI hash; empty for a file that is no safetensors file (check_fit
    reports that one properly)."""
    try:
        return _memoised(ctx, "lora", digest, lambda: lora_hash(path))
    except (OSError, ValueError, struct.error):
        return ""
