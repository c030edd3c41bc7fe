"""safetensors files with one byte order.

The safetensors library keeps `__metadata__` in a Rust HashMap, so two saves of the same
tensors and metadata write the header's keys in a per-process random order: same data,
different bytes, different digest. `canonical()` rewrites the header with sorted keys (same
length, same data offsets), so the file's digest depends on its content only.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any


def canonical(data: bytes) -> bytes:
    """The same safetensors file with its header's keys sorted; the tensor bytes are untouched."""
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", None)
    ordered: dict[str, Any] = {}
    if meta is not None:
        ordered["__metadata__"] = {k: meta[k] for k in sorted(meta)}
    for k in sorted(header, key=lambda k: (header[k]["data_offsets"][0], k)):
        ordered[k] = header[k]
    text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=True).encode()
    if len(text) > n:  # never happens for our own files (same keys, same values)
        raise ValueError("canonical header is longer than the original")
    return data[:8] + text + b" " * (n - len(text)) + data[8 + n :]


def canonicalize(path: Path) -> None:
    """Rewrite a safetensors file someone else saved (diffusers, transformers) in place."""
    data = path.read_bytes()
    fixed = canonical(data)
    if fixed != data:
        path.write_bytes(fixed)


def save(tensors: dict[str, Any], path: Path | None = None, metadata: dict[str, str] | None = None) -> bytes:
    """safetensors.torch.save with a canonical header; written to path when given."""
    from safetensors.torch import save as st_save

    data = canonical(st_save(tensors, metadata=metadata))
    if path is not None:
        path.write_bytes(data)
    return data
