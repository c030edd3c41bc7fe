"""(path, size, mtime_ns, inode) → digest, so unchanged files are never read twice.

An entry is trusted only when the file's mtime is safely older than the moment it was
recorded (the "racy git" rule): a file written in the same instant it was hashed could
change again without its mtime moving, so it is re-hashed next time.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

from .hashing import digest_file

RACY_NS = 2_000_000_000


def enable_wal(con: sqlite3.Connection) -> None:
    """WAL mode, retried: switching a new database to WAL fails at once, without waiting on the
    busy timeout, when another connection (thread or process) does the same at that moment."""
    for attempt in range(50):
        try:
            con.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError:
            if attempt == 49:
                raise
            time.sleep(0.05)
    con.execute("PRAGMA synchronous=NORMAL")


class StatCache:
    def __init__(self, db_path: Path):
        self.db_path = db_path
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._entries: dict[str, tuple[int, int, int, str, int]] | None = None
        self._dirty: dict[str, tuple[int, int, int, str, int]] = {}
        self.hashed = 0  # files actually read, for tests and benchmarks
        self.flush_error: str | None = None  # why the last flush failed (disk full, read-only)

    def _connect(self) -> sqlite3.Connection:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.db_path, timeout=60)
        enable_wal(con)
        con.execute(
            "CREATE TABLE IF NOT EXISTS stat (path TEXT PRIMARY KEY, size INT, mtime_ns INT,"
            " ino INT, digest TEXT, recorded_ns INT)"
        )
        return con

    def _load(self) -> dict[str, tuple[int, int, int, str, int]]:
        if self._entries is None:
            with self._load_lock:  # one loader: concurrent WAL setup on a new file fails at once
                if self._entries is None:
                    con = self._connect()
                    try:
                        rows = con.execute("SELECT path, size, mtime_ns, ino, digest, recorded_ns FROM stat")
                        self._entries = {r[0]: tuple(r[1:]) for r in rows}  # type: ignore[misc]
                    finally:
                        con.close()
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

    def record(self, path: str | os.PathLike, digest: str) -> None:
        """Remember a digest the caller computed from the very bytes it wrote (no re-read)."""
        key = os.fspath(path)
        st = os.stat(key)
        entry = (st.st_size, st.st_mtime_ns, st.st_ino, digest, time.time_ns())
        with self._lock:
            self._load()[key] = entry
            self._dirty[key] = entry

    def forget(self, path: str | os.PathLike) -> None:
        key = os.fspath(path)
        with self._lock:
            self._load().pop(key, None)
            self._dirty[key] = (-1, -1, -1, "", 0)

    def forget_under(self, folder: str | os.PathLike) -> None:
        """Drop every entry below a folder (the store's blobs, which older versions listed here)."""
        prefix = os.fspath(folder).rstrip("/") + "/"
        with self._lock:
            for key in [k for k in self._load() if k.startswith(prefix)]:
                self._entries.pop(key)  # type: ignore[union-attr]
                self._dirty[key] = (-1, -1, -1, "", 0)

    def flush(self) -> None:
        """Write new entries in one transaction. The table only saves work: when it cannot be
        written (disk full, read-only store) the entries are dropped and flush_error says why."""
        with self._lock:
            dirty, self._dirty = self._dirty, {}
        if not dirty:
            return
        try:
            self._write(dirty)
            self.flush_error = None
        except (sqlite3.Error, OSError) as e:
            self.flush_error = str(e)

    def _write(self, dirty: dict[str, tuple[int, int, int, str, int]]) -> None:
        con = self._connect()
        try:
            with con:
                con.executemany(
                    "INSERT OR REPLACE INTO stat VALUES (?,?,?,?,?,?)",
                    [(k, *v) for k, v in dirty.items() if v[0] >= 0],
                )
                con.executemany(
                    "DELETE FROM stat WHERE path=?", [(k,) for k, v in dirty.items() if v[0] < 0]
                )
        finally:
            con.close()
