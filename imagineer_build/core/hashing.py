"""Canonical JSON and xxh3-128 digests: the only way anything in the build gets a name."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import xxhash

CHUNK = 1 << 20


def json_encoder(*, sort_keys: bool, separators: tuple[str, str], ensure_ascii: bool,
                 allow_nan: bool) -> Callable[[Any], str]:
    """json.JSONEncoder(...).encode, with the C encoder it ends in made once: json.dumps builds
    both per call, 60 % of encoding one small value (a generation asks for 40,000 keys on every
    rebuild). Same text, same errors, except that a cycle is a RecursionError, not a ValueError."""
    from json.encoder import c_make_encoder, encode_basestring, encode_basestring_ascii

    reference = json.JSONEncoder(sort_keys=sort_keys, separators=separators, ensure_ascii=ensure_ascii,
                                 allow_nan=allow_nan)
    if c_make_encoder is None:  # a Python built without the C accelerator
        return reference.encode
    one_shot = c_make_encoder(None, reference.default, encode_basestring_ascii if ensure_ascii else encode_basestring,
                              None, separators[1], separators[0], sort_keys, False, allow_nan)
    return lambda value: "".join(one_shot(value, 0))


_canonical = json_encoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(value: Any) -> bytes:
    """JSON with sorted keys and no whitespace, so equal data always hashes equal."""
    return _canonical(value).encode("utf-8")


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
