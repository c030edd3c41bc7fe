"""Content-addressed blobs on the local disk: the one module that knows where a digest lives.

Layout: `blobs/<digest[:2]>/<digest>`, written read-only with a fixed old mtime. That mtime is
the check: a blob with its size and BLOB_MTIME_NS is the one we wrote, since an edit in place
(through a hard-linked out view) moves the mtime. One stat per blob and no table: a no-op
build checks every blob of every cached artifact, 10,000s of them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import xxhash

from ..hashing import CHUNK, digest_bytes, digest_file

BLOB_MTIME_NS = 1_000_000_000 * 1_000_000_000  # 2001-09-09: older than anything a person writes
_SERIAL = itertools.count()  # names of temporary files, with the pid


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class StoreError(Exception):
    pass


class BlobDamaged(StoreError):
    def __init__(self, digest: str, path: Path, why: str):
        self.digest, self.path, self.why = digest, path, why
        super().__init__(f"blob {digest} is damaged ({why}): {path}")


def is_digest(text: str) -> bool:
    """32 lower-case hex characters: the only names the store ever turns into paths."""
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)


@dataclass(frozen=True)
class BlobWriter:
    """Stores blobs into a local store from another process: picklable, for pool workers that
    hold an input's bytes anyway (a source stores each image as it probes it, instead of
    reading it again to copy it in afterwards)."""

    root: str
    tmp: str

    def put(self, data: bytes, digest: str) -> str:
        """Store bytes the caller has just hashed to digest."""
        return _cas_at(self.root, self.tmp).put_bytes(data, digest=digest)


@cache
def _cas_at(root: str, tmp: str) -> LocalCAS:
    return LocalCAS(Path(root), Path(tmp))


class LocalCAS:
    def __init__(self, root: Path, tmp: Path):
        self.root = Path(root)
        self.tmp = tmp
        self._root_str = str(self.root)
        self._tmp_str = str(tmp)

    # ---- where ------------------------------------------------------------------------------

    def path(self, digest: str) -> Path:
        return Path(self.path_str(digest))  # half the cost of two `/` joins, for 10,000s of blobs

    def path_str(self, digest: str) -> str:
        """path() as a string: a no-op build checks 10,000s of them, and pathlib is slow."""
        return f"{self._root_str}/{digest[:2]}/{digest}"

    # ---- reading --------------------------------------------------------------------------

    def verify(self, digest: str, size: int | None = None, full: bool = False) -> None:
        """Raise BlobDamaged unless the blob hashes to its name; FileNotFoundError when it is
        not here. Unless full, an untouched blob (its mtime still BLOB_MTIME_NS) is not read."""
        path = self.path_str(digest)
        st = os.stat(path)
        if size is not None and st.st_size != size:
            raise BlobDamaged(digest, Path(path), f"size {st.st_size}, expected {size}")
        if st.st_mtime_ns == BLOB_MTIME_NS and not full:
            return
        actual = digest_file(path)[0]
        if actual != digest:
            raise BlobDamaged(digest, Path(path), f"content hashes to {actual}")
        with contextlib.suppress(OSError):  # touched but intact (e.g. `touch`): trusted again
            os.utime(path, ns=(BLOB_MTIME_NS, BLOB_MTIME_NS))

    def suspects(self, sizes: dict[str, int]) -> list[str]:
        """The blobs (digest → expected size) that fail the one-stat check: missing, resized
        or touched since written. verify() tells which of them are really damaged."""
        intact = self.intact_sizes(sizes)
        return [d for d, size in sizes.items() if intact.get(d) != size]

    def intact_sizes(self, digests: Iterable[str]) -> dict[str, int]:
        """digest → size of the blobs that pass the one-stat check (present, mtime untouched);
        the others are missing or need verify()."""
        sentinel, stat = BLOB_MTIME_NS, os.stat
        out: dict[str, int] = {}
        # Relative to the open blobs folder: the kernel resolves two path parts, not a dozen
        # (a third less per stat; 40,000 of them for a cached 20,000-image generation)
        with self._folder() as (fd, root):
            for d in digests:
                try:
                    st = stat(f"{root}{d[:2]}/{d}", dir_fd=fd)
                except OSError:
                    continue
                if st.st_mtime_ns == sentinel:
                    out[d] = st.st_size
        return out

    @contextlib.contextmanager
    def _folder(self) -> Iterator[tuple[int | None, str]]:
        """(descriptor of the blobs folder, "") to stat blobs relative to, or (None, its path
        + "/") where the folder is missing or the platform has no dir_fd."""
        try:
            fd = os.open(self._root_str, os.O_RDONLY | os.O_DIRECTORY) if os.stat in os.supports_dir_fd else None
        except OSError:
            fd = None
        try:
            yield (fd, "") if fd is not None else (None, self._root_str + "/")
        finally:
            if fd is not None:
                os.close(fd)

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

    # A blob is written to tmp/ (read-only from the start), given its fixed mtime through the
    # open descriptor, and renamed into place: plain os calls, no pathlib or mkstemp, since a
    # first build stores 10,000s of small files and each call showed in its time.

    def put_bytes(self, data: bytes, fsync: bool = False, digest: str | None = None) -> str:
        """digest: the caller's own digest of these very bytes, when it has one (not re-hashed)."""
        digest = digest or digest_bytes(data)
        if self.has(digest):
            return digest
        self._place(self._write_tmp([data], fsync), digest)
        return digest

    def put_file(self, path: Path | str, digest: str | None = None) -> str:
        """Copy a file in, hashing what is actually copied; a digest given and not matched
        (the file changed meanwhile, or a download lied) raises StoreError, keeping nothing."""
        if digest is not None and self.has(digest):
            return digest
        h = xxhash.xxh3_128()

        def hashed_chunks():
            with open(path, "rb", buffering=0) as src:
                while chunk := src.read(CHUNK):
                    h.update(chunk)
                    yield chunk

        tmp = self._write_tmp(hashed_chunks())
        actual = h.hexdigest()
        if digest is not None and actual != digest:
            os.unlink(tmp)
            raise StoreError(f"{path} changed while it was being stored (it no longer hashes to {digest[:12]})")
        if self.has(actual):
            os.unlink(tmp)
            return actual
        self._place(tmp, actual)
        return actual

    def adopt(self, tmp: Path, digest: str) -> None:
        """Take a file written under tmp/ whose bytes are known to hash to digest."""
        os.chmod(tmp, 0o444)
        os.utime(tmp, ns=(BLOB_MTIME_NS, BLOB_MTIME_NS))
        self._place(str(tmp), digest)

    def _write_tmp(self, chunks: Iterable[bytes], fsync: bool = False) -> str:
        """A new read-only file under tmp/ holding the chunks, with the blob mtime; its path.
        Nothing is left behind when writing fails."""
        fd, tmp = self._new_tmp()
        try:
            for chunk in chunks:
                _write_all(fd, chunk)
            if fsync:
                os.fsync(fd)
            os.utime(fd, ns=(BLOB_MTIME_NS, BLOB_MTIME_NS))
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        return tmp

    def _new_tmp(self) -> tuple[int, str]:
        """(descriptor, path) of a new read-only file under tmp/, open for writing."""
        path = f"{self._tmp_str}/blob-{os.getpid()}-{next(_SERIAL)}"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444), path
        except FileExistsError:  # left by a killed process that had our pid
            fd, path = tempfile.mkstemp(dir=self._tmp_str)
            os.fchmod(fd, 0o444)
            return fd, path

    def _place(self, tmp: str, digest: str) -> None:
        dest = self.path_str(digest)
        try:
            os.replace(tmp, dest)
        except FileNotFoundError:  # the first blob of its folder
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            os.replace(tmp, dest)

    def drop(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(digest).unlink()
