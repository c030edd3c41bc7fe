"""A target's last build, handed to its kind so it may patch it instead of remaking it all.

Offered only when nothing but the inputs changed: the same kind, version, config, settings
and environment (and name, where that is in the key); only file listings and upstream
artifacts differ. A kind that patches must make the bytes a full build makes from the same
inputs (`imagineer verify` rebuilds from nothing and compares), so it falls back to the full
build wherever it cannot show a patch to be the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .artifact import ArtifactView
from .keys import key_path
from .store.cas import StoreError

BUILD_TIME_PARTS = ("upstream", "files")  # what a key reads at build time; the rest is static


@dataclass(frozen=True)
class PreviousBuild:
    """Plain data for a Job: the last build's artifact, its folder listings, its memo list."""

    artifact: str
    listings: dict[str, str]  # key path → blob {relative path: digest}
    memo: str | None


def previous_build(record, inputs: dict[str, Any]) -> PreviousBuild | None:
    """The last record of a target as a PreviousBuild when only its build-time inputs changed."""
    if record is None:
        return None
    old = record.key_inputs
    if set(old) != set(inputs) or any(old[k] != v for k, v in inputs.items() if k not in BUILD_TIME_PARTS):
        return None
    return PreviousBuild(record.artifact, dict(record.listings), record.memo)


class Previous:
    """What a kind sees of its last build: the artifact, what each folder input listed then,
    and which memo entries it used. Every blob read here is checked first."""

    def __init__(self, build: PreviousBuild, view: ArtifactView, store, input_paths: list[str]):
        self.build, self.view, self.store = build, view, store
        self._paths = input_paths

    def read(self, rel: str) -> bytes | None:
        """A file of the previous artifact, or None when its blob is gone or damaged."""
        digest = self.view.files.get(rel)
        return None if digest is None else self._blob(digest)

    def listing(self, path: str) -> dict[str, str] | None:
        """{relative path: digest} of a folder input (as the config names it) at the last
        build, or None when that build did not list it."""
        if path not in self._paths:
            return None
        blob = self.build.listings.get(key_path(path, self._paths.index(path)))
        data = None if blob is None else self._blob(blob)
        try:
            return json.loads(data) if data is not None else None
        except ValueError:
            return None

    def memo_keys(self, namespace: str) -> list[str]:
        """The keys of a memo namespace the last build used ([] when not known)."""
        data = None if self.build.memo is None else self._blob(self.build.memo)
        try:
            keys = json.loads(data).get(namespace, []) if data is not None else []
        except (ValueError, AttributeError):
            return []
        return keys if isinstance(keys, list) else []

    def _blob(self, digest: str) -> bytes | None:
        try:
            self.store.fetch([digest])
            self.store.verify_blob(digest)
            return self.store.blob_path(digest).read_bytes()
        except (OSError, StoreError):  # gone, or damaged (BlobDamaged)
            return None


def open_previous(build: PreviousBuild | None, store, input_paths: list[str]) -> Previous | None:
    """The Previous a kind is handed, or None when its manifest cannot be read."""
    if build is None:
        return None
    try:
        view = store.load_artifact(build.artifact, verify=False)
    except (OSError, StoreError, ValueError, KeyError, TypeError):  # gone, damaged, unparsable
        return None
    return Previous(build, view, store, input_paths)
