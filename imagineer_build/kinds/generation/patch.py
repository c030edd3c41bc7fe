"""A generation patched from its last build: the images it made as this build would are kept.

Adding a CSV row to 20,000 used to look up 20,000 rendered images and 20,000 finished ones in
the memo, stat 40,000 blobs twice and encode every record again. An image of the last build is
kept when the record a full build would write for it, given that build's PNG digest and pHash,
is the one the last build wrote (same stem, prompt, negative, seed, row, variations, copy, size,
target), its JSON sidecar is in the artifact, and both blobs are intact. The parameters every
image shares are compared once, through the `generation` meta: it holds the model's identity
(with a local checkpoint's digest, of which the file hash in the PNGs is a function), the LoRAs
(digests, weights, web-UI hashes), size, steps, guidance and scheduler.

Why this is the full build's output: an image's final PNG and sidecar are a function of its
rendered PNG and those parameters, and its rendered PNG is the memo's entry for its prompt,
negative, seed and the shared parameters. The one difference: where a render memo entry was lost
and the model is not deterministic (GPU sampling), a full build would draw the image again.
"""

from __future__ import annotations

from typing import Any

from ...core.kind import BuildContext
from ...media.album import ALBUM_VERSION
from .album_out import FINAL_NS, FINAL_VERSION, Kept, generation_meta, image_record, own_params
from .render import MEMO_NS, ImageJob, Settings


def kept_images(ctx: BuildContext, jobs: list[ImageJob], s: Settings) -> dict[str, Kept]:
    """stem → Kept for the jobs the last build made exactly as this one would ({} when there
    is no last build to patch, or it cannot be shown to be the same)."""
    prev = ctx.previous
    if prev is None:
        return {}
    try:
        meta = prev.view.meta
        if meta["album"]["version"] != ALBUM_VERSION or meta["generation"] != generation_meta(s):
            return {}
        old = meta["album"]["images"]
        index = {r["path"]: i for i, r in enumerate(old)}
        files = prev.view.files
        kept: dict[str, Kept] = {}
        for job in jobs:
            i = index.get(f"images/{job.stem}.png")
            if i is None:
                continue
            r = old[i]
            sidecar = files.get(f"images/{job.stem}.json")
            if sidecar and r == image_record(ctx.target, job, s, r["digest"], r["phash"]):
                kept[job.stem] = Kept(i, r, sidecar)
    except (KeyError, TypeError, AttributeError):  # not a generation album this code wrote
        return {}
    if not kept:
        return {}
    present = ctx.has_blobs(d for k in kept.values() for d in (k.record["digest"], k.sidecar))
    return {stem: k for stem, k in kept.items() if k.record["digest"] in present and k.sidecar in present}


def carry_memo(ctx: BuildContext, jobs: list[ImageJob], kept: dict[str, Kept], s: Settings, shared: dict[str, Any]) -> None:
    """Name as used the memo entries a full build would read for the kept images: their
    rendered images (keys from their prompts), and the finished ones the last build used less
    those of the images dropped since (found from their rendered images, without naming those)."""
    if not kept:
        return
    ctx.memo(MEMO_NS).carry(s.memo_keys([j for j in jobs if j.stem in kept]))
    used = {k.index for k in kept.values()}
    old = ctx.previous.view.meta["album"]["images"]
    dropped = [r for i, r in enumerate(old) if i not in used]
    gone: set[str] = set()
    if dropped:
        as_jobs = [j for j in map(_as_job, dropped) if j is not None]
        render_keys = s.memo_keys(as_jobs)
        found = ctx.memo(MEMO_NS).peek_many(render_keys)
        rows = [[found[k][1], own_params(j), j.stem] for j, k in zip(as_jobs, render_keys, strict=True) if k in found]
        gone = set(ctx.memo(FINAL_NS).keys_of(rows, before=[FINAL_VERSION], after=[shared]))
    ctx.memo(FINAL_NS).carry(k for k in ctx.previous.memo_keys(FINAL_NS) if k not in gone)


def _as_job(record: dict[str, Any]) -> ImageJob | None:
    """The job that made a record of the last album (None for a record it cannot be)."""
    try:
        return ImageJob(index=0, stem=record["path"][len("images/"):-len(".png")], **record["extra"])
    except (KeyError, TypeError):
        return None


def last_jsonl(ctx: BuildContext, kept: dict[str, Kept]) -> tuple[int, bytes | None]:
    """(record count, album.jsonl) of the last build, whose kept images' lines are copied."""
    if not kept:
        return 0, None
    return len(ctx.previous.view.meta["album"]["images"]), ctx.previous.read("album.jsonl")
