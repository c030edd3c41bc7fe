"""Warm workers: processes that keep models loaded between builds.

A build that runs a model-heavy job (a kind that takes a `gpu` slot) hands it to a worker
process instead of a thread. The worker outlives the build: the next build of the same store
finds it through its socket and skips the seconds of importing torch and loading pipelines.
Workers are keyed by a fingerprint of the code and environment they were started with; one
that does not match the caller's is stopped and replaced, never reused. A worker leaves after
`idle` seconds without a job (default 10 min) or on `imagineer workers stop`.

Wire protocol: length-prefixed pickles over a Unix socket. The client sends
{"op": "run", "job": Job}; the worker answers with {"event": …} messages while the job runs
and one {"outcome": Outcome} or {"error": message}. {"op": "info"} and {"op": "stop"} too.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from ..job import Job, Outcome

# Variables that say nothing about a build (they differ between two terminals of one person).
VOLATILE = ("PWD", "OLDPWD", "SHLVL", "_", "COLUMNS", "LINES", "TERM", "COLORTERM", "DISPLAY", "WINDOWID",
            "LS_COLORS", "PS1", "PROMPT_COMMAND", "HISTFILE", "STY", "SSH_TTY", "SSH_CLIENT", "SSH_CONNECTION",
            "TMUX", "TMUX_PANE", "XDG_SESSION_ID", "XDG_VTNR", "OLDPWD", "MAIL", "LOGNAME", "IMAGINEER_WORKER_IDLE")
START_TIMEOUT = 60.0


class WorkerError(Exception):
    pass


# ---- framing -----------------------------------------------------------------------------

def send(sock: socket.socket, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(struct.pack("!Q", len(data)) + data)


def recv(sock: socket.socket) -> Any:
    head = _exactly(sock, 8)
    return pickle.loads(_exactly(sock, struct.unpack("!Q", head)[0]))


def _exactly(sock: socket.socket, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            raise ConnectionError("the worker closed the connection")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


# ---- where workers are -------------------------------------------------------------------

def fingerprint() -> str:
    """The code and environment a worker runs with: the interpreter, every installed module of
    this package (path, size, mtime), and the environment variables that change a build."""
    import imagineer_build

    h = hashlib.blake2b(digest_size=16)
    h.update(f"{sys.executable}\n{sys.version}\n".encode())
    root = Path(imagineer_build.__file__).parent
    for p in sorted(root.rglob("*.py")):
        st = p.stat()
        h.update(f"{p.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    for k in sorted(os.environ):
        if k not in VOLATILE and not k.startswith(("TERM_", "LC_", "XDG_", "SSH_", "GPG_", "DBUS_")):
            h.update(f"{k}={os.environ[k]}\n".encode())
    return h.hexdigest()


def runtime_dir() -> Path:
    """Short paths for sockets (a Unix socket path must stay under ~100 characters)."""
    base = os.environ.get("IMAGINEER_RUNTIME_DIR") or os.path.join(tempfile.gettempdir(), f"imagineer-{os.getuid()}")
    Path(base).mkdir(mode=0o700, parents=True, exist_ok=True)
    return Path(base)


def registry(store_root: Path) -> Path:
    """<store>/workers/: one JSON record per worker of this store (pid, socket, fingerprint)."""
    d = Path(store_root) / "workers"
    d.mkdir(parents=True, exist_ok=True)
    return d


def socket_path(store_root: Path, fp: str) -> Path:
    tag = hashlib.blake2b(f"{Path(store_root).resolve()}|{fp}".encode(), digest_size=8).hexdigest()
    return runtime_dir() / f"w-{tag}.sock"


def connect(path: Path, timeout: float | None = None) -> socket.socket | None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(path))
        s.settimeout(None)
        return s
    except OSError:
        s.close()
        return None


def known(store_root: Path) -> list[dict[str, Any]]:
    """The workers this store has a record of, each with what it says about itself (or None)."""
    out = []
    for rec_path in sorted(registry(store_root).glob("*.json")):
        try:
            rec = json.loads(rec_path.read_text())
        except (OSError, ValueError):
            continue
        rec["record"] = str(rec_path)
        rec["info"] = ask(Path(rec["socket"]), {"op": "info"})
        out.append(rec)
    return out


def ask(path: Path, message: dict[str, Any], timeout: float = 5.0) -> Any:
    s = connect(path, timeout)
    if s is None:
        return None
    try:
        s.settimeout(timeout)
        send(s, message)
        return recv(s)
    except (OSError, ConnectionError, EOFError, pickle.UnpicklingError):
        return None
    finally:
        s.close()


def stop_all(store_root: Path) -> list[int]:
    """Stop every worker of this store; returns their pids. Records of dead ones are removed."""
    pids = []
    for rec in known(store_root):
        if rec["info"] is not None:
            ask(Path(rec["socket"]), {"op": "stop"})
            pids.append(rec["pid"])
        _wait_gone(rec["pid"])
        with _suppress():
            Path(rec["record"]).unlink()
    return pids


def _wait_gone(pid: int, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            return
        time.sleep(0.05)
    with _suppress():
        os.kill(pid, 9)


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        return exc[0] is not None and issubclass(exc[0], OSError)


# ---- the executor ------------------------------------------------------------------------

class WorkerExecutor:
    """Model-heavy jobs go to a warm worker of this store; the rest run in local threads."""

    def __init__(self, local, store_root: Path, idle: float, emit_log):
        self.local = local
        self.store_root = Path(store_root)
        self.idle = idle
        self.log = emit_log
        self.fp = fingerprint()
        self._lock = threading.Lock()

    def capacity(self) -> dict[str, int]:
        return self.local.capacity()

    def submit(self, job: Job, resources: dict[str, int], emit: Any) -> Future[Outcome]:
        if job.worker != "models":
            return self.local.submit(job, resources, emit)
        fut: Future[Outcome] = Future()
        try:
            fut.set_result(self._run(job, emit))
        except BaseException as e:  # noqa: BLE001 — handed over through the future
            fut.set_exception(e)
        return fut

    def shutdown(self, wait: bool = True) -> None:
        self.local.shutdown(wait)

    def _run(self, job: Job, emit) -> Outcome:
        last_error = ""
        for attempt in range(2):  # a worker that dies mid-job: once more in a fresh one
            sock = self._worker(fresh=attempt > 0)
            try:
                send(sock, {"op": "run", "job": job})
                while True:
                    msg = recv(sock)
                    if "event" in msg:
                        emit(msg["event"])
                    elif "outcome" in msg:
                        return msg["outcome"]
                    else:
                        raise WorkerError(msg.get("error", "the worker failed"))
            except (ConnectionError, EOFError, OSError, pickle.UnpicklingError) as e:
                last_error = f"{type(e).__name__}: {e}"
                self.log(f"the warm worker died during {job.target} ({last_error})"
                         + ("; retrying in a fresh worker" if attempt == 0 else ""))
            finally:
                sock.close()
        tail = self._log_tail()
        raise WorkerError(f"the warm worker died twice running {job.target}; its last output:\n  "
                          + ("\n  ".join(tail) or last_error))

    def _worker(self, fresh: bool) -> socket.socket:
        """A connection to this store's warm worker, starting one when there is none (or when
        `fresh`: the last one died); workers with another fingerprint are stopped first."""
        with self._lock:
            path = socket_path(self.store_root, self.fp)
            if not fresh:
                sock = connect(path)
                if sock is not None:
                    return sock
            for rec in known(self.store_root):  # old code, old environment, or dead: replaced
                if rec.get("fingerprint") != self.fp or fresh or rec["info"] is None:
                    if rec["info"] is not None:
                        ask(Path(rec["socket"]), {"op": "stop"})
                    _wait_gone(rec["pid"], 2.0)
                    with _suppress():
                        Path(rec["record"]).unlink()
            return self._start(path)

    def _start(self, path: Path) -> socket.socket:
        with _suppress():
            path.unlink()
        log_path = registry(self.store_root) / f"{self.fp[:16]}.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "imagineer_build.core.executors.worker_main", "--socket", str(path),
                 "--idle", str(self.idle)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=str(self.store_root))
        record = {"pid": proc.pid, "socket": str(path), "fingerprint": self.fp, "log": str(log_path),
                  "started": time.time()}
        (registry(self.store_root) / f"{self.fp[:16]}-{proc.pid}.json").write_text(json.dumps(record))
        self.log(f"started a warm worker (pid {proc.pid}); later builds reuse it")
        end = time.monotonic() + START_TIMEOUT
        while time.monotonic() < end:
            sock = connect(path)
            if sock is not None:
                return sock
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        raise WorkerError("the warm worker did not start; its output:\n  " + "\n  ".join(self._log_tail()))

    def _log_tail(self, n: int = 15) -> list[str]:
        try:
            lines = (registry(self.store_root) / f"{self.fp[:16]}.log").read_text(errors="replace").splitlines()
        except OSError:
            return []
        return lines[-n:]
