"""Artifacts: a manifest of files (→ blob digests) and metadata; its digest names the output."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .hashing import canonical_json

_DECODER = json.JSONDecoder()


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


class ArtifactView:
    """A built artifact as downstream kinds and the CLI see it.

    `meta` is parsed on first use: an album's meta holds every image record (2.8 MB at 10,000
    images), and a cached build needs only the file list.
    """

    __slots__ = ("digest", "files", "sizes", "facts", "locate", "_meta", "_meta_text", "_meta_at")

    def __init__(self, digest: str, files: dict[str, str], sizes: dict[str, int], meta: dict[str, Any] | None,
                 facts: dict[str, Any], locate: Callable[[str], Path], meta_text: str = "", meta_at: int = 0):
        self.digest, self.files, self.sizes, self.facts, self.locate = digest, files, sizes, facts, locate
        self._meta, self._meta_text, self._meta_at = meta, meta_text, meta_at

    @property
    def meta(self) -> dict[str, Any]:
        if self._meta is None:
            self._meta = _DECODER.raw_decode(self._meta_text, self._meta_at)[0] if self._meta_text else {}
        return self._meta

    @property
    def reusable(self) -> bool:
        """Whether again() can make a view whose meta is its own (decoded from the text)."""
        return bool(self._meta_text)

    def again(self) -> ArtifactView:
        """The same artifact as a new view: the file lists shared (nobody changes them), the
        meta decoded again on first use, so no reader sees another's changes to it."""
        return ArtifactView(self.digest, self.files, self.sizes, None, self.facts, self.locate, self._meta_text,
                            self._meta_at)

    @classmethod
    def parse(cls, digest: str, data: bytes, locate: Callable[[str], Path]) -> ArtifactView:
        """Read a manifest; canonical ones (`{"facts":…,"files":…,"meta":…}`) leave meta unparsed."""
        text = data.decode("utf-8")
        facts, at = (_DECODER.raw_decode(text, 9) if text.startswith('{"facts":') else (None, 0))
        if facts is not None and text.startswith(',"files":', at):
            listed, at = _DECODER.raw_decode(text, at + 9)
            if text.startswith(',"meta":', at) and text.endswith("}"):
                return cls._made(digest, listed, None, facts, locate, text, at + 8)
        m = json.loads(text)
        return cls._made(digest, m["files"], m.get("meta", {}), m.get("facts", {}), locate)

    @classmethod
    def _made(cls, digest, listed, meta, facts, locate, text: str = "", at: int = 0) -> ArtifactView:
        files = {rel: v[0] for rel, v in listed.items()}
        sizes = {v[0]: v[1] for v in listed.values()}
        return cls(digest, files, sizes, meta, facts, locate, text, at)

    def path(self, rel: str) -> Path:
        """Where the bytes of one file of the artifact live (read-only)."""
        return self.locate(self.files[rel])

    def read(self, rel: str) -> bytes:
        return self.path(rel).read_bytes()

    @property
    def size(self) -> int:
        """Bytes of the distinct blobs: the manifest's sizes hold each digest once (a set of
        40,000 file digests was a tenth of a cached 20,000-image generation)."""
        return sum(self.sizes.values())
