"""The item stage: plan images → memo lookup → analyze the missing ones → memo put.

One memo entry per (image digest, Params.identity()): the JSON record of the faces plus their
embeddings as a float32 blob. Trust thresholds and clustering come later, so changing them
re-clusters without detecting anything again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ...core.kind import BuildContext
from .analyze import EMBED_DIM, Params, analyze_job

MEMO = "faces.analyze"
POOL_THRESHOLD = 16  # below this many images to analyze, loading models in workers costs more than it saves


@dataclass
class Detection:
    width: int = 0
    height: int = 0
    faces: list[dict[str, Any]] = field(default_factory=list)
    emb: Any = None  # float32 array, one row per face
    error: str | None = None


def compute(jobs: list[tuple[str, Params]], workers: int = 1) -> Iterator[dict[str, Any]]:
    """analyze_job over (path, params) in order: in this process, or in a pool of workers
    that each load the models once. Depends only on the models and the items."""
    if workers < 2 or len(jobs) < POOL_THRESHOLD:
        yield from map(analyze_job, jobs)
        return
    from ...media.pool import process_pool

    pool = process_pool(workers)
    try:
        yield from pool.map(analyze_job, jobs, chunksize=2)
    finally:  # a cancelled build does not wait for the images nobody will read
        pool.shutdown(wait=True, cancel_futures=True)


def detect_all(ctx: BuildContext, images: list[tuple[str, str]], params: Params,
               progress: Callable[[int, int], None] | None = None) -> dict[str, Detection]:
    """digest → Detection for (digest, path) pairs, analyzing only digests the memo lacks."""
    import numpy as np

    memo = ctx.memo(MEMO)
    ident = params.identity()
    paths = dict(images)
    keys = {d: memo.key(d, ident) for d in paths}
    out: dict[str, Detection] = {}
    for d, (value, blob) in _found(memo, keys).items():
        if blob and not ctx.has_blob(blob):
            continue  # a damaged or collected blob: analyze the image again
        emb = np.frombuffer(ctx.blob_path(blob).read_bytes(), dtype="<f4") if blob else np.zeros(0, "<f4")
        out[d] = Detection(value["width"], value["height"], value["faces"], emb.reshape(-1, EMBED_DIM))
    todo = [d for d in paths if d not in out]
    total, done = len(paths), len(out)
    if progress:
        progress(done, total)
    results = compute([(paths[d], params) for d in todo], ctx.jobs)
    with contextlib.closing(results):
        for d, r in zip(todo, results, strict=True):
            if r["ok"]:
                value = r["value"]
                if value["faces"]:
                    memo.put_bytes(keys[d], r["emb"], value)
                else:
                    memo.put(keys[d], value)
                out[d] = Detection(value["width"], value["height"], value["faces"],
                                   np.frombuffer(r["emb"], dtype="<f4").reshape(-1, EMBED_DIM))
            else:
                out[d] = Detection(error=r["error"])  # not memoised: a fixed install retries it
            done += 1
            if progress:
                progress(done, total)
            ctx.check_cancelled()
    return out


def _found(memo, keys: dict[str, str]) -> dict[str, tuple[Any, str | None]]:
    found = memo.get_many(set(keys.values()))
    return {d: found[k] for d, k in keys.items() if k in found}
