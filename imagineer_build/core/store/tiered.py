"""The local store in front of a remote: reads go local → remote (checked, then kept locally),
commits go local and, when pushing, to the remote: blobs first, memo entries next, the action
record last, so the remote never names something it lacks.

Nothing is fetched before someone needs it: a remote hit brings the record and the artifact's
manifest; files come when a build reads them or an out view is written ("build without the
bytes"). Every downloaded blob is hashed before it is adopted; one that does not match its
name is refused, reported with the remote's URL, and the target that needed it is rebuilt.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..hashing import digest_file
from .actions import ActionRecord
from .cas import BlobDamaged
from .local import LocalStore
from .memo import Entry, decode_entry, encode_entry
from .remote import Progress, RemoteError


def remote_settings(project, url: str | None = None, **overrides) -> dict[str, Any] | None:
    """The remote to use: `--remote URL`, else IMAGINEER_REMOTE, else imagineer.yaml `remote:`."""
    configured = dict(project.settings.remote or {}) if getattr(project.settings, "remote", None) else {}
    chosen = url or os.environ.get("IMAGINEER_REMOTE") or configured.get("url")
    if not chosen:
        return None
    return {**configured, "url": chosen, **{k: v for k, v in overrides.items() if v is not None}}


class TieredStore(LocalStore):
    def __init__(self, root: Path, remote, push: bool = False, download: str = "all"):
        super().__init__(root)
        self.remote = remote
        self.push = push
        self.download = download  # all: what out views need | minimal: only what builds read
        self.notify: Callable[[str], None] = lambda message: None  # the engine's warning log
        self.remote_hits: set[str] = set()  # keys whose record came from the remote this run
        self.fetched = 0  # blobs downloaded this run
        self.refused: list[str] = []  # digests a download did not match
        self._lock = threading.Lock()

    # ---- reads ------------------------------------------------------------------------------

    def get_action(self, key: str) -> ActionRecord | None:
        rec = self.actions.get(key)
        if rec is not None:
            return rec
        try:
            data = self.remote.get_action(key)
        except RemoteError as e:
            self.notify(f"{e}; building instead")
            return None
        if data is None:
            return None
        try:
            rec = ActionRecord.parse(data)
            if rec.key != key:
                raise ValueError("it names another key")
        except ValueError as e:
            self.notify(f"action record {key[:12]} on {self.remote.url} is damaged ({e}); not used")
            return None
        self.fetch([rec.artifact])
        if not self.cas.has(rec.artifact):
            return None
        self.actions.put(rec)
        with self._lock:
            self.remote_hits.add(key)
        return rec

    def fetch(self, digests: Iterable[str], progress: Progress | None = None) -> int:
        """Download the blobs that are not on this disk; returns how many arrived."""
        missing = sorted({d for d in digests if not os.path.exists(self.cas.path_str(d))})
        if not missing:
            return 0
        work = Path(tempfile.mkdtemp(dir=self.tmp, prefix="fetch."))
        try:
            try:
                files = self.remote.download(missing, work, progress)
            except RemoteError as e:
                self.notify(str(e))
                return 0
            got = 0
            for d, path in files.items():
                actual = digest_file(path)[0]
                if actual != d:
                    with self._lock:
                        self.refused.append(d)
                    self.notify(f"refused blob {d} from {self.remote.url}: its bytes hash to {actual}")
                    path.unlink()
                    continue
                self.cas.adopt(path, d)
                got += 1
            with self._lock:
                self.fetched += got
            return got
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def blob_path(self, digest: str) -> Path:
        self.fetch([digest])
        return self.cas.path(digest)

    def blob_paths(self, digests: list[str]) -> list[str]:
        self.fetch(set(digests))
        return super().blob_paths(digests)

    def verify_blob(self, digest: str, size: int | None = None) -> None:
        try:
            self.cas.verify(digest, size)
        except (FileNotFoundError, BlobDamaged):
            self.cas.drop(digest)  # a damaged local copy is replaced from the remote, if it has one
            self.fetch([digest])
            self.cas.verify(digest, size)

    def has_blob(self, digest: str) -> bool:
        try:
            self.verify_blob(digest)
            return True
        except (FileNotFoundError, BlobDamaged):
            return False

    def memo_get_many(self, ns: str, keys: Iterable[str]) -> dict[str, Entry]:
        keys = set(keys)
        found = super().memo_get_many(ns, keys)
        missing = keys - set(found)
        if not missing:
            return found
        try:
            remote = self.remote.get_memo(ns, missing)
        except RemoteError as e:
            self.notify(f"{e}; working without the remote memo")
            return found
        entries: dict[str, Entry] = {}
        for k, data in remote.items():
            try:
                entries[k] = decode_entry(data)
            except ValueError:
                self.notify(f"memo entry {ns}/{k[:12]} on {self.remote.url} is damaged; not used")
        if entries:
            self.memo.put_many(ns, entries)
        found.update({k: e for k, e in entries.items() if e[1] is None or self.has_blob(e[1])})
        return found

    # ---- writes -----------------------------------------------------------------------------

    def commit(self, record: ActionRecord) -> None:
        super().commit(record)
        if self.push:
            try:
                push_records(self, [record])
            except RemoteError as e:
                self.notify(f"{record.target} is built but not pushed: {e}")


def _memo_entries(store: LocalStore, memo_list: str | None, blobs: set[str],
                  memos: dict[str, dict[str, bytes]]) -> None:
    """Add the entries a memo list names (and the blobs they name) to what a push sends."""
    if not memo_list or not store.cas.has(memo_list):
        return
    import json

    for ns, keys in json.loads(store.cas.path(memo_list).read_bytes()).items():
        for k, (value, blob) in store.memo.get_many(ns, keys).items():
            memos.setdefault(ns, {})[k] = encode_entry(value, blob)
            if blob:
                blobs.add(blob)


def _send(store: LocalStore, remote, blobs: set[str], memos: dict[str, dict[str, bytes]],
          progress: Progress | None) -> dict[str, int]:
    local = {d for d in blobs if store.cas.has(d)}
    missing = remote.find_missing(local)
    sent_bytes = remote.upload({d: store.cas.path(d) for d in missing}, progress)
    sent_memo = 0
    for ns, entries in sorted(memos.items()):
        todo = remote.find_missing_memo(ns, entries)
        remote.put_memo(ns, {k: entries[k] for k in todo})
        sent_memo += len(todo)
    return {"blobs": len(missing), "bytes": sent_bytes, "present": len(local) - len(missing), "memo": sent_memo}


def push_blobs(store: LocalStore, artifact: str, memo_list: str | None) -> dict[str, int]:
    """What a worker on another machine built, without its record (the driver commits that)."""
    blobs = store.artifact_blobs(artifact) | ({memo_list} if memo_list else set())
    memos: dict[str, dict[str, bytes]] = {}
    _memo_entries(store, memo_list, blobs, memos)
    return _send(store, store.remote, blobs, memos, None)


def push_records(store: LocalStore, records: list[ActionRecord], progress: Progress | None = None,
                 remote=None) -> dict[str, int]:
    """Send what the records name: blobs (those the remote lacks), then memo entries, then the
    records themselves. A push killed anywhere leaves no record whose blobs are missing."""
    remote = remote or store.remote
    blobs: set[str] = set()
    memos: dict[str, dict[str, bytes]] = {}
    for rec in records:
        blobs |= store.record_blobs(rec)
        _memo_entries(store, rec.memo, blobs, memos)
    sent = _send(store, remote, blobs, memos, progress)
    have = remote.has_actions(r.key for r in records)
    for rec in records:
        if rec.key not in have:
            remote.put_action(rec.key, rec.to_json())
    return {**sent, "records": len([r for r in records if r.key not in have])}
