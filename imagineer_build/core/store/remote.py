"""Remotes: the store's three maps on S3, GCS, a shared folder (fsspec) or an HTTP cache.

Every call is a batch, as in Bazel's remote APIs (FindMissingBlobs, BatchUpdateBlobs,
BatchReadBlobs, Get/UpdateActionResult): one round of listing tells what is missing, uploads
and downloads run `jobs` at a time. A remote is untrusted: what comes back is checked by the
caller (digests, record fields) before anyone uses it, and only names we made (digests, keys,
namespaces) ever become paths.

Layouts
  fsspec (s3://, gs://, file://, memory://): cas/<d[:2]>/<d> for blobs of 1 MB and more,
    packs/<p> + packs/<p>.idx for smaller ones (up to 16 MB of blobs per object, the index written
    after the pack, so a pack is visible only once whole), ac/<k[:2]>/<k>, and memo entries in
    packs too, memo/<ns>/packs/<p>.json ({key: entry}). An object store charges per request:
    10,000 captions or probes in 10,000 PUTs is what makes other tools' pushes take hours.
  http(s):// (the Bazel HTTP cache layout): /cas/<d>, /ac/<k>, /memo/<ns>/<k>; HEAD/GET/PUT
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

Progress = Callable[[int, int], None]  # (files done, bytes done) since the call began
PACK_BLOB_LIMIT = 1 << 20  # smaller blobs travel in packs
PACK_BYTES = 16 << 20  # a pack holds up to this much
NAMESPACE = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


class RemoteError(Exception):
    """The remote cannot be reached or refused a request; the message names it (no secrets)."""


def printable(url: str) -> str:
    """The URL without user, password, query or fragment: safe for logs, errors and pages."""
    p = urlsplit(url)
    host = p.hostname or ""
    if p.port:
        host += f":{p.port}"
    return urlunsplit((p.scheme, host, p.path, "", ""))


def open_remote(url: str, jobs: int = 16, options: dict | None = None):
    scheme = urlsplit(url).scheme
    if scheme in ("http", "https"):
        return HttpRemote(url, jobs)
    if scheme in ("s3", "gs", "gcs", "file", "memory", "") or "::" in url:
        return FsspecRemote(url, jobs, options or {})
    raise RemoteError(f"remote {printable(url)}: unsupported scheme {scheme!r} (use s3://, gs://, file://, http(s)://)")


def _check_ns(ns: str) -> str:
    if not NAMESPACE.match(ns):
        raise RemoteError(f"bad memo namespace {ns!r}")
    return ns


class FsspecRemote:
    def __init__(self, url: str, jobs: int, options: dict):
        try:
            import fsspec
        except ImportError:
            raise RemoteError("remote caches need the 'remote' extra: pip install 'imagineer-build[remote]'") from None
        self.url = printable(url)
        self.address, self.options = url, options  # for a worker elsewhere; never printed
        try:
            self.fs, root = fsspec.core.url_to_fs(url, **options)
        except (ImportError, ValueError) as e:
            raise RemoteError(f"remote {self.url}: {e}") from None
        self.root = root.rstrip("/")
        self.jobs = max(1, jobs)
        self.local = type(self.fs).__name__ == "LocalFileSystem"
        self._packed: dict[str, tuple[str, int, int]] = {}
        self._packs_read: set[str] = set()
        self._memo_cache: dict[str, dict[str, bytes]] = {}

    # ---- names ----------------------------------------------------------------------------

    def _cas(self, d: str) -> str:
        return f"{self.root}/cas/{d[:2]}/{d}"

    def _ac(self, k: str) -> str:
        return f"{self.root}/ac/{k[:2]}/{k}"

    # ---- the three maps -------------------------------------------------------------------

    def find_missing(self, digests: Iterable[str]) -> set[str]:
        wanted = set(digests)
        packed = self._pack_index()
        return self._missing({d for d in wanted if d not in packed}, self._cas)

    def has_actions(self, keys: Iterable[str]) -> set[str]:
        keys = set(keys)
        return keys - self._missing(keys, self._ac)

    def find_missing_memo(self, ns: str, keys: Iterable[str]) -> set[str]:
        have = self._memo_packs(ns)
        return {k for k in keys if k not in have}

    def upload(self, files: dict[str, Path], progress: Progress | None = None) -> int:
        """Large blobs one object each; small ones packed (the pack first, then its index)."""
        small = sorted((d, p) for d, p in files.items() if os.path.getsize(p) < PACK_BLOB_LIMIT)
        large = sorted((d, p) for d, p in files.items() if os.path.getsize(p) >= PACK_BLOB_LIMIT)
        done = [0, 0]

        def advance(files_n: int, bytes_n: int) -> None:
            done[0] += files_n
            done[1] += bytes_n
            if progress:
                progress(done[0], done[1])

        packs: list[list[tuple[str, Path]]] = [[]]
        size = 0
        for d, p in small:
            n = os.path.getsize(p)
            if packs[-1] and size + n > PACK_BYTES:
                packs.append([])
                size = 0
            packs[-1].append((d, p))
            size += n
        packs = [pk for pk in packs if pk]
        for i in range(0, len(packs), self.jobs):
            batch = packs[i:i + self.jobs]
            built = [_pack(pk) for pk in batch]
            self._pipe({self._pack(name): data for name, data, _ in built})
            self._pipe({self._pack(name) + ".idx": idx for name, _, idx in built})  # now visible
            advance(sum(len(pk) for pk in batch), sum(len(data) for _, data, _ in built))
        self._batched(large, lambda batch: self._put([(str(p), self._cas(d)) for d, p in batch]),
                      lambda batch: sum(os.path.getsize(p) for _, p in batch),
                      (lambda f, b: progress(done[0] + f, done[1] + b)) if progress else None)
        return done[1] + sum(os.path.getsize(p) for _, p in large)

    def download(self, digests: Iterable[str], dest: Path, progress: Progress | None = None) -> dict[str, Path]:
        """digest → file under dest for every digest the remote has (absent ones are left out)."""
        wanted = set(digests)
        packed = self._pack_index()
        out: dict[str, Path] = {}
        by_pack: dict[str, list[str]] = {}
        for d in sorted(wanted & set(packed)):
            by_pack.setdefault(packed[d][0], []).append(d)
        names = sorted(by_pack)
        for i in range(0, len(names), self.jobs):  # whole packs: one request brings many blobs
            chunk = names[i:i + self.jobs]
            got = self._cat([self._pack(n) for n in chunk])
            for n in chunk:
                data = got.get(self._pack(n))
                if data is None:
                    continue
                for d in by_pack[n]:
                    _, off, length = packed[d]
                    path = dest / f"{d}.{uuid.uuid4().hex[:8]}"
                    path.write_bytes(data[off:off + length])
                    out[d] = path
            if progress:
                progress(len(out), sum(p.stat().st_size for p in out.values()))
        loose = sorted(wanted - set(out))
        loose = sorted(set(loose) - self._missing(set(loose), self._cas))
        files = {d: dest / f"{d}.{uuid.uuid4().hex[:8]}" for d in loose}

        def get(batch: list[str]) -> None:
            self._call(self.fs.get, [self._cas(d) for d in batch], [str(files[d]) for d in batch])

        self._batched(loose, get, lambda batch: sum(files[d].stat().st_size for d in batch if files[d].exists()),
                      progress)
        out.update({d: p for d, p in files.items() if p.exists()})
        return out

    def get_action(self, key: str) -> bytes | None:
        return self._cat([self._ac(key)]).get(self._ac(key))

    def put_action(self, key: str, data: bytes) -> None:
        self._pipe({self._ac(key): data})

    def get_memo(self, ns: str, keys: Iterable[str]) -> dict[str, bytes]:
        have = self._memo_packs(ns)
        return {k: have[k] for k in keys if k in have}

    def put_memo(self, ns: str, entries: dict[str, bytes]) -> None:
        """Entries in packs of up to 10,000, named by their content; visible once written whole."""
        import json

        items = sorted(entries.items())
        for i in range(0, len(items), 10_000):
            body = json.dumps({k: v.decode() for k, v in items[i:i + 10_000]}, sort_keys=True).encode()
            from ..hashing import digest_bytes

            self._pipe({f"{self.root}/memo/{_check_ns(ns)}/packs/{digest_bytes(body)}.json": body})
        self._memo_cache.pop(ns, None)

    # ---- packs ------------------------------------------------------------------------------

    def _pack(self, name: str) -> str:
        return f"{self.root}/packs/{name}"

    def _pack_index(self) -> dict[str, tuple[str, int, int]]:
        """digest → (pack, offset, length) of every packed blob; an index read once is kept (packs
        never change), so a later call costs one listing."""
        import json

        try:
            names = {p.rstrip("/").rsplit("/", 1)[-1] for p in self._listing(f"{self.root}/packs")}
        except FileNotFoundError:
            return {}
        new = sorted(n[:-4] for n in names if n.endswith(".idx") and n[:-4] not in self._packs_read)
        for i in range(0, len(new), 256):
            got = self._cat([self._pack(n) + ".idx" for n in new[i:i + 256]])
            for n in new[i:i + 256]:
                data = got.get(self._pack(n) + ".idx")
                if data is None:
                    continue
                for d, (off, length) in json.loads(data).items():
                    self._packed[d] = (n, off, length)
                self._packs_read.add(n)
        return self._packed

    def _memo_packs(self, ns: str) -> dict[str, bytes]:
        import json

        if ns in self._memo_cache:
            return self._memo_cache[ns]
        try:
            paths = sorted(p for p in self._listing(f"{self.root}/memo/{_check_ns(ns)}/packs") if p.endswith(".json"))
        except FileNotFoundError:
            paths = []
        entries: dict[str, bytes] = {}
        for i in range(0, len(paths), 256):
            for data in self._cat(paths[i:i + 256]).values():
                entries.update({k: v.encode() for k, v in json.loads(data).items()})
        self._memo_cache[ns] = entries
        return entries

    def _listing(self, folder: str) -> list[str]:
        self.fs.invalidate_cache(folder)
        return self._call(self.fs.ls, folder, detail=False)

    # ---- plumbing -------------------------------------------------------------------------

    def _missing(self, names: set[str], path_of: Callable[[str], str]) -> set[str]:
        """One listing per shard the names fall in (shards are listed `jobs` at a time)."""
        if not names:
            return set()
        shards: dict[str, set[str]] = {}
        for n in names:
            shards.setdefault(path_of(n).rsplit("/", 1)[0], set()).add(n)
        self.fs.invalidate_cache()

        def listing(shard: str) -> set[str]:
            try:
                return {p.rstrip("/").rsplit("/", 1)[-1] for p in self._call(self.fs.ls, shard, detail=False)}
            except FileNotFoundError:
                return set()

        order = sorted(shards)
        with ThreadPoolExecutor(self.jobs) as pool:
            present = dict(zip(order, pool.map(listing, order), strict=True))
        return {n for shard, ns in shards.items() for n in ns if n not in present[shard]}

    def _batched(self, items: list, run: Callable[[list], None], size: Callable[[list], int],
                 progress: Progress | None) -> int:
        total_files = total_bytes = 0
        step = max(self.jobs * 8, 64)
        for i in range(0, len(items), step):
            batch = items[i:i + step]
            run(batch)
            total_files += len(batch)
            total_bytes += size(batch)
            if progress:
                progress(total_files, total_bytes)
        return total_bytes

    def _put(self, pairs: list[tuple[str, str]]) -> None:
        if self.local:  # a shared folder: write beside, then rename, so no reader sees half a blob
            def one(pair: tuple[str, str]) -> None:
                src, dst = pair
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                tmp = f"{dst}.tmp-{uuid.uuid4().hex}"
                with open(src, "rb") as a, open(tmp, "wb") as b:
                    while chunk := a.read(1 << 20):
                        b.write(chunk)
                os.replace(tmp, dst)

            with ThreadPoolExecutor(self.jobs) as pool:
                list(pool.map(one, pairs))
            return
        self._call(self.fs.put, [s for s, _ in pairs], [d for _, d in pairs], batch_size=self.jobs)

    def _pipe(self, data: dict[str, bytes]) -> None:
        if self.local:
            for path, value in data.items():
                os.makedirs(os.path.dirname(path), exist_ok=True)
                tmp = f"{path}.tmp-{uuid.uuid4().hex}"
                Path(tmp).write_bytes(value)
                os.replace(tmp, path)
            return
        self._call(self.fs.pipe, data, batch_size=self.jobs)

    def _cat(self, paths: list[str]) -> dict[str, bytes]:
        if not paths:
            return {}
        if self.local:
            out = {}
            for p in paths:
                try:
                    out[p] = Path(p).read_bytes()
                except FileNotFoundError:
                    continue
            return out
        got = self._call(self.fs.cat, paths, on_error="omit", batch_size=self.jobs)
        return {p.rstrip("/"): v for p, v in (got or {}).items()} if isinstance(got, dict) else {paths[0]: got}

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FileNotFoundError:
            raise
        except (OSError, ValueError, RuntimeError) as e:
            raise RemoteError(f"remote {self.url}: {type(e).__name__}: {_clean(str(e))}") from None


def _pack(blobs: list[tuple[str, Path]]) -> tuple[str, bytes, bytes]:
    """(name, bytes, index) of a pack: the blobs end to end, the index {digest: [offset, length]}."""
    import json

    from ..hashing import digest_bytes

    parts, index, off = [], {}, 0
    for d, p in blobs:
        data = Path(p).read_bytes()
        parts.append(data)
        index[d] = [off, len(data)]
        off += len(data)
    body = b"".join(parts)
    return digest_bytes(body), body, json.dumps(index, sort_keys=True).encode()


def _clean(text: str) -> str:
    """An error message with any URL in it made printable (no credentials in queries)."""
    return re.sub(r"https?://\S+", lambda m: printable(m.group(0)), text)[:300]


class HttpRemote:
    """The Bazel HTTP cache layout over plain HTTP (nginx WebDAV or any PUT/GET server).

    Credentials: user:password in the URL (sent as basic auth, never printed) or a bearer
    token in IMAGINEER_REMOTE_TOKEN."""

    def __init__(self, url: str, jobs: int):
        import httpx

        p = urlsplit(url)
        self.url = printable(url)
        self.address, self.options = url, {}  # for a worker elsewhere; never printed
        self.base = self.url.rstrip("/")
        token = os.environ.get("IMAGINEER_REMOTE_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        auth = httpx.BasicAuth(p.username or "", p.password or "") if p.username and not token else None
        self.jobs = max(1, jobs)
        self.client = httpx.Client(auth=auth, headers=headers, timeout=60.0,
                                   limits=httpx.Limits(max_connections=self.jobs, max_keepalive_connections=self.jobs))

    def _request(self, method: str, path: str, **kw):
        import httpx

        try:
            r = self.client.request(method, f"{self.base}/{path}", **kw)
        except httpx.HTTPError as e:
            raise RemoteError(f"remote {self.url}: {type(e).__name__}: {_clean(str(e))}") from None
        if r.status_code in (401, 403):
            raise RemoteError(f"remote {self.url}: {r.status_code} (check IMAGINEER_REMOTE_TOKEN or the URL's user)")
        if r.status_code >= 500:
            raise RemoteError(f"remote {self.url}: {method} {path.split('/')[0]}/…: HTTP {r.status_code}")
        return r

    def _map(self, fn, items):
        with ThreadPoolExecutor(self.jobs) as pool:
            return list(pool.map(fn, items))

    def find_missing(self, digests: Iterable[str]) -> set[str]:
        ds = sorted(set(digests))
        found = self._map(lambda d: self._request("HEAD", f"cas/{d}").status_code == 200, ds)
        return {d for d, ok in zip(ds, found, strict=True) if not ok}

    def has_actions(self, keys: Iterable[str]) -> set[str]:
        ks = sorted(set(keys))
        found = self._map(lambda k: self._request("HEAD", f"ac/{k}").status_code == 200, ks)
        return {k for k, ok in zip(ks, found, strict=True) if ok}

    def find_missing_memo(self, ns: str, keys: Iterable[str]) -> set[str]:
        ks = sorted(set(keys))
        found = self._map(lambda k: self._request("HEAD", f"memo/{_check_ns(ns)}/{k}").status_code == 200, ks)
        return {k for k, ok in zip(ks, found, strict=True) if not ok}

    def upload(self, files: dict[str, Path], progress: Progress | None = None) -> int:
        done = [0, 0]

        def put(item: tuple[str, Path]) -> None:
            d, p = item
            with open(p, "rb") as f:
                r = self._request("PUT", f"cas/{d}", content=f.read())
            if r.status_code >= 300:
                raise RemoteError(f"remote {self.url}: PUT cas/{d}: HTTP {r.status_code}")
            done[0] += 1
            done[1] += os.path.getsize(p)
            if progress:
                progress(done[0], done[1])

        self._map(put, sorted(files.items()))
        return done[1]

    def download(self, digests: Iterable[str], dest: Path, progress: Progress | None = None) -> dict[str, Path]:
        out: dict[str, Path] = {}
        done = [0, 0]

        def get(d: str) -> None:
            r = self._request("GET", f"cas/{d}")
            if r.status_code != 200:
                return
            path = dest / f"{d}.{uuid.uuid4().hex[:8]}"
            path.write_bytes(r.content)
            out[d] = path
            done[0] += 1
            done[1] += len(r.content)
            if progress:
                progress(done[0], done[1])

        self._map(get, sorted(set(digests)))
        return out

    def get_action(self, key: str) -> bytes | None:
        r = self._request("GET", f"ac/{key}")
        return r.content if r.status_code == 200 else None

    def put_action(self, key: str, data: bytes) -> None:
        r = self._request("PUT", f"ac/{key}", content=data)
        if r.status_code >= 300:
            raise RemoteError(f"remote {self.url}: PUT ac/{key}: HTTP {r.status_code}")

    def get_memo(self, ns: str, keys: Iterable[str]) -> dict[str, bytes]:
        ks = sorted(set(keys))
        got = self._map(lambda k: self._request("GET", f"memo/{_check_ns(ns)}/{k}"), ks)
        return {k: r.content for k, r in zip(ks, got, strict=True) if r.status_code == 200}

    def put_memo(self, ns: str, entries: dict[str, bytes]) -> None:
        def put(item: tuple[str, bytes]) -> None:
            r = self._request("PUT", f"memo/{_check_ns(ns)}/{item[0]}", content=item[1])
            if r.status_code >= 300:
                raise RemoteError(f"remote {self.url}: PUT memo: HTTP {r.status_code}")

        self._map(put, sorted(entries.items()))
