"""The item memo: namespaced results of one item's work (a probe, a caption, a latent, an image),
each a small JSON value that may name a CAS blob. SQLite, one connection per thread."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..hashing import json_encoder

Entry = tuple[Any, str | None]  # (value, blob digest)


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


_value_json = json_encoder(sort_keys=True, separators=(", ", ": "), ensure_ascii=True, allow_nan=True)  # json.dumps(v, sort_keys=True)


class LocalMemo:
    def __init__(self, db_path: Path):
        self.db_path = db_path
        self._local = threading.local()
        self._open_lock = threading.Lock()

    def _db(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            # Switching a fresh database to WAL fails at once ("database is locked", no busy
            # wait) when another thread does the same, so connections are opened one at a time.
            with self._open_lock:
                con = sqlite3.connect(self.db_path, timeout=60, check_same_thread=False)
                enable_wal(con)
                with con:
                    con.execute("CREATE TABLE IF NOT EXISTS memo (ns TEXT, key TEXT, value TEXT, blob TEXT,"
                                " used INT, PRIMARY KEY (ns, key))")
            self._local.con = con
        return con

    def get_many(self, ns: str, keys: Iterable[str]) -> dict[str, Entry]:
        """{key: (value, blob digest)} for the keys present (blobs are not checked here).

        One query over a JSON array of the keys (json_each, walked first so each key is an
        index lookup), and one json.loads for all values: a source of 10,000 images asks for
        10,000 probes on every rebuild, and `IN (?,…)` batches took 0.14 s of it."""
        con = self._db()
        keys = list(keys)
        if not keys:
            return {}
        try:
            rows = con.execute("SELECT m.key, m.value, m.blob FROM json_each(?) AS j CROSS JOIN memo AS m"
                               " WHERE m.ns=? AND m.key=j.value", (json.dumps(keys), ns)).fetchall()
        except sqlite3.OperationalError:  # an SQLite built without JSON functions
            rows = []
            for i in range(0, len(keys), 500):
                part = keys[i:i + 500]
                q = f"SELECT key, value, blob FROM memo WHERE ns=? AND key IN ({','.join('?' * len(part))})"
                rows += con.execute(q, [ns, *part]).fetchall()
        values = iter(json.loads("[" + ",".join(v for _, v, _ in rows if v is not None) + "]"))
        return {k: (next(values) if v is not None else None, b) for k, v, b in rows}

    def put(self, ns: str, key: str, value: Any = None, blob: str | None = None) -> None:
        self.put_many(ns, {key: (value, blob)})

    def put_many(self, ns: str, entries: dict[str, Entry]) -> None:
        now = int(time.time())
        rows = [(ns, k, None if v is None else _value_json(v), b, now) for k, (v, b) in entries.items()]
        with self._db() as con:
            con.executemany("INSERT OR REPLACE INTO memo VALUES (?,?,?,?,?)", rows)

    def blobs(self) -> set[str]:
        return {r[0] for r in self._db().execute("SELECT blob FROM memo WHERE blob IS NOT NULL")}

    def with_blobs_oldest_first(self) -> list[tuple[str, str, str]]:
        """(namespace, key, blob) of entries naming a blob, least recently written first (gc)."""
        return self._db().execute("SELECT ns, key, blob FROM memo WHERE blob IS NOT NULL ORDER BY used").fetchall()

    def delete(self, pairs: Iterable[tuple[str, str]]) -> None:
        with self._db() as con:
            con.executemany("DELETE FROM memo WHERE ns=? AND key=?", list(pairs))

    def delete_naming(self, blobs: Iterable[str]) -> None:
        with self._db() as con:
            con.executemany("DELETE FROM memo WHERE blob=?", [(d,) for d in blobs])


def encode_entry(value: Any, blob: str | None) -> bytes:
    """A memo entry as bytes for a remote: {"blob": …, "value": …}, sorted, compact."""
    return json.dumps({"blob": blob, "value": value}, sort_keys=True, separators=(",", ":")).encode()


def decode_entry(data: bytes) -> Entry:
    """ValueError unless the bytes are an entry a remote could honestly have written."""
    from .cas import is_digest

    d = json.loads(data)
    if not isinstance(d, dict) or set(d) != {"blob", "value"}:
        raise ValueError("not a memo entry")
    blob = d["blob"]
    if blob is not None and not (isinstance(blob, str) and is_digest(blob)):
        raise ValueError("a memo entry names something that is not a digest")
    return d["value"], blob
