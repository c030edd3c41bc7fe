"""The store: content-addressed blobs, action records, item memo, stat cache, gc, build lock.

Layout under the store root:
  blobs/ab/<digest>     read-only content, named by xxh3-128
  actions/ab/<key>.json action records (key → artifact digest); written last: the commit point
  last/<target>.json    the key most recently built for a target, for `explain`
  memo.sqlite           item memo: (namespace, key) → small JSON value and/or blob
  stat.sqlite           stat cache
  build.lock            held by a running build
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import xxhash

from .artifact import Artifact, ArtifactView, manifest_bytes
from .hashing import CHUNK, canonical_json, digest_bytes, digest_file
from .statcache import StatCache, enable_wal

# Blobs carry a fixed old mtime: an in-place edit moves it, so the stat cache notices.
BLOB_MTIME_NS = 1_000_000_000 * 1_000_000_000


class StoreError(Exception):
    pass


class BlobDamaged(StoreError):
    def __init__(self, digest: str, path: Path, why: str):
        self.digest, self.path, self.why = digest, path, why
        super().__init__(f"blob {digest} is damaged ({why}): {path}")


@dataclass
class ActionRecord:
    key: str
    target: str
    kind: str
    artifact: str
    created: float
    seconds: float
    facts: dict[str, Any]
    key_inputs: dict[str, Any]
    # folder input → blob holding its listing {relative path: digest}, so `explain` can say
    # which files changed since this build
    listings: dict[str, str] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)  # Artifact.run: timings, device, versions

    def to_json(self) -> bytes:
        return canonical_json(self.__dict__)


class Store(Protocol):
    """What the engine needs from a cache; LocalStore is the one implementation so far."""

    def put_bytes(self, data: bytes) -> str: ...
    def put_file(self, path: Path, digest: str | None = None) -> str: ...
    def blob_path(self, digest: str) -> Path: ...
    def get_action(self, key: str) -> ActionRecord | None: ...
    def commit(self, record: ActionRecord) -> None: ...
    def store_artifact(self, artifact: Artifact) -> str: ...
    def load_artifact(self, digest: str, verify: bool = True) -> ArtifactView: ...


class LocalStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.actions = self.root / "actions"
        self.tmp = self.root / "tmp"
        try:
            for d in (self.blobs, self.actions, self.tmp, self.root / "last"):
                d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot use {self.root} as the store: {e.strerror or e}"
                             + (f" ({e.filename})" if e.filename and str(e.filename) != str(self.root) else "")) from None
        self._blobs_str = str(self.blobs)
        self.stat = StatCache(self.root / "stat.sqlite")
        self._memo_local = threading.local()
        self._memo_lock = threading.Lock()

    # ---- blobs -------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        return self.blobs / digest[:2] / digest

    def _blob_file(self, digest: str) -> str:
        """blob_path as a string: the no-op build checks 10,000s of them, and pathlib is slow."""
        return f"{self._blobs_str}/{digest[:2]}/{digest}"

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).exists()

    def _finish_blob(self, tmp: Path, digest: str) -> None:
        dest = self.blob_path(digest)
        dest.parent.mkdir(exist_ok=True)
        os.chmod(tmp, 0o444)
        os.utime(tmp, ns=(BLOB_MTIME_NS, BLOB_MTIME_NS))
        os.replace(tmp, dest)
        self.stat.record(dest, digest)  # old mtime → trusted at once; the hash is of what we wrote

    def put_bytes(self, data: bytes, fsync: bool = False) -> str:
        digest = digest_bytes(data)
        if self.blob_ok(digest):
            return digest
        fd, tmp = tempfile.mkstemp(dir=self.tmp)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        self._finish_blob(Path(tmp), digest)
        return digest

    def put_file(self, path: Path, digest: str | None = None) -> str:
        """Copy a file into the store, hashing what is actually copied."""
        if digest is not None and self.blob_ok(digest):
            return digest
        fd, tmp = tempfile.mkstemp(dir=self.tmp)
        h = xxhash.xxh3_128()
        with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
            while chunk := src.read(CHUNK):
                h.update(chunk)
                out.write(chunk)
        actual = h.hexdigest()
        if digest is not None and actual != digest:
            os.unlink(tmp)
            raise StoreError(f"{path} changed while it was being stored")
        if self.blob_ok(actual):
            os.unlink(tmp)
            return actual
        self._finish_blob(Path(tmp), actual)
        return actual

    def blob_ok(self, digest: str, size: int | None = None) -> bool:
        try:
            self.verify_blob(digest, size)
            return True
        except (BlobDamaged, FileNotFoundError):
            return False

    def verify_blob(self, digest: str, size: int | None = None, full: bool = False) -> None:
        """Raise BlobDamaged unless the blob's bytes hash to its name (stat-cached unless full)."""
        path = self._blob_file(digest)
        st = os.stat(path)
        if size is not None and st.st_size != size:
            raise BlobDamaged(digest, Path(path), f"size {st.st_size}, expected {size}")
        actual = digest_file(path)[0] if full else self.stat.digest(path, st)[0]
        if actual != digest:
            raise BlobDamaged(digest, Path(path), f"content hashes to {actual}")

    def drop_blob(self, digest: str) -> None:
        path = self.blob_path(digest)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self.stat.forget(path)

    # ---- artifacts and actions -----------------------------------------------------------

    def store_artifact(self, artifact: Artifact) -> str:
        sizes = {}
        for d in set(artifact.files.values()):
            sizes[d] = os.stat(self._blob_file(d)).st_size
        # The manifest is on disk before the action record that names it (the commit point);
        # other blobs are verified on every read, so a lost one is rebuilt, never trusted.
        return self.put_bytes(manifest_bytes(artifact, sizes), fsync=True)

    def load_artifact(self, digest: str, verify: bool = True) -> ArtifactView:
        """The artifact's manifest; with verify, every blob it names is checked (stat-cached)."""
        try:
            self.verify_blob(digest)
        except FileNotFoundError:
            raise BlobDamaged(digest, self.blob_path(digest), "missing artifact manifest") from None
        view = ArtifactView.parse(digest, self.blob_path(digest).read_bytes(), self.blobs)
        if verify:
            for d in set(view.files.values()):
                try:
                    self.verify_blob(d, view.sizes[d])
                except FileNotFoundError:
                    raise BlobDamaged(d, self.blob_path(d), "missing") from None
        return view

    def _action_path(self, key: str) -> Path:
        return self.actions / key[:2] / f"{key}.json"

    def get_action(self, key: str) -> ActionRecord | None:
        try:
            return ActionRecord(**json.loads(self._action_path(key).read_bytes()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):
            return None  # a torn or foreign file is no record

    def commit(self, record: ActionRecord) -> None:
        """Write the action record: from now on the key is built."""
        path = self._action_path(record.key)
        path.parent.mkdir(exist_ok=True)
        atomic_write(path, record.to_json(), fsync=True)
        atomic_write(self.root / "last" / f"{record.target}.json", record.to_json())

    def forget_action(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._action_path(key).unlink()

    def last_action(self, target: str) -> ActionRecord | None:
        try:
            return ActionRecord(**json.loads((self.root / "last" / f"{target}.json").read_bytes()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def forget_target(self, target: str) -> int:
        """Drop every action record of a target; returns how many."""
        n = 0
        for rec in list(self.iter_actions()):
            if rec.target == target:
                self.forget_action(rec.key)
                n += 1
        with contextlib.suppress(FileNotFoundError):
            (self.root / "last" / f"{target}.json").unlink()
        return n

    def iter_actions(self) -> Iterator[ActionRecord]:
        for p in self.actions.glob("*/*.json"):
            try:
                yield ActionRecord(**json.loads(p.read_bytes()))
            except (ValueError, TypeError, OSError):
                continue

    # ---- memo ----------------------------------------------------------------------------

    def _memo_db(self) -> sqlite3.Connection:
        con = getattr(self._memo_local, "con", None)
        if con is None:
            # Switching a fresh database to WAL fails at once ("database is locked", no busy
            # wait) when another thread does the same, so connections are opened one at a time.
            with self._memo_lock:
                con = sqlite3.connect(self.root / "memo.sqlite", timeout=60, check_same_thread=False)
                enable_wal(con)
                with con:
                    con.execute(
                        "CREATE TABLE IF NOT EXISTS memo (ns TEXT, key TEXT, value TEXT, blob TEXT,"
                        " used INT, PRIMARY KEY (ns, key))"
                    )
            self._memo_local.con = con
        return con

    def memo_get_many(self, ns: str, keys: Iterable[str]) -> dict[str, tuple[Any, str | None]]:
        """{key: (value, blob digest)} for the keys present; a blob that fails checks is a miss."""
        con = self._memo_db()
        keys = list(keys)
        out: dict[str, tuple[Any, str | None]] = {}
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            q = f"SELECT key, value, blob FROM memo WHERE ns=? AND key IN ({','.join('?' * len(part))})"
            for k, v, b in con.execute(q, [ns, *part]):
                if b is not None and not self.blob_ok(b):
                    continue
                out[k] = (json.loads(v) if v is not None else None, b)
        return out

    def memo_put(self, ns: str, key: str, value: Any = None, blob: str | None = None) -> None:
        con = self._memo_db()
        v = None if value is None else json.dumps(value, sort_keys=True)
        with con:
            con.execute(
                "INSERT OR REPLACE INTO memo VALUES (?,?,?,?,?)", (ns, key, v, blob, int(time.time()))
            )

    def memo_blobs(self) -> set[str]:
        return {r[0] for r in self._memo_db().execute("SELECT blob FROM memo WHERE blob IS NOT NULL")}

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
        try:
            view = self.load_artifact(artifact, verify=False)
        except (OSError, StoreError, ValueError):
            return {artifact}
        return {artifact, *view.files.values()}

    def record_blobs(self, rec: ActionRecord) -> set[str]:
        """Every blob an action record keeps alive: its artifact's and its input listings."""
        return self.artifact_blobs(rec.artifact) | set(rec.listings.values())

    def total_size(self) -> int:
        return sum(p.stat().st_size for p in self.blobs.glob("*/*"))

    def verify_all(self) -> list[BlobDamaged]:
        """Re-read every blob; damaged ones are removed along with action records naming them."""
        bad: list[BlobDamaged] = []
        for p in self.blobs.glob("*/*"):
            try:
                self.verify_blob(p.name, full=True)
            except BlobDamaged as e:
                bad.append(e)
        if bad:
            names = {b.digest for b in bad}
            for rec in self.iter_actions():
                if self.artifact_blobs(rec.artifact) & names:
                    self.forget_action(rec.key)
            for b in bad:
                self.drop_blob(b.digest)
            with self._memo_db() as con:
                con.executemany("DELETE FROM memo WHERE blob=?", [(d,) for d in names])
        for rec in self.iter_actions():  # a record whose blobs are gone (crash, manual rm) is none
            if any(not os.path.exists(self._blob_file(d)) for d in self.artifact_blobs(rec.artifact)):
                bad.append(BlobDamaged(rec.artifact, self.blob_path(rec.artifact),
                                       f"{rec.target}: a file of this artifact is missing"))
                self.forget_action(rec.key)
        return bad

    def gc(self, pinned_keys: set[str], keep: int = 1, max_size: int | None = None) -> dict[str, int]:
        """Drop action records neither pinned nor among each target's `keep` newest, then every
        blob no kept record or memo entry uses; with max_size, evict least recently used."""
        records = list(self.iter_actions())
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
                    self.forget_action(r.key)
                    dropped += 1
        freed = self._sweep(kept)
        if max_size is not None:
            evicted, freed_more = self._evict_to(max_size, kept, pinned_keys)
            dropped += evicted
            freed += freed_more
        self.stat.flush()
        return {"records_dropped": dropped, "bytes_freed": freed}

    def _evict_to(self, max_size: int, kept: list[ActionRecord], pinned_keys: set[str]) -> tuple[int, int]:
        """Forget memo entries (oldest first), then unpinned records (oldest first), until the
        blobs left fit in max_size; one pass of reference counting, then one sweep."""
        sizes = {p.name: p.stat().st_size for p in self.blobs.glob("*/*")}
        total = sum(sizes.values())
        if total <= max_size:
            return 0, 0
        con = self._memo_db()
        memo_rows = con.execute("SELECT ns, key, blob FROM memo WHERE blob IS NOT NULL ORDER BY used").fetchall()
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
        with con:
            con.executemany("DELETE FROM memo WHERE ns=? AND key=?", gone_memo)
        for r in gone_records:
            kept.remove(r)
            self.forget_action(r.key)
        return len(gone_records), self._sweep(kept)

    def _sweep(self, kept: list[ActionRecord]) -> int:
        live: set[str] = set(self.memo_blobs())
        for r in kept:
            live |= self.record_blobs(r)
        freed = 0
        for p in self.blobs.glob("*/*"):
            if p.name not in live:
                freed += p.stat().st_size
                self.drop_blob(p.name)
        return freed


def atomic_write(path: Path, data: bytes, fsync: bool = False) -> None:
    """Write via a temp file in the same folder and os.replace: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
