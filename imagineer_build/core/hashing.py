"""Canonical JSON and xxh3-128 digests: the only way anything in the build gets a name."""

from __future__ import annotations

import json
import os
from typing import Any

import xxhash

CHUNK = 1 << 20


def canonical_json(value: Any) -> bytes:
    """JSON with sorted keys and no whitespace, so equal data always hashes equal."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def digest_bytes(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


def digest_json(value: Any) -> str:
    return digest_bytes(canonical_json(value))


def digest_file(path: str | os.PathLike) -> tuple[str, int]:
    """(digest, size) of a file's bytes, streamed."""
    h = xxhash.xxh3_128()
    size = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            size += len(chunk)
            h.update(chunk)
    return h.hexdigest(), size
