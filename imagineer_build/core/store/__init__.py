"""The store, in three parts with one job each, behind one object the engine talks to.

- cas.py      LocalCAS: digest → bytes (the only module that knows the blob layout)
- actions.py  LocalActions: key → ActionRecord (the commit point), per-target `last`
- memo.py     LocalMemo: (namespace, key) → small value, optionally naming a blob
- local.py    LocalStore: the three on one disk, plus the build lock, scratch folder and gc
- remote.py   remotes (S3, GCS, a folder, an HTTP cache) speaking the same three maps in batches
- tiered.py   TieredStore: the local store in front of a remote (read through, push on commit)

`open_store(project)` is how the engine, the planner and the CLI get one.
"""

from __future__ import annotations

from .actions import ActionRecord
from .cas import BLOB_MTIME_NS, BlobDamaged, StoreError, is_digest
from .files import atomic_write
from .local import LocalStore

__all__ = ["BLOB_MTIME_NS", "ActionRecord", "BlobDamaged", "LocalStore", "StoreError", "atomic_write",
           "is_digest", "open_store"]


def open_store(project, remote: str | None = None, use_remote: bool = True, **options):
    """The project's store: local, or tiered over the remote from `--remote`, IMAGINEER_REMOTE
    or imagineer.yaml `remote:` (in that order) unless use_remote is False."""
    from .tiered import remote_settings

    cfg = remote_settings(project, remote, **options) if use_remote else None
    if cfg is None:
        return LocalStore(project.store_root)
    from .remote import open_remote
    from .tiered import TieredStore

    return TieredStore(project.store_root, open_remote(cfg["url"], cfg.get("jobs", 16), cfg.get("options") or {}),
                       push=cfg.get("push", False), download=cfg.get("download", "all"))
