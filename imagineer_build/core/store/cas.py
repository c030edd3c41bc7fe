"""Content-addressed blobs on the local disk: the one module that knows where a digest lives.

Layout: `blobs/<digest[:2]>/<digest>`, written read-only with a fixed old mtime, so an edit in
place (through a hard-linked out view) moves the mtime and the stat cache notices it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import xxhash

from ..hashing import CHUNK, digest_bytes, digest_file
from ..statcache import StatCache

BLOB_MTIME_NS = 1_000_000_000 * 1_000_000_000  # 2001-09-09: older than anything a person writes


class StoreError(Exception):
    pass


class BlobDamaged(StoreError):
    def __init__(self, digest: str, path: Path, why: str):
        self.digest, self.path, self.why = digest, path, why
        super().__init__(f"blob {digest} is damaged ({why}): {path}")


def is_digest(text: str) -> bool:
    """32 lower-case hex characters: the only names the store ever turns into paths."""
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)


class LocalCAS:
    def __init__(self, root: Path, tmp: Path, stat: StatCache):
        self.root = Path(root)
        self.tmp = tmp
        self.stat = stat
        self._root_str = str(self.root)

    # ---- where ------------------------------------------------------------------------------

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def path_str(self, digest: str) -> str:
        """path() as a string: a no-op build checks 10,000s of them, and pathlib is slow."""
        return f"{self._root_str}/{digest[:2]}/{digest}"

    # ---- reading --------------------------------------------------------------------------

    def verify(self, digest: str, size: int | None = None, full: bool = False) -> None:
        """Raise BlobDamaged unless the blob hashes to its name (stat-cached unless full);
        FileNotFoundError when it is not here."""
        path = self.path_str(digest)
        st = os.stat(path)
        if size is not None and st.st_size != size:
            raise BlobDamaged(digest, Path(path), f"size {st.st_size}, expected {size}")
        actual = digest_file(path)[0] if full else self.stat.digest(path, st)[0]
        if actual != digest:
            raise BlobDamaged(digest, Path(path), f"content hashes to {actual}")

    def has(self, digest: str, size: int | None = None) -> bool:
        try:
            self.verify(digest, size)
            return True
        except (BlobDamaged, FileNotFoundError):
            return False

    def has_many(self, digests: Iterable[str]) -> set[str]:
        return {d for d in set(digests) if self.has(d)}

    def find_missing(self, digests: Iterable[str]) -> set[str]:
        wanted = set(digests)
        return wanted - self.has_many(wanted)

    def size(self, digest: str) -> int:
        return os.stat(self.path_str(digest)).st_size

    def iter_digests(self) -> Iterator[str]:
        for p in self.root.glob("*/*"):
            if is_digest(p.name):
                yield p.name

    # ---- writing --------------------------------------------------------------------------

    def put_bytes(self, data: bytes, fsync: bool = False) -> str:
        digest = digest_bytes(data)
        if self.has(digest):
            return digest
        fd, tmp = tempfile.mkstemp(dir=self.tmp)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        self._finish(Path(tmp), digest)
        return digest

    def put_file(self, path: Path | str, digest: str | None = None) -> str:
        """Copy a file in, hashing what is actually copied; a digest given and not matched
        (the file changed meanwhile, or a download lied) raises StoreError, keeping nothing."""
        if digest is not None and self.has(digest):
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
            raise StoreError(f"{path} changed while it was being stored (it no longer hashes to {digest[:12]})")
        if self.has(actual):
            os.unlink(tmp)
            return actual
        self._finish(Path(tmp), actual)
        return actual

    def adopt(self, tmp: Path, digest: str) -> None:
        """Take a file written under tmp/ whose bytes are known to hash to digest."""
        self._finish(tmp, digest)

    def _finish(self, tmp: Path, digest: str) -> None:
        dest = self.path(digest)
        dest.parent.mkdir(exist_ok=True)
        os.chmod(tmp, 0o444)
        os.utime(tmp, ns=(BLOB_MTIME_NS, BLOB_MTIME_NS))
        os.replace(tmp, dest)
        self.stat.record(dest, digest)  # old mtime → trusted at once; the hash is of what we wrote

    def drop(self, digest: str) -> None:
        path = self.path(digest)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self.stat.forget(path)
