"""(path, size, mtime_ns, inode) → digest, so unchanged files are never read twice.

An entry is trusted only when the file's mtime is safely older than the moment it was
recorded (the "racy git" rule): a file written in the same instant it was hashed could
change again without its mtime moving, so it is re-hashed next time.
"""

from __future__ import annotations

import fcntl
import marshal
import os
import threading
import time
from pathlib import Path

from .hashing import digest_file

RACY_NS = 2_000_000_000


FORMAT = 1  # the first item of the saved tuple; another value (or damage) reads as empty


class StatCache:
    """Kept in memory as a dict and saved as one marshal file (`stat.cache`): a no-op build
    loads every entry, and marshal reads 100,000 of them in a third of the time SQLite rows
    took. Writers merge their new entries into the file under an flock and replace it whole,
    so concurrent commands (a build and `status`, the review app) lose nothing."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._entries: dict[str, tuple[int, int, int, str, int]] | None = None
        self._dirty: dict[str, tuple[int, int, int, str, int]] = {}
        self.hashed = 0  # files actually read, for tests and benchmarks
        self.flush_error: str | None = None  # why the last flush failed (disk full, read-only)

    def _read(self) -> dict[str, tuple[int, int, int, str, int]]:
        """The saved entries; empty when there are none or they cannot be trusted (the cache
        only saves work: a damaged file costs one re-hash of each input, nothing more)."""
        try:
            saved = marshal.loads(self.path.read_bytes())
        except (OSError, ValueError, EOFError, TypeError):
            return {}
        if isinstance(saved, tuple) and len(saved) == 2 and saved[0] == FORMAT and isinstance(saved[1], dict):
            return saved[1]
        return {}

    def _load(self) -> dict[str, tuple[int, int, int, str, int]]:
        if self._entries is None:
            with self._load_lock:
                if self._entries is None:
                    self._entries = self._read()
        return self._entries

    def digest(self, path: str | os.PathLike, st: os.stat_result | None = None) -> tuple[str, int]:
        """(digest, size) of a file, read only when its stat changed or its entry is racy."""
        key = os.fspath(path)
        st = st or os.stat(key)
        entries = self._load()
        hit = entries.get(key)
        if (
            hit is not None
            and hit[0] == st.st_size
            and hit[1] == st.st_mtime_ns
            and hit[2] == st.st_ino
            and st.st_mtime_ns < hit[4] - RACY_NS
        ):
            return hit[3], st.st_size
        now = time.time_ns()
        digest, size = digest_file(key)
        st2 = os.stat(key)
        with self._lock:
            self.hashed += 1
            if (st2.st_size, st2.st_mtime_ns) == (st.st_size, st.st_mtime_ns):
                entry = (st.st_size, st.st_mtime_ns, st.st_ino, digest, now)
                entries[key] = entry
                self._dirty[key] = entry
        return digest, size

    def known(self, files: list[tuple[str, os.stat_result]]) -> list[tuple[str, int] | None]:
        """digest() for many (path, stat) at once, from the table only: (digest, size), or None
        where the file must be read (new, changed or racy). A no-op build asks this for every
        input file, so it is one tight loop."""
        get = self._load().get
        out: list[tuple[str, int] | None] = []
        for key, st in files:
            hit = get(key)
            if (hit is not None and hit[0] == st.st_size and hit[1] == st.st_mtime_ns and hit[2] == st.st_ino
                    and st.st_mtime_ns < hit[4] - RACY_NS):
                out.append((hit[3], hit[0]))
            else:
                out.append(None)
        return out

    def flush(self) -> None:
        """Save new entries. The cache only saves work: when it cannot be written (disk full,
        read-only store) the entries are dropped and flush_error says why."""
        with self._lock:
            dirty, self._dirty = self._dirty, {}
        if not dirty:
            return
        try:
            self._write(dirty)
            self.flush_error = None
        except OSError as e:
            self.flush_error = str(e)

    def drop_unsaved(self) -> None:
        """Forget what flush() would save: an interrupted build leaves without creating a file
        (creating one can stall for seconds on a busy disk, and the process cannot exit
        while it does)."""
        with self._lock:
            self._dirty = {}

    def _write(self, dirty: dict[str, tuple[int, int, int, str, int]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed
            entries = self._read()  # what other processes saved meanwhile
            for key, entry in dirty.items():
                if entry[0] < 0:
                    entries.pop(key, None)
                else:
                    entries[key] = entry
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            try:
                tmp.write_bytes(marshal.dumps((FORMAT, entries)))
                os.replace(tmp, self.path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
