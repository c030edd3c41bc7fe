"""The contract between the engine and a kind: what it declares, what it is handed."""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from .artifact import Artifact, ArtifactView
from .hashing import canonical_json, digest_bytes, digest_json
from .inputs import FileInput, FileListing, Ref  # noqa: F401  (part of the kind contract)

if TYPE_CHECKING:
    from .previous import Previous, PreviousBuild
    from .store.cas import BlobWriter


class KindConfig(BaseModel):
    """Base for kind configs: unknown keys are errors, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


@dataclass(frozen=True)
class Tolerance:
    """How far a rebuild of a non-deterministic target may differ and still count as the same
    (`imagineer verify`). Deterministic targets are compared byte for byte."""

    pixel: int = 0  # images: largest difference of an 8-bit channel
    rtol: float = 0.0  # tensors: |a - b| <= atol + rtol * |b|
    atol: float = 0.0

    @property
    def exact(self) -> bool:
        return not (self.pixel or self.rtol or self.atol)


class Kind:
    """A kind of target. Subclasses set the class attributes and implement build()."""

    name: ClassVar[str]
    section: ClassVar[str]
    version: ClassVar[str] = "1"
    Config: ClassVar[type[BaseModel]]
    resources: ClassVar[dict[str, int]] = {"cpu": 1}
    env_allowlist: ClassVar[tuple[str, ...]] = ()
    # Output file names carry the target name (e.g. NAME.safetensors): then the name is in the key,
    # so two identically configured targets never share one artifact with the other's file names.
    key_includes_name: ClassVar[bool] = False
    # imagineer.yaml settings the output depends on (e.g. `threads` for CPU model math): in the key.
    settings_in_key: ClassVar[tuple[str, ...]] = ()
    # Settings imagineer.yaml `defaults: {SECTION: {...}}` may hold that are not Config fields:
    # name → type (every Config field may be given a default too).
    default_only: ClassVar[dict[str, Any]] = {}

    def resources_for(self, config: Any) -> dict[str, int]:
        """The executor slots one target needs; a kind whose variants differ overrides this."""
        return self.resources

    def refs(self, config: Any) -> list[Ref]:
        return []

    def needs(self, config: Any) -> list[tuple[str, str, str]]:
        """(module, extra, feature) for the optional libraries this target imports, so a
        missing one is reported as "scrape needs the 'web' extra" before any work starts."""
        return []

    # files, settings_files and key_extras must be functions of the config and the settings:
    # a project snapshot (core/snapshot.py) reuses their answers until a spec, the code or the
    # environment changes. The one filesystem question they may ask is whether a path exists,
    # through core.probes.path_exists, which the snapshot records and asks again.

    def files(self, config: Any) -> list[FileInput]:
        return []

    def settings_files(self, config: Any, settings: dict[str, Any]) -> list[FileInput]:
        """Files named in imagineer.yaml that this target reads (e.g. a local model checkpoint)."""
        return []

    def key_extras(self, config: Any, settings: dict[str, Any]) -> dict[str, Any]:
        """Project settings this target's output depends on (e.g. the model definition)."""
        return {}

    def check(self, config: Any, settings: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
        """Cross-field problems the pydantic model cannot see: [(spec path, message)]."""
        return []

    def build(self, ctx: BuildContext) -> Artifact:
        raise NotImplementedError

    def shardable(self, config: Any) -> bool:
        """Whether build() honours ctx.shard (many independent items, each memoised alone)."""
        return False

    def nondeterminism(self, config: Any, settings: dict[str, Any]) -> str | None:
        """Why two builds of the same key may give other bytes (a scrape, an API, GPU kernels),
        or None. Called after a build where it ran (a worker, a Ray node), so a kind may look
        at the device it just used."""
        return None

    def tolerance(self, config: Any, settings: dict[str, Any]) -> Tolerance | None:
        """For a non-deterministic target: how far `verify`'s rebuild may differ; None when a
        rebuild proves nothing (it fetches the world again) and verify should not try."""
        return Tolerance()

    def compare_file(self, rel: str, old: Path, new: Path, tol: Tolerance) -> tuple[bool, str]:
        """(within tolerance, what differs) for one file whose bytes differ between two builds."""
        a, b = old.stat().st_size, new.stat().st_size
        return False, f"bytes differ ({a} → {b} bytes)"

    def preview(self, ctx: BuildContext) -> Artifact | None:
        """What `build --dry-run` may write without building (e.g. an external trainer's
        config), shown in out/<target>.dry-run/ and never recorded; None: nothing to show."""
        return None

    def describe(self, view: ArtifactView, limit: int | None = 50) -> str:
        """Text for `imagineer show`; lists longer than `limit` are cut with a '… N more' line
        (None: everything, `show --all`)."""
        import json

        return json.dumps({"facts": view.facts, "meta": view.meta}, indent=2)[:20000]


class Memo:
    """Item-level cache for one namespace; counts hits and misses for reports and tests, and
    remembers the keys this build used, so `imagineer push` can send them along."""

    def __init__(self, store, namespace: str):
        self.store = store
        self.ns = namespace
        self.hits = 0
        self.misses = 0
        self.used: set[str] = set()
        self._lock = threading.Lock()

    @staticmethod
    def key(*parts: Any) -> str:
        return digest_json(list(parts))

    @staticmethod
    def keys(firsts: Iterable[Any], *rest: Any) -> list[str]:
        """[key(f, *rest) for f in firsts]: a source asks for 10,000 at every rebuild."""
        return Memo.keys_of(([f] for f in firsts), after=list(rest))

    @staticmethod
    def keys_of(rows: Iterable[list[Any]], before: list[Any] = (), after: list[Any] = ()) -> list[str]:
        """[key(*before, *row, *after) for row in rows], the same keys with the shared parts
        encoded once (canonical JSON of a list is its items' joined by ","): encoding a model's
        identity again for each of 20,000 images was a tenth of a generation's rebuild."""
        head, tail = canonical_json(list(before))[1:-1], canonical_json(list(after))[1:-1]
        out = []
        for row in rows:
            parts = [p for p in (head, canonical_json(row)[1:-1], tail) if p]  # no part encodes to nothing
            out.append(digest_bytes(b"[" + b",".join(parts) + b"]"))
        return out

    def get_many(self, keys: Iterable[str]) -> dict[str, tuple[Any, str | None]]:
        keys = list(keys)
        found = self.store.memo_get_many(self.ns, keys)
        with self._lock:
            self.hits += len(found)
            self.misses += len(set(keys)) - len(found)
            self.used.update(found)
        return found

    def peek_many(self, keys: Iterable[str]) -> dict[str, tuple[Any, str | None]]:
        """get_many without counting or naming the entries as used: a patch that must know
        what its last build used for an item it drops."""
        return self.store.memo_get_many(self.ns, list(keys))

    def carry(self, keys: Iterable[str]) -> None:
        """Count keys as used without reading them: a patched build relies on entries its
        last build read, and a push should send what a full build's would."""
        with self._lock:
            self.used.update(keys)

    def get(self, key: str) -> tuple[Any, str | None] | None:
        return self.get_many([key]).get(key)

    def put(self, key: str, value: Any = None, blob: str | None = None) -> None:
        self.store.memo_put(self.ns, key, value, blob)
        with self._lock:
            self.used.add(key)

    @contextlib.contextmanager
    def batch(self, size: int = 500):
        """put(key, value, blob) that writes `size` entries per transaction (and the rest on
        leaving): one transaction per item was a visible cost of probing 10,000 images."""
        pending: dict[str, tuple[Any, str | None]] = {}

        def write() -> None:
            self.store.memo_put_many(self.ns, pending)
            with self._lock:
                self.used.update(pending)
            pending.clear()

        def put(key: str, value: Any = None, blob: str | None = None) -> None:
            pending[key] = (value, blob)
            if len(pending) >= size:
                write()

        try:
            yield put
        finally:
            if pending:
                write()

    def put_bytes(self, key: str, data: bytes, value: Any = None) -> str:
        digest = self.store.put_bytes(data)
        self.put(key, value, digest)
        return digest


@dataclass
class BuildContext:
    """Everything a kind may touch while building: its config, inputs, the store, progress."""

    target: str
    config: Any
    project_root: Path
    settings: dict[str, Any]
    store: Any
    upstream: dict[str, ArtifactView]
    inputs: dict[str, FileListing]
    refresh: bool
    emit: Callable[[dict[str, Any]], None]
    workdir: Path
    cancelled: threading.Event = field(default_factory=threading.Event)
    memos: dict[str, Memo] = field(default_factory=dict)
    jobs: int = max(1, os.cpu_count() or 1)
    # (i, n): a shard of a target whose items are independent (Kind.shardable): compute the i-th
    # of n shares of the items into the memo and return None; a last unsharded build assembles
    shard: tuple[int, int] | None = None
    # digest → size of the blobs this build stored or got from upstream: the manifest lists every
    # file's size, and a stat per blob to learn it again was 7 % of a 10,000-image rebuild
    sizes: dict[str, int] = field(default_factory=dict)
    # the target's last build when only its inputs (files, upstream artifacts) changed since: a
    # kind may patch it (ctx.previous), making the bytes a full build would (core/previous.py)
    last_build: PreviousBuild | None = None
    # folder input → the only files of it this build read (set by read_only); None: all of them
    only_read: dict[str, list[str]] | None = None

    @functools.cached_property
    def previous(self) -> Previous | None:
        """The last build to patch, opened on first use: reading its manifest (12,000 files for
        a dataset) is wasted on a kind that never patches."""
        from .previous import open_previous

        return open_previous(self.last_build, self.store, list(self.inputs))

    def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        ev: dict[str, Any] = {"event": "progress", "target": self.target, "done": done}
        if total is not None:
            ev["total"] = total
        if message:
            ev["message"] = message
        self.emit(ev)

    def read_only(self, path: str, rels: Iterable[str]) -> None:
        """Say that of the folder input `path` this build read these files only (a patch takes
        the rest from its last build, by digest): the check after the build that what was read
        still holds its listed bytes then stats these, not the whole folder again."""
        self.only_read = {**(self.only_read or {}), path: sorted(set(rels))}

    def log(self, message: str, level: str = "info") -> None:
        self.emit({"event": "log", "target": self.target, "level": level, "message": message})

    def memo(self, namespace: str) -> Memo:
        """The memo for a namespace; a namespace is shared by every target that uses it."""
        if namespace not in self.memos:
            self.memos[namespace] = Memo(self.store, namespace)
        return self.memos[namespace]

    def put_file(self, path: Path, digest: str | None = None) -> str:
        return self.store.put_file(path, digest)

    def memo_blob(self, namespace: str, parts: list[Any], make: Callable[[], bytes]) -> str:
        """The blob of make(), made once per key (parts describe everything make reads) and then
        taken from the memo: a derived file (a contact sheet) is not remade when its inputs are
        unchanged, however much else in the target changed."""
        memo = self.memo(namespace)
        key = memo.key(*parts)
        hit = memo.get(key)
        if hit is not None and hit[1]:
            return hit[1]
        return memo.put_bytes(key, make())

    def put_files(self, files: list[tuple[str, str, int]]) -> None:
        """put_file for many (path, digest, size): one stat each finds what the store lacks.
        (Copying on threads was slower: the GIL, not the disk, bounds small files here.)"""
        missing = set(self.store.cas.suspects({d: size for _, d, size in files}))
        for n, (path, d, _) in enumerate(f for f in files if f[1] in missing):
            self.store.put_file(path, d)
            if n % 200 == 199:
                self.check_cancelled()
        self.sizes.update((d, size) for _, d, size in files)

    def put_bytes(self, data: bytes) -> str:
        digest = self.store.put_bytes(data)
        self.sizes[digest] = len(data)
        return digest

    def blob_writer(self) -> BlobWriter:
        """A picklable BlobWriter into this store's blobs, for pool workers (see put_files,
        which then finds what they stored)."""
        from .store.cas import BlobWriter

        return BlobWriter(str(self.store.cas.root), str(self.store.cas.tmp))

    def blob_path(self, digest: str) -> Path:
        """Where a stored blob's bytes are (read-only), after checking them against the digest;
        raises FileNotFoundError or BlobDamaged when the blob cannot be trusted."""
        self.store.fetch([digest])
        self.store.verify_blob(digest)
        return self.store.blob_path(digest)

    def has_blob(self, digest: str) -> bool:
        return self.store.has_blob(digest)

    def has_blobs(self, digests: Iterable[str]) -> set[str]:
        """The digests has_blob is true for: one stat each for the untouched blobs (whose sizes
        are then known to the manifest), the full check only for the rest."""
        wanted = set(digests)
        intact = self.store.cas.intact_sizes(wanted)
        self.sizes.update(intact)
        return set(intact) | {d for d in wanted - intact.keys() if self.store.has_blob(d)}

    @property
    def models_dir(self) -> Path:
        """Where builtin models are built once and kept (`<store>/models/`, kept by gc): they
        are made from code and a seed, so every machine makes the same bytes itself."""
        return self.store.models_dir

    def file(self, view: ArtifactView, rel: str) -> Path:
        """Where the bytes of one file of an upstream artifact are (read-only)."""
        return self.store.blob_path(view.files[rel])

    def file_paths(self, view: ArtifactView, rels: list[str]) -> list[str]:
        """file() of many files of one artifact, as strings (fetched together from a remote)."""
        return self.store.blob_paths([view.files[rel] for rel in rels])

    def resolve(self, rel: str) -> Path:
        """A project-relative path from the config, as an absolute path."""
        return (self.project_root / rel).resolve()

    def check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise KeyboardInterrupt("build cancelled")
