"""Rendered images → the artifact: PNGs with metadata, JSON sidecars, album.csv, contact sheet."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from ...core.artifact import Artifact
from ...core.hashing import digest_json
from ...core.kind import BuildContext
from ...media.album import Album, AlbumImage, manifest_files
from ...media.contact import contact_sheet, sheet_key
from .pngmeta import with_metadata
from .render import ImageJob, Rendered, Settings
from .webui import checkpoint_sha256


def image_params(job: ImageJob, s: Settings, model_sha256: str | None = None) -> dict[str, Any]:
    """Everything that made one image, as it goes into the PNG, the sidecar and the album."""
    return {
        "prompt": job.prompt, "negative": job.negative, "seed": job.seed, "steps": s.steps,
        "guidance": s.guidance, "scheduler": s.scheduler, "width": s.width, "height": s.height,
        "model": s.model_name, "model_hash": digest_json(s.model_identity), "model_identity": s.model_identity,
        "model_sha256": model_sha256,
        "loras": [lo.record() for lo in s.stack], "row": job.row, "row_index": job.row_index,
        "variations": job.variations, "copy": job.copy,
    }


def build_artifact(ctx: BuildContext, jobs: list[ImageJob], s: Settings, rendered: Rendered) -> Artifact:
    files: dict[str, str] = {}
    images: list[AlbumImage] = []
    failed: list[dict[str, Any]] = []
    sheet: list[tuple[Any, str]] = []
    table: list[dict[str, Any]] = []
    model_sha256 = checkpoint_sha256(ctx, s.model_spec)
    for job in jobs:
        if job.memo_key not in rendered.images:
            failed.append({"path": f"images/{job.stem}.png", "reason": rendered.failed.get(job.memo_key, "not generated"),
                           "prompt": job.prompt, "seed": job.seed})
            continue
        blob, info = rendered.images[job.memo_key]
        params = image_params(job, s, model_sha256)
        png = with_metadata(ctx.blob_path(blob).read_bytes(), params)
        digest = ctx.put_bytes(png)
        path = f"images/{job.stem}.png"
        files[path] = digest
        files[f"images/{job.stem}.json"] = ctx.put_bytes(
            json.dumps({"file": f"{job.stem}.png", **params}, indent=2, sort_keys=True, ensure_ascii=False).encode())
        images.append(AlbumImage(
            digest=digest, path=path, width=s.width, height=s.height, format="png",
            origin=f"generation:{ctx.target}", phash=info.get("phash", ""), caption=job.prompt,
            captions=[{"text": job.prompt, "origin": "prompt"}],
            extra={"row": job.row, "row_index": job.row_index, "variations": job.variations, "seed": job.seed,
                   "prompt": job.prompt, "negative": job.negative, "copy": job.copy},
        ))
        sheet.append((ctx.blob_path(digest), job.stem))
        table.append({"file": path, "seed": job.seed, **job.row, **job.variations, "prompt": job.prompt})
    for f in failed:
        ctx.log(f"not generated: {f['path']}: {f['reason']}", "warning")
    if not images and jobs:
        raise RuntimeError(f"no image could be generated; first failure: {failed[0]['reason']}")
    if images:
        thumb = min(160, max(s.width, s.height))
        files["contact.png"] = ctx.memo_blob("media.contact", sheet_key(sheet, thumb=thumb),
                                             lambda: contact_sheet(sheet, thumb=thumb))
        files["album.csv"] = ctx.put_bytes(_csv(table))
    album = Album(images, {"failed": failed})
    if images:
        files["album.jsonl"] = ctx.put_bytes(manifest_files(album)["album.jsonl"])
    meta = album.meta()
    meta["generation"] = {"model": s.model_name, "model_identity": s.model_identity,
                          "loras": [lo.record() for lo in s.stack], "size": [s.width, s.height],
                          "steps": s.steps, "guidance": s.guidance, "scheduler": s.scheduler}
    return Artifact(files=files, meta=meta, facts=album.facts())


def _csv(table: list[dict[str, Any]]) -> bytes:
    """One line per image with its row and variation values: sort and filter in a spreadsheet."""
    columns: list[str] = []
    for rec in table:
        for k in rec:
            if k not in columns:
                columns.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows(table)
    return buf.getvalue().encode("utf-8")
