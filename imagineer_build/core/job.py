"""A target's build as plain data, and the code that runs one anywhere.

A Job holds everything a build needs that is not in the project folder or the store: the
kind's section, the validated config as JSON, the settings, the upstream artifact digests,
the hashed inputs and the key. It pickles, so a worker process or a Ray worker on another
machine can run it against the same store (a shared folder or the remote cache) and answer
with an Outcome: the stored artifact's digest, its facts, and what the build used.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .artifact import ArtifactView
from .kind import BuildContext, FileListing
from .previous import PreviousBuild
from .registry import load_kinds


@dataclass
class Job:
    target: str
    section: str
    config: dict[str, Any]
    settings: dict[str, Any]
    project_root: str
    store: dict[str, Any]  # how to open the store elsewhere: {"root": …, "remote": {...} | None}
    upstream: dict[str, str]  # upstream target → artifact digest
    inputs: dict[str, dict[str, Any]]  # FileListing as data: {path: {"root", "entries", "errors"}}
    key: str
    refresh: bool = False
    preview: bool = False
    verify_upstream: bool = False  # the driver checked them already when it runs in this process
    worker: str = "any"  # "models": a kind that loads models (warm workers keep them)
    shard: tuple[int, int] | None = None  # (i, n): only this share of the items, into the memo
    previous: PreviousBuild | None = None  # the last build, when only the inputs changed since


@dataclass
class Outcome:
    artifact: str | None  # the stored artifact's digest (None: a preview with nothing to show)
    facts: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    memo: dict[str, dict[str, int]] = field(default_factory=dict)  # namespace → hits, misses
    memo_list: str | None = None  # blob naming the memo entries the build used
    only_read: dict[str, list[str]] | None = None  # BuildContext.read_only's: what to check after


def listing_data(listings: dict[str, FileListing]) -> dict[str, dict[str, Any]]:
    return {p: {"root": str(lst.root), "entries": {r: list(v) for r, v in lst.entries.items()},
                "errors": dict(lst.errors)} for p, lst in listings.items()}


def listings_from(data: dict[str, dict[str, Any]]) -> dict[str, FileListing]:
    return {p: FileListing(Path(d["root"]), {r: (v[0], v[1]) for r, v in d["entries"].items()}, dict(d["errors"]))
            for p, d in data.items()}


def run_job(job: Job, store, emit: Callable[[dict[str, Any]], None],
            cancelled: threading.Event | None = None) -> Outcome:
    """Build one target (or its preview) into the store; the caller records it. Raises what
    the kind raises."""
    from .hashing import canonical_json

    kind = load_kinds()[job.section]
    config = kind.Config.model_validate(job.config)
    check_extras(kind, config)
    views: dict[str, ArtifactView] = {u: store.load_artifact(d, verify=job.verify_upstream)
                                      for u, d in job.upstream.items()}
    workdir = Path(tempfile.mkdtemp(dir=store.tmp, prefix=f"{job.target}."))
    inputs = listings_from(job.inputs)
    ctx = BuildContext(
        target=job.target, config=config, project_root=Path(job.project_root), settings=job.settings,
        store=store, upstream=views, inputs=inputs, refresh=job.refresh, emit=emit,
        workdir=workdir, cancelled=cancelled or threading.Event(), shard=job.shard,
        last_build=None if job.shard or job.preview else job.previous,
    )
    for view in views.values():
        ctx.sizes.update(view.sizes)
    try:
        artifact = kind.preview(ctx) if job.preview else kind.build(ctx)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if artifact is None:
        return Outcome(None)
    digest = store.store_artifact(artifact, ctx.sizes)
    used = {ns: sorted(m.used) for ns, m in sorted(ctx.memos.items()) if m.used}
    run = dict(artifact.run)
    why = kind.nondeterminism(config, job.settings)  # asked here: it depends on this machine's device
    if why:
        run["nondeterministic"] = why
    return Outcome(
        artifact=digest, facts=artifact.facts, run=run,
        memo={ns: {"hits": m.hits, "misses": m.misses} for ns, m in ctx.memos.items()},
        memo_list=store.put_bytes(canonical_json(used)) if used else None, only_read=ctx.only_read,
    )


class MissingExtra(Exception):
    pass


def check_extras(kind, config) -> None:
    """MissingExtra naming the pip extra when a library the target needs is not installed."""
    import importlib.util

    for module, extra, feature in kind.needs(config):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise MissingExtra(f"{feature} needs the '{extra}' extra (the {module} module is not installed): "
                               f"pip install 'imagineer-build[{extra}]'")
