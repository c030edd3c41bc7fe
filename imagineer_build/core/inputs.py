"""What a target reads besides its upstreams: the file inputs a config names, their hashed
listings, and references to other targets. Plain data, importable without pydantic, so a
fresh check (core/snapshot.py) can list inputs without loading any kind."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .hashing import digest_json


@dataclass(frozen=True)
class Ref:
    """A reference from a config to another target; `path` locates it in the spec for errors."""

    target: str
    path: tuple[Any, ...]


@dataclass(frozen=True)
class FileInput:
    """A project file or folder a config names; its bytes are part of the key.

    For a folder every file under it counts (dot files excluded), unless `suffixes` narrows it.
    """

    path: str
    spec_path: tuple[Any, ...] = ()
    suffixes: tuple[str, ...] | None = None
    want: str = "any"  # "file" | "dir" | "any": what the spec must name (checked at load)
    follow_links: bool = False  # a folder's links that lead out of it are skipped unless set


@dataclass
class FileListing:
    """A hashed project file or folder: relative path (''=the file itself) → (digest, size)."""

    root: Path
    entries: dict[str, tuple[str, int]]
    errors: dict[str, str] = field(default_factory=dict)  # files that could not be read → why

    @cached_property  # a listing is not changed once made; a folder's costs a sort and a hash
    def digest(self) -> str:
        listed = sorted((k, v[0]) for k, v in self.entries.items())
        return digest_json([listed, sorted(self.errors.items())] if self.errors else listed)

    def abspath(self, rel: str) -> Path:
        return self.root / rel if rel else self.root
