"""A project snapshot: say "everything is fresh" without loading the project.

Loading a project (YAML, pydantic, every kind's config model and checks) is most of a no-op
build's fixed cost. After a full load, the part of each target's key that the load decides
(kind, version, config, settings, model identity) is saved with everything that decided it;
the next `build` or `status` recomputes only what a build reads (file listings, upstream
artifacts, the allowed environment) and compares the keys with the lock's.

A snapshot may only ever answer "every target is fresh, the selected ones' cache entries
intact and out views current". Anything else (a key that differs, a missing record or blob,
an out view to patch, an input the loader would refuse, a lock that changed, another build
holding the store) returns None, and the caller loads the project and builds as if there
were no snapshot. So a wrong snapshot can cost time, never a wrong result, provided it is
invalidated whenever the load could decide differently. It is, when any of these changed:

- the bytes of imagineer.yaml or of any file in specs/ (and the list of those files);
- the code: every module file loaded when the snapshot was made (size, mtime), and the
  folders on sys.path but the project's own (a package installed or removed changes its
  folder);
- the interpreter, sys.path, the machine type, HOME, every IMAGINEER_* variable, and what
  the caller says about the process (the CPU kernels it pinned);
- any answer a kind got from `core.probes.path_exists` (a model name that is a local folder
  today and a hub id tomorrow), where each file input's path resolves to, and where the
  store and the out folder resolve to;
- imagineer.lock's bytes (the snapshot holds the keys and artifacts the lock named).

It is made only by a full build that succeeded (its lock just written), of a project with
neither a remote cache nor a Ray executor, and not when a spec file changed while the
project loaded or a code file after the command started (the load may have read other bytes
than those hashed). It answers only when every target of the project is fresh, even for a
build of a few named ones: a full load checks every target's inputs and reports a broken one.

Snapshots live in the user's cache folder ($XDG_CACHE_HOME or ~/.cache, then
imagineer-build/snapshots/), one per project folder; IMAGINEER_SNAPSHOTS names another
folder, or `off`. They are never part of a key, an artifact or the store, and deleting one
costs one slow no-op.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import sys
import time
from pathlib import Path
from typing import Any

from .files import file_problem, list_input, listing_key, out_folder, read_regular, store_folder
from .hashing import digest_bytes, digest_json
from .inputs import FileInput, FileListing
from .keys import key_inputs, key_of
from .result import Result, built_at

FORMAT = 3
LOCK_FILE = "imagineer.lock"
SPEC_SUFFIXES = (".yaml", ".yml")
MAX_READ = 16 << 20  # a spec or lock larger than this is not one the loader would take either


def snapshot_file(root: Path) -> Path | None:
    """Where the snapshot of the project at `root` is kept; None when snapshots are off."""
    where = os.environ.get("IMAGINEER_SNAPSHOTS", "").strip()
    if where == "off":
        return None
    if not where:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        where = os.path.join(base, "imagineer-build", "snapshots")
    return Path(where) / f"{digest_bytes(os.fsencode(root))}.snap"


def _fingerprint(root: Path, context: Any) -> str:
    """What the load depends on outside the project: hashed, since the environment can hold
    secrets (IMAGINEER_REMOTE_TOKEN) and a snapshot must not."""
    env = sorted([k, v] for k, v in os.environ.items() if k.startswith("IMAGINEER_") or k == "HOME")
    return digest_json([os.fsdecode(root), sys.version, sys.executable, sys.path, os.uname().machine, env, context])


def _spec_files(root: Path) -> list[str]:
    return ["imagineer.yaml", *(f"specs/{n}" for n in sorted(os.listdir(root / "specs")) if n.endswith(SPEC_SUFFIXES))]


def _spec_digests(root: Path) -> dict[str, str] | None:
    """imagineer.yaml and every specs/ file a load could read → digest of its bytes."""
    try:
        return {rel: digest_bytes(read_regular(root / rel, MAX_READ)) for rel in _spec_files(root)}
    except (OSError, ValueError):
        return None


def _lock_state(root: Path) -> tuple[str, bytes] | None:
    try:
        data = read_regular(root / LOCK_FILE, MAX_READ)
    except (OSError, ValueError):
        return None
    return digest_bytes(data), data


def _code_files() -> list[tuple[str, int, int]]:
    out = []
    for mod in list(sys.modules.values()):
        path = getattr(mod, "__file__", None)
        if isinstance(path, str):
            with contextlib.suppress(OSError):
                st = os.stat(path)
                out.append((path, st.st_mtime_ns, st.st_size))
    return sorted(set(out))


def _path_dirs(root: Path) -> list[tuple[str, int]]:
    """sys.path folders and their mtimes (a package installed or removed changes them), except
    the project folder itself (`python -m` puts the working folder first), which every build
    writes its lock to."""
    out = []
    for d in sys.path:
        real = os.path.realpath(d or ".")
        if real != str(root):
            with contextlib.suppress(OSError):
                out.append((d, os.stat(real).st_mtime_ns))
    return out


def _realpath(root: Path, path: str) -> str:
    return os.path.realpath(root / path)


def _folders(root: Path, cache: str, out: str) -> list[str]:
    return [str(store_folder(root, cache)), str(out_folder(root, out))]


# ---- making one (after a full load) ------------------------------------------------------------

def begin(root: Path) -> dict[str, Any]:
    """Taken before a full load: what prepare() compares, so a spec or code file edited while
    the project was loading never pairs its new bytes with keys made from the old ones."""
    return {"ns": time.time_ns(), "specs": _spec_digests(root)}


def prepare(project, settings: dict[str, Any], began: dict[str, Any], context: Any = None) -> dict[str, Any] | None:
    """What a snapshot of a just-loaded project holds, before its build; None when it must not
    have one. Call right after the load: the code files are the modules loaded by then (a
    build imports far more, none of which decides a key). `began`: begin() before the load;
    `context`: what the caller knows that keys depend on (compared as is)."""
    from .keys import static_inputs
    from .probes import recording

    root = project.root
    if project.settings.executor.kind != "local":  # a full build asks the cluster first
        return None
    specs = _spec_digests(root)
    code = _code_files()
    if specs is None or specs != began["specs"] or any(mtime > began["ns"] for _, mtime, _ in code):
        return None
    targets: dict[str, Any] = {}
    with recording() as probes:
        for name, t in project.targets.items():
            files = t.kind.files(t.config) + t.kind.settings_files(t.config, settings)
            if files != t.files:
                return None
            targets[name] = {
                "refs": list(dict.fromkeys(r.target for r in t.refs)),
                "files": [(fi.path, fi.suffixes, fi.want, fi.follow_links) for fi in files],
                "env": list(t.kind.env_allowlist),
                "static": static_inputs(t, settings),
            }
    cache, out = project.settings.cache, project.settings.out
    return {
        "format": FORMAT, "fingerprint": _fingerprint(root, context), "specs": specs,
        "code": code, "dirs": _path_dirs(root), "probes": probes,
        "realpaths": sorted({(fi[0], _realpath(root, fi[0])) for t in targets.values() for fi in t["files"]}),
        "settings": [cache, out], "folders": _folders(root, cache, out), "targets": targets,
    }


def save(data: dict[str, Any] | None, root: Path) -> None:
    """Write a prepared snapshot with the lock a successful build just wrote. Never fails a
    command: a snapshot that cannot be written is a slower next no-op."""
    path = snapshot_file(root)
    if data is None or path is None:
        return
    state = _lock_state(root)
    if state is None:
        return
    from .lockfile import LockError, parse_lock

    try:
        lock = parse_lock(root / LOCK_FILE, state[1].decode("utf-8"))
    except (LockError, UnicodeDecodeError):
        return
    if set(lock) != set(data["targets"]):
        return  # a target never built (or one the lock should drop): not all fresh
    data = {**data, "lock": state[0], "locked": lock}
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp.write_bytes(marshal.dumps(data))
        os.replace(tmp, path)
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            tmp.unlink()


# ---- using one ---------------------------------------------------------------------------------

def load(root: Path, context: Any = None) -> dict[str, Any] | None:
    """The project's snapshot if nothing that decided it has changed, else None. The lock
    is left to the caller, which checks it once, where it needs it (under the build lock)."""
    path = snapshot_file(root)
    if path is None:
        return None
    try:
        data = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    try:
        return data if _still_valid(data, root, context) else None
    except (KeyError, TypeError, ValueError, IndexError):  # a damaged snapshot
        return None


def _still_valid(data: Any, root: Path, context: Any) -> bool:
    if not isinstance(data, dict) or data.get("format") != FORMAT or "lock" not in data:
        return False
    if data["fingerprint"] != _fingerprint(root, context) or data["dirs"] != _path_dirs(root):
        return False
    for file, mtime, size in data["code"]:
        try:
            st = os.stat(file)
        except OSError:
            return False
        if st.st_mtime_ns != mtime or st.st_size != size:
            return False
    if data["specs"] != _spec_digests(root) or data["folders"] != _folders(root, *data["settings"]):
        return False
    from .probes import unchanged

    if not unchanged(data["probes"]):
        return False
    return all(_realpath(root, p) == real for p, real in data["realpaths"])


def _lock_unchanged(data: dict[str, Any], root: Path) -> bool:
    state = _lock_state(root)
    return state is not None and state[0] == data["lock"]


def fresh_build(root: Path, names: list[str], context: Any = None,
                listed: dict[tuple, FileListing] | None = None) -> tuple[dict[str, Result], Path] | None:
    """A no-op build from the snapshot: (every selected target's "cached" Result, the out
    folder), or None when any target needs the full build. Holds the store's build lock, and
    gives up rather than wait for it. The file inputs it listed are put in `listed` (see
    Planner), so the full build that follows a miss does not walk them again."""
    from .store import LocalStore, StoreError

    snap = load(root, context)
    if snap is None:
        return None
    try:
        store = LocalStore(Path(snap["folders"][0]))
        with store.build_lock("imagineer build", wait=False):
            if not _lock_unchanged(snap, root):  # checked here: another build may write it
                return None
            store.clean_tmp()
            results = _fresh(snap, root, names, store, check_outputs=True, listed=listed)
    except (StoreError, OSError, KeyError, TypeError, ValueError):  # ValueError: a damaged snapshot
        return None
    return (results, Path(snap["folders"][1])) if results is not None else None


def fresh_status(root: Path, names: list[str], context: Any = None,
                 listed: dict[tuple, FileListing] | None = None) -> dict[str, Result] | None:
    """`status` from the snapshot when every target is fresh; None otherwise (`listed` as for
    fresh_build)."""
    from .store import LocalStore, StoreError

    snap = load(root, context)
    if snap is None:
        return None
    try:
        if not _lock_unchanged(snap, root):
            return None
        store = LocalStore(Path(snap["folders"][0]))
        results = _fresh(snap, root, names, store, check_outputs=False, listed=listed)
    except (StoreError, OSError, KeyError, TypeError, ValueError):  # ValueError: a damaged snapshot
        return None
    if results is not None:
        store.stat.flush()
    return results


def _fresh(snap: dict[str, Any], root: Path, names: list[str], store, check_outputs: bool,
           listed: dict[tuple, FileListing] | None = None) -> dict[str, Result] | None:
    """The selected targets' Results when every target's key is the lock's and its record is
    in the local store (with check_outputs, for the selected ones: blobs intact, out view
    current); None as soon as one is not, having changed nothing but the stat cache in memory.
    Every target, not only the selected ones: a full load checks every target's inputs."""
    from .graph import build_graph, closure
    from .lockfile import lock_entry
    from .outview import current_digest
    from .store import BlobDamaged, StoreError

    targets = snap["targets"]
    if not targets or any(n not in targets for n in names):  # the full path says what is wrong
        return None
    graph = build_graph({n: t["refs"] for n, t in targets.items()})
    order = closure(graph, targets)
    chosen = set(closure(graph, names)) if names else set(order)
    out_root = Path(snap["folders"][1])
    artifacts: dict[str, str] = {}
    results: dict[str, Result] = {}
    for name in order:
        start = time.perf_counter()
        t = targets[name]
        locked = snap["locked"][name]
        listings = {}
        for path, suffixes, want, follow in t["files"]:
            if file_problem(root / path, want) is not None:  # the load would report it
                return None
            fi = FileInput(path, (), tuple(suffixes) if suffixes is not None else None, want, follow)
            listings[path] = list_input(root, fi, store.stat)
            if listed is not None:
                listed[listing_key(fi)] = listings[path]
        key = key_of(key_inputs(t["static"], {r: artifacts[r] for r in t["refs"]}, listings, t["env"]))
        rec = store.actions.get(key) if key == locked.get("key") else None
        if rec is None or locked != lock_entry(t["static"]["kind"], key, rec.artifact, rec.facts, rec.run):
            return None  # stale, or a build would write another lock entry
        artifacts[name] = rec.artifact
        if name not in chosen:
            continue
        if not check_outputs:
            results[name] = Result(name, "fresh", key=key, artifact=rec.artifact, facts=rec.facts,
                                   reason=[built_at(rec.created)])
            continue
        try:
            view = store.load_artifact(rec.artifact)
        except (BlobDamaged, StoreError, ValueError, KeyError, TypeError):
            return None
        if current_digest(out_root / name) != rec.artifact:
            return None
        results[name] = Result(name, "cached", time.perf_counter() - start, key, rec.artifact, view.size,
                               rec.facts, run=rec.run)
    return results
