"""The local store: a CAS, an action cache and an item memo under one folder, with the build
lock, a scratch folder, gc and a full check.

Layout under the store root:
  blobs/ab/<digest>     read-only content, named by xxh3-128 (cas.py owns this layout)
  actions/ab/<key>.json action records (key → artifact digest); written last: the commit point
  last/<target>.json    the record most recently built for a target, for `explain`
  memo.sqlite           item memo: (namespace, key) → small JSON value and/or blob
  stat.cache            stat cache (marshal; stat.sqlite before issue 19 is ignored)
  models/               builtin models, made from code and a seed (never pushed; gc keeps them)
  tmp/                  scratch: downloads, kinds' work folders, verify's scratch stores
  build.lock            held by a running build
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..artifact import Artifact, ArtifactView, manifest_bytes
from ..statcache import StatCache
from .actions import ActionRecord, LocalActions
from .cas import BlobDamaged, LocalCAS, StoreError
from .memo import Entry, LocalMemo

VIEWS_KEPT = 3


class LocalStore:
    """What the engine, the planner and the CLI talk to; a TieredStore adds a remote behind it."""

    remote = None  # a TieredStore's remote

    def __init__(self, root: Path):
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        try:
            for d in (self.root / "blobs", self.root / "actions", self.tmp, self.root / "last"):
                d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot use {self.root} as the store: {e.strerror or e}"
                             + (f" ({e.filename})" if e.filename and str(e.filename) != str(self.root) else "")) from None
        self.stat = StatCache(self.root / "stat.cache")
        self.cas = LocalCAS(self.root / "blobs", self.tmp)
        self.actions = LocalActions(self.root)
        self.memo = LocalMemo(self.root / "memo.sqlite")
        # the last few manifests read, parsed: one build reads the same ones several times (the
        # last artifact to patch, the out view's, an upstream's), 0.1 s each at 100,000 files
        self._views: dict[str, ArtifactView] = {}

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    # ---- reads a remote tier can answer (TieredStore overrides these) ------------------------

    def get_action(self, key: str) -> ActionRecord | None:
        return self.actions.get(key)

    def blob_path(self, digest: str) -> Path:
        """Where a blob's bytes are on this disk (not checked: see verify_blob)."""
        return self.cas.path(digest)

    def blob_paths(self, digests: list[str]) -> list[str]:
        """blob_path() of many, as strings: a dataset locates 10,000 images on every rebuild."""
        return [self.cas.path_str(d) for d in digests]

    def verify_blob(self, digest: str, size: int | None = None) -> None:
        self.cas.verify(digest, size)

    def has_blob(self, digest: str) -> bool:
        return self.cas.has(digest)

    def fetch(self, digests: Iterable[str]) -> None:
        """Make blobs local (a remote tier downloads them); here they already are or are not."""

    def memo_get_many(self, ns: str, keys: Iterable[str]) -> dict[str, Entry]:
        """{key: (value, blob)} for keys present whose blob (if any) passes its check."""
        found = self.memo.get_many(ns, keys)
        intact = self.cas.intact_sizes({e[1] for e in found.values() if e[1] is not None})
        return {k: e for k, e in found.items() if e[1] is None or e[1] in intact or self.has_blob(e[1])}

    # ---- writes -----------------------------------------------------------------------------

    def put_bytes(self, data: bytes, fsync: bool = False) -> str:
        return self.cas.put_bytes(data, fsync)

    def put_file(self, path: Path | str, digest: str | None = None) -> str:
        return self.cas.put_file(path, digest)

    def memo_put(self, ns: str, key: str, value: Any = None, blob: str | None = None) -> None:
        self.memo.put(ns, key, value, blob)

    def memo_put_many(self, ns: str, entries: dict[str, Entry]) -> None:
        self.memo.put_many(ns, entries)

    def commit(self, record: ActionRecord) -> None:
        """Write the action record: from now on the key is built (a tier may push it)."""
        self.actions.put(record)

    # ---- artifacts --------------------------------------------------------------------------

    def store_artifact(self, artifact: Artifact, known: dict[str, int] | None = None) -> str:
        """Store the manifest; a blob's size comes from `known` (sizes are a function of the
        digest) or, when not there, from a stat, which also fails on a blob never stored."""
        known = known or {}
        sizes = {d: known[d] if d in known else self.cas.size(d) for d in set(artifact.files.values())}
        # The manifest is on disk before the action record that names it (the commit point);
        # other blobs are verified on every read, so a lost one is rebuilt, never trusted.
        return self.put_bytes(manifest_bytes(artifact, sizes), fsync=True)

    def load_artifact(self, digest: str, verify: bool = True) -> ArtifactView:
        """The artifact's manifest; with verify, every blob it names is checked (one stat each)."""
        try:
            self.verify_blob(digest)
        except FileNotFoundError:
            raise BlobDamaged(digest, self.cas.path(digest), "missing artifact manifest") from None
        known = self._views.pop(digest, None)
        view = known.again() if known else ArtifactView.parse(digest, self.blob_path(digest).read_bytes(), self.blob_path)
        if view.reusable:  # artifacts never change: a parsed manifest stays true
            self._views[digest] = view
            while len(self._views) > VIEWS_KEPT:
                del self._views[next(iter(self._views))]
        if verify:
            suspects = self.cas.suspects(view.sizes)
            self.fetch(suspects)
            for d in suspects:
                try:
                    self.verify_blob(d, view.sizes[d])
                except FileNotFoundError:
                    raise BlobDamaged(d, self.cas.path(d), "missing") from None
        return view

    def last_action(self, target: str) -> ActionRecord | None:
        return self.actions.last(target)

    # ---- locking -------------------------------------------------------------------------

    @contextlib.contextmanager
    def build_lock(self, what: str, wait: bool = True, on_wait=None):
        """One build at a time per store; the holder's pid and command are written in the lock file."""
        path = self.root / "build.lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise StoreError(f"cannot lock the store {self.root}: {e.strerror or e}") from None
        held = False
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
                if not wait:
                    raise StoreError(f"the store is locked by {holder}") from None
                if on_wait:
                    on_wait(holder)
                fcntl.flock(fd, fcntl.LOCK_EX)
            held = True
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} ({what}) since {time.strftime('%H:%M:%S')}".encode(), 0)
            yield
        finally:
            if held:  # a process turned away must not erase the holder's name
                self.stat.flush()
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
            os.close(fd)

    def clean_tmp(self) -> None:
        """Leftovers of killed builds; only safe while holding the build lock."""
        for p in self.tmp.iterdir():
            with contextlib.suppress(OSError):
                shutil.rmtree(p) if p.is_dir() else p.unlink()

    # ---- maintenance ---------------------------------------------------------------------

    def artifact_blobs(self, artifact: str) -> set[str]:
        """The manifest and every file of an artifact, from this disk only (never fetched)."""
        try:
            view = ArtifactView.parse(artifact, self.cas.path(artifact).read_bytes(), self.cas.path)
        except (OSError, ValueError, KeyError, TypeError):
            return {artifact}
        return {artifact, *view.files.values()}

    def record_blobs(self, rec: ActionRecord) -> set[str]:
        """Every blob an action record keeps alive: its artifact's, its input listings, its
        memo list."""
        return self.artifact_blobs(rec.artifact) | rec.blobs()

    def total_size(self) -> int:
        return sum(p.stat().st_size for p in self.cas.root.glob("*/*"))

    def verify_all(self) -> list[BlobDamaged]:
        """Re-read every blob; damaged ones are removed along with action records naming them."""
        bad: list[BlobDamaged] = []
        for p in self.cas.root.glob("*/*"):
            try:
                self.cas.verify(p.name, full=True)
            except BlobDamaged as e:
                bad.append(e)
        if bad:
            names = {b.digest for b in bad}
            for rec in self.actions:
                if self.artifact_blobs(rec.artifact) & names:
                    self.actions.forget(rec.key)
            for b in bad:
                self.cas.drop(b.digest)
            self.memo.delete_naming(names)
        for rec in self.actions:  # a record whose blobs are gone (crash, manual rm) is none
            if any(not os.path.exists(self.cas.path_str(d)) for d in self.artifact_blobs(rec.artifact)):
                bad.append(BlobDamaged(rec.artifact, self.cas.path(rec.artifact),
                                       f"{rec.target}: a file of this artifact is missing"))
                self.actions.forget(rec.key)
        return bad

    def gc(self, pinned_keys: set[str], keep: int = 1, max_size: int | None = None) -> dict[str, int]:
        """Drop action records neither pinned nor among each target's `keep` newest, then every
        blob no kept record or memo entry uses; with max_size, evict least recently used."""
        records = list(self.actions)
        by_target: dict[str, list[ActionRecord]] = {}
        for r in records:
            by_target.setdefault(r.target, []).append(r)
        kept: list[ActionRecord] = []
        dropped = 0
        for recs in by_target.values():
            recs.sort(key=lambda r: r.created, reverse=True)
            for i, r in enumerate(recs):
                if r.key in pinned_keys or i < keep:
                    kept.append(r)
                else:
                    self.actions.forget(r.key)
                    dropped += 1
        freed = self._sweep(kept)
        if max_size is not None:
            evicted, freed_more = self._evict_to(max_size, kept, pinned_keys)
            dropped += evicted
            freed += freed_more
        for old in self.root.glob("stat.sqlite*"):  # the stat cache's format before issue 19
            old.unlink(missing_ok=True)
        self.stat.flush()
        return {"records_dropped": dropped, "bytes_freed": freed}

    def _evict_to(self, max_size: int, kept: list[ActionRecord], pinned_keys: set[str]) -> tuple[int, int]:
        """Forget memo entries (oldest first), then unpinned records (oldest first), until the
        blobs left fit in max_size; one pass of reference counting, then one sweep."""
        sizes = {p.name: p.stat().st_size for p in self.cas.root.glob("*/*")}
        total = sum(sizes.values())
        if total <= max_size:
            return 0, 0
        memo_rows = self.memo.with_blobs_oldest_first()
        record_blobs = {r.key: self.record_blobs(r) for r in kept}
        refs: dict[str, int] = {}
        pinned: set[str] = set()
        for _, _, b in memo_rows:
            refs[b] = refs.get(b, 0) + 1
        for r in kept:
            if r.key in pinned_keys:
                pinned |= record_blobs[r.key]
            for b in record_blobs[r.key]:
                refs[b] = refs.get(b, 0) + 1

        def release(blobs) -> None:
            nonlocal total
            for b in blobs:
                refs[b] -= 1
                if refs[b] == 0 and b not in pinned:
                    total -= sizes.get(b, 0)

        gone_memo = []
        for ns, key, b in memo_rows:
            if total <= max_size:
                break
            gone_memo.append((ns, key))
            release([b])
        gone_records = []
        for r in sorted((r for r in kept if r.key not in pinned_keys), key=lambda r: r.created):
            if total <= max_size:
                break
            gone_records.append(r)
            release(record_blobs[r.key])
        self.memo.delete(gone_memo)
        for r in gone_records:
            kept.remove(r)
            self.actions.forget(r.key)
        return len(gone_records), self._sweep(kept)

    def _sweep(self, kept: list[ActionRecord]) -> int:
        live: set[str] = set(self.memo.blobs())
        for r in kept:
            live |= self.record_blobs(r)
        freed = 0
        for p in self.cas.root.glob("*/*"):
            if p.name not in live:
                freed += p.stat().st_size
                self.cas.drop(p.name)
        return freed


