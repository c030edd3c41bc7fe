"""Rendered images → the artifact: PNGs with metadata, JSON sidecars, album.csv, contact sheet."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from ...core.artifact import Artifact
from ...core.hashing import digest_json
from ...core.kind import BuildContext
from ...media.album import ALBUM_VERSION, AlbumImage, patched_jsonl
from ...media.contact import MAX_ITEMS, contact_sheet, sheet_key
from .pngmeta import with_metadata
from .render import ImageJob, Rendered, Settings


def shared_params(s: Settings, model_sha256: str | None = None) -> dict[str, Any]:
    """What every image of the build shares, made once: hashing the model identity per image
    was a tenth of a 20,000-image rebuild."""
    return {"steps": s.steps, "guidance": s.guidance, "scheduler": s.scheduler, "width": s.width,
            "height": s.height, "model": s.model_name, "model_hash": digest_json(s.model_identity),
            "model_identity": s.model_identity, "model_sha256": model_sha256,
            "loras": [lo.record() for lo in s.stack]}


def own_params(job: ImageJob) -> dict[str, Any]:
    """What is the image's own."""
    return {"prompt": job.prompt, "negative": job.negative, "seed": job.seed, "row": job.row,
            "row_index": job.row_index, "variations": job.variations, "copy": job.copy}


def image_params(own: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    """Everything that made one image, as it goes into the PNG, the sidecar and the album."""
    return {"prompt": own["prompt"], "negative": own["negative"], "seed": own["seed"], **shared,
            "row": own["row"], "row_index": own["row_index"], "variations": own["variations"], "copy": own["copy"]}


# bump when with_metadata or the sidecar change (2: keyed by own and shared parameters)
FINAL_NS, FINAL_VERSION = "generation.final", "2"


def image_record(target: str, job: ImageJob, s: Settings, digest: str, phash: str) -> dict[str, Any]:
    """An image's album record (the patch compares the last build's with this)."""
    return AlbumImage(
        digest=digest, path=f"images/{job.stem}.png", width=s.width, height=s.height, format="png",
        origin=f"generation:{target}", phash=phash, caption=job.prompt,
        captions=[{"text": job.prompt, "origin": "prompt"}],
        extra={"row": job.row, "row_index": job.row_index, "variations": job.variations, "seed": job.seed,
               "prompt": job.prompt, "negative": job.negative, "copy": job.copy},
    ).to_dict()


def generation_meta(s: Settings) -> dict[str, Any]:
    return {"model": s.model_name, "model_identity": s.model_identity, "loras": [lo.record() for lo in s.stack],
            "size": [s.width, s.height], "steps": s.steps, "guidance": s.guidance, "scheduler": s.scheduler}


@dataclass(frozen=True)
class Kept:
    """An image the last build made as this one would (see patch.py): its place in that
    build's album, its record and its JSON sidecar's blob."""

    index: int
    record: dict[str, Any]
    sidecar: str


def build_artifact(ctx: BuildContext, jobs: list[ImageJob], s: Settings, shared: dict[str, Any], rendered: Rendered,
                   kept: dict[str, Kept] | None = None, old_jsonl: tuple[int, bytes | None] = (0, None)) -> Artifact:
    """The album of every job: the kept ones (by stem) as the last build made them, the others
    from what rendered; old_jsonl: (record count, bytes) of the last album.jsonl, whose kept
    lines are copied."""
    kept = kept or {}
    files: dict[str, str] = {}
    records: list[dict[str, Any]] = []
    reused: list[int | None] = []
    failed: list[dict[str, Any]] = []
    sheet: list[tuple[str, str]] = []
    table: list[dict[str, Any]] = []
    finals = _finals(ctx, [job for job in jobs if job.stem not in kept and job.memo_key in rendered.images],
                     shared, rendered)
    for job in jobs:
        path = f"images/{job.stem}.png"
        if job.stem in kept:
            k = kept[job.stem]
            rec, sidecar = k.record, k.sidecar
            reused.append(k.index)
        elif job.memo_key in rendered.images:
            digest, sidecar = finals[job.memo_key]
            rec = image_record(ctx.target, job, s, digest, rendered.images[job.memo_key][1].get("phash", ""))
            reused.append(None)
        else:
            failed.append({"path": path, "reason": rendered.failed.get(job.memo_key, "not generated"),
                           "prompt": job.prompt, "seed": job.seed})
            continue
        files[path] = rec["digest"]
        files[f"images/{job.stem}.json"] = sidecar
        records.append(rec)
        sheet.append((rec["digest"], job.stem))
        table.append({"file": path, "seed": job.seed, **job.row, **job.variations, "prompt": job.prompt})
    for f in failed:
        ctx.log(f"not generated: {f['path']}: {f['reason']}", "warning")
    if not records and jobs:
        raise RuntimeError(f"no image could be generated; first failure: {failed[0]['reason']}")
    if records:
        thumb = min(160, max(s.width, s.height))
        shown = [(ctx.blob_path(d), stem) for d, stem in sheet[:MAX_ITEMS]]  # only the shown ones are looked up
        files["contact.png"] = ctx.memo_blob("media.contact", sheet_key(shown, thumb=thumb),
                                             lambda: contact_sheet(shown, thumb=thumb))
        files["album.csv"] = ctx.put_bytes(_csv(table))
        files["album.jsonl"] = ctx.put_bytes(patched_jsonl(records, reused, *old_jsonl))
    meta = {"album": {"version": ALBUM_VERSION, "images": records}, "report": {"failed": failed},
            "generation": generation_meta(s)}
    return Artifact(files=files, meta=meta, facts={"images": len(records), "failed": len(failed)})


def _finals(ctx: BuildContext, done: list[ImageJob], shared: dict[str, Any],
            rendered: Rendered) -> dict[str, tuple[str, str]]:
    """memo key → (PNG with metadata, JSON sidecar) blobs, made once per rendered image and
    parameters: re-reading, re-tagging and re-storing 20,000 PNGs was most of a rebuild that
    added one CSV row. The shared parameters are encoded into the keys once."""
    memo = ctx.memo(FINAL_NS)
    own = {job.memo_key: own_params(job) for job in done}
    keys = dict(zip((job.memo_key for job in done), memo.keys_of(
        ([rendered.images[job.memo_key][0], own[job.memo_key], job.stem] for job in done),
        before=[FINAL_VERSION], after=[shared]), strict=True))
    found = {k: v for k, (v, _) in memo.get_many(set(keys.values())).items()
             if isinstance(v, dict) and isinstance(v.get("png"), str) and isinstance(v.get("json"), str)}
    present = ctx.has_blobs(d for v in found.values() for d in (v["png"], v["json"]))
    out: dict[str, tuple[str, str]] = {}
    with memo.batch() as remember:
        for job in done:
            value = found.get(keys[job.memo_key])
            if value is not None and value["png"] in present and value["json"] in present:
                out[job.memo_key] = (value["png"], value["json"])
                continue
            p = image_params(own[job.memo_key], shared)
            png = ctx.put_bytes(with_metadata(ctx.blob_path(rendered.images[job.memo_key][0]).read_bytes(), p))
            sidecar = ctx.put_bytes(
                json.dumps({"file": f"{job.stem}.png", **p}, indent=2, sort_keys=True, ensure_ascii=False).encode())
            out[job.memo_key] = (png, sidecar)
            remember(keys[job.memo_key], {"png": png, "json": sidecar})
            ctx.check_cancelled()
    return out


def _csv(table: list[dict[str, Any]]) -> bytes:
    """One line per image with its row and variation values: sort and filter in a spreadsheet."""
    columns: list[str] = []
    for rec in table:
        for k in rec:
            if k not in columns:
                columns.append(k)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")  # what DictWriter writes, without its per-row checks
    w.writerow(columns)
    w.writerows([rec.get(c, "") for c in columns] for rec in table)
    return buf.getvalue().encode("utf-8")
