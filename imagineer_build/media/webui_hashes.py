"""The hashes the Stable Diffusion web UIs look files up by, so our PNGs name files they can find.

A1111 (and Civitai, which reads its infotext) names a checkpoint by the sha256 of the whole
file, shown as its first 10 hex digits, and a LoRA by the sha256 of a .safetensors file's tensor
bytes (everything after the header, so editing metadata keeps the hash), shown as its first 12.
sd-scripts writes that LoRA hash into the file's metadata as `sshs_model_hash`, with the older
8-digit `sshs_legacy_hash` beside it, and the web UI prefers the metadata value when present.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
from pathlib import Path
from typing import Any, BinaryIO

MODEL_HASH_DIGITS = 10  # A1111's "Model hash" in the infotext
LORA_HASH_DIGITS = 12  # A1111's "Lora hashes" entries
_CHUNK = 1 << 20
_LEGACY_OFFSET, _LEGACY_LEN = 0x100000, 0x10000  # the old hash: 64 KiB read at 1 MiB


def file_sha256(path: Path) -> str:
    """sha256 of a whole file (a checkpoint's hash)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _tensor_bytes_sha256(f: BinaryIO) -> str:
    (n,) = struct.unpack("<Q", f.read(8))
    f.seek(8 + n)
    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(_CHUNK), b""):
        h.update(chunk)
    return h.hexdigest()


def tensor_sha256(data: bytes) -> str:
    """sha256 of a safetensors file's bytes after its header."""
    return _tensor_bytes_sha256(io.BytesIO(data))


def legacy_hash(data: bytes) -> str:
    """The old additional-networks hash: 8 hex digits of the sha256 of 64 KiB at offset 1 MiB
    (of nothing, for a file smaller than 1 MiB)."""
    return hashlib.sha256(data[_LEGACY_OFFSET : _LEGACY_OFFSET + _LEGACY_LEN]).hexdigest()[:8]


def sshs_metadata(tensors: dict[str, Any], metadata: dict[str, str]) -> dict[str, str]:
    """`sshs_model_hash` / `sshs_legacy_hash` for a LoRA file with these tensors and metadata.

    As sd-scripts does, the hashes are taken of the file as saved with only its `ss_` training
    metadata, so user metadata added later changes neither."""
    from .tensors import save

    data = save(tensors, metadata={k: v for k, v in metadata.items() if k.startswith("ss_")})
    return {"sshs_model_hash": tensor_sha256(data), "sshs_legacy_hash": legacy_hash(data)}


def read_metadata(path: Path) -> dict[str, str]:
    """A safetensors file's `__metadata__` (empty when it has none)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    meta = header.get("__metadata__") or {}
    return {str(k): str(v) for k, v in meta.items()}


def lora_hash(path: Path) -> str:
    """The full hash A1111 keys a LoRA file by: its `sshs_model_hash` metadata when present,
    else the sha256 of its tensor bytes."""
    given = read_metadata(path).get("sshs_model_hash")
    if given:
        return given
    with open(path, "rb") as f:
        return _tensor_bytes_sha256(f)
