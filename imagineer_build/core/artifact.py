"""Artifacts: a manifest of files (→ blob digests) and metadata; its digest names the output."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .hashing import canonical_json


@dataclass
class Artifact:
    """What a kind's build returns: files already stored as blobs, plus JSON metadata."""

    files: dict[str, str] = field(default_factory=dict)  # relative path → blob digest
    meta: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)  # a few human-readable numbers for the lock
    # How this run went on this machine (timings, device, library versions): kept in the action
    # record and shown by `imagineer show`, never in the artifact, whose bytes must not depend on it.
    run: dict[str, Any] = field(default_factory=dict)


def manifest_bytes(artifact: Artifact, sizes: dict[str, int]) -> bytes:
    files = {rel: [d, sizes[d]] for rel, d in sorted(artifact.files.items())}
    return canonical_json({"files": files, "meta": artifact.meta, "facts": artifact.facts})


@dataclass
class ArtifactView:
    """A built artifact as downstream kinds and the CLI see it."""

    digest: str
    files: dict[str, str]
    sizes: dict[str, int]
    meta: dict[str, Any]
    facts: dict[str, Any]
    locate: Callable[[str], Path]  # the store's blob_path: digest → local file (fetched if needed)

    @classmethod
    def parse(cls, digest: str, data: bytes, locate: Callable[[str], Path]) -> ArtifactView:
        m = json.loads(data)
        files = {rel: v[0] for rel, v in m["files"].items()}
        sizes = {v[0]: v[1] for v in m["files"].values()}
        return cls(digest, files, sizes, m.get("meta", {}), m.get("facts", {}), locate)

    def path(self, rel: str) -> Path:
        """Where the bytes of one file of the artifact live (read-only)."""
        return self.locate(self.files[rel])

    def read(self, rel: str) -> bytes:
        return self.path(rel).read_bytes()

    @property
    def size(self) -> int:
        return sum(self.sizes.get(d, 0) for d in set(self.files.values()))
