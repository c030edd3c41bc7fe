"""Build a dataset: labelled images in → a training layout, its report and the trainer's meta out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...core.artifact import Artifact
from ...core.kind import BuildContext
from ...media.datasetfmt import DatasetEntry, DatasetInfo
from ...media.labelset import LabelSet
from . import buckets, captions, concepts, layouts, report, select, shots
from .config import DatasetConfig

SHOT_MEMO = "dataset.shot"


class DatasetError(ValueError):
    """A dataset that cannot be built as specified; the message says which input is wrong."""


def load_upstreams(ctx: BuildContext, cfg: DatasetConfig) -> tuple[list[tuple[str, LabelSet, Any]], list[dict[str, Any]]]:
    """(target, its labels, its view) per `from` entry, and the images `select:` left out.

    A scores target counts as labels: its own (when it scored a labels target) or none, so the
    album's captions (a generation's prompts) are used."""
    out, left_out, scored = [], [], False
    for i, name in enumerate(cfg.from_):
        view = ctx.upstream[name]
        try:
            labels = LabelSet.from_meta(view.meta) if "labels" in view.meta else None
            if "scores" in view.meta:
                labels, left = _selected(view.meta, labels, cfg)
                left_out += [{**e, "image": f"{name}:{e['image']}"} for e in left]
                scored = True
            if labels is None:
                raise ValueError("no labels")
        except (ValueError, TypeError, KeyError) as e:
            raise DatasetError(f"from[{i}]: {name!r} is not a labels target ({e}); a dataset reads labels "
                               "targets (labels: {NAME: {of: SOURCE, ...}}) or scores targets") from None
        out.append((name, labels, view))
    if cfg.select is not None and not scored:
        raise DatasetError("select: needs a scores target in `from` (scores: {NAME: {of: ALBUM, ...}})")
    return out, left_out


def _selected(meta: dict[str, Any], labels: LabelSet | None, cfg: DatasetConfig) -> tuple[LabelSet, list[dict[str, Any]]]:
    from ...media.album import Album
    from ...media.scoreset import ScoreSet, select

    ss = ScoreSet.from_meta(meta)
    kept, left = select(ss, cfg.select) if cfg.select is not None else (ss.album.images, [])
    found = labels.labels if labels is not None else {}
    return LabelSet(Album(kept, ss.album.report), {im.digest: found[im.digest] for im in kept if im.digest in found}), left


def load_terms(ctx: BuildContext, cfg: DatasetConfig) -> list[concepts.Term]:
    c = cfg.concepts
    if c.taxonomy:
        path = ctx.inputs[c.taxonomy].abspath("")
        taxonomy = concepts.load_taxonomy(Path(path))
    else:
        taxonomy = concepts.load_taxonomy()
    taxonomy = {**taxonomy, **c.custom}
    return concepts.compile_terms(taxonomy, c.taxonomy or "default taxonomy")


def face_shots(ctx: BuildContext, cfg: DatasetConfig, kept: list[select.Candidate]) -> dict[str, dict[str, Any]]:
    """digest → shot record for images with real face boxes: their own (through a faces target
    or a person source), else those of the faces target `shots.faces` names."""
    named: dict[str, dict[str, Any]] = {}
    if cfg.shots.faces is not None:
        from ...media.album import Album

        view = ctx.upstream[cfg.shots.faces]
        if "faces" not in view.meta:
            raise DatasetError(f"shots.faces: {cfg.shots.faces!r} is not a faces target")
        named = {im.digest: im.extra for im in Album.from_meta(view.meta).images if "faces" in im.extra}
    out = {}
    for c in kept:
        faces, detector = c.faces, c.face_detector
        if c.face is None and faces is None and c.digest in named:
            faces, detector = named[c.digest]["faces"], named[c.digest].get("face_detector")
        rec = shots.from_faces(c.width, c.height, face=c.face, faces=faces, detector=detector,
                               person=cfg.shots.person, close=cfg.shots.close, far=cfg.shots.far)
        if rec is not None:
            out[c.digest] = rec
    return out


def shots_file(kept: list[select.Candidate], entries: list[DatasetEntry], shot_of: dict[str, dict[str, Any]],
               cfg: DatasetConfig) -> dict[str, Any]:
    """shots.json: per image the shot, the face-to-image ratio, the box and the detector."""
    rows = []
    for c, e in zip(kept, entries, strict=True):
        info = shot_of.get(c.digest, {})
        row = {"image": e.image, "source": c.ref, "shot": e.shot, "ratio": info.get("share"), "box": info.get("box"),
               "detector": info.get("detector", shots.detector_name()), "confidence": info.get("confidence")}
        for k in ("person", "face", "reason"):
            if info.get(k):
                row[k] = info[k]
        rows.append(row)
    return {"close": cfg.shots.close, "far": cfg.shots.far, "images": rows}


def build_dataset(ctx: BuildContext) -> Artifact:
    cfg: DatasetConfig = ctx.config
    upstreams, unselected = load_upstreams(ctx, cfg)
    terms = load_terms(ctx, cfg)
    cands, duplicates = select.merge(upstreams, ctx.file_paths)
    kept, excluded = select.choose(cands, cfg)
    excluded = unselected + excluded
    if not kept:
        if not cands:  # nothing came in: the upstream is where the images were lost
            empty = [name for name, labelset, _ in upstreams if not labelset.album.images] or list(cfg.from_)
            raise DatasetError(f"no image is left to train on: {', '.join(empty)} hold no images "
                               f"(imagineer show {empty[0]} says why)")
        reasons = "; ".join(f"{e['image']}: {e['reason']}" for e in excluded[:5])
        raise DatasetError(f"no image is left to train on ({len(cands)} candidates, {len(excluded)} excluded"
                           + (f": {reasons}" if reasons else "") + ")")
    ctx.progress(0, len(kept), "images selected")

    shot_of: dict[str, dict[str, Any]] = {}
    if cfg.shots.detect and kept:
        shot_of = face_shots(ctx, cfg, kept)
        rest = [c for c in kept if c.digest not in shot_of]
        detections = shots.detect_all(
            ctx.memo(SHOT_MEMO), [(c.digest, c.blob) for c in rest], jobs=ctx.jobs,
            progress=lambda d, t: ctx.progress(d, t, "faces detected"), check_cancelled=ctx.check_cancelled) if rest else {}
        for c in rest:
            shot_of[c.digest] = shots.shot_info(detections[c.digest], cfg.shots.close, cfg.shots.far)
            if "error" in shot_of[c.digest]:
                ctx.log(f"face detection failed for {c.ref}: {shot_of[c.digest]['error']}", "warning")

    rec = report.recommended(len(kept), cfg.repeats)
    settings = captions.CaptionSettings(
        template=cfg.caption, trigger=cfg.trigger, shuffle=cfg.shuffle_tags, keep_tokens=cfg.keep_tokens,
        seed=cfg.seed, max_length=cfg.max_caption_length, prefixes=dict(cfg.shots.prefix))
    if cfg.names == "caption":
        stems = layouts.caption_stems([(c.digest, c.caption) for c in kept])
    else:
        stems = layouts.unique_stems([(c.digest, c.stem) for c in kept])
    placed: list[layouts.Placed] = []
    truncated: list[dict[str, Any]] = []
    for c in kept:
        shot = shot_of.get(c.digest, {}).get("shot") if cfg.shots.detect else None
        a = captions.assemble(settings, caption=c.caption, tags=c.tags, shot=shot, name=stems[c.digest],
                              salt=c.digest)
        if a.truncated_from:
            truncated.append({"image": c.ref, "length": a.truncated_from})
        placed.append(layouts.Placed(c.digest, c.blob_digest, stems[c.digest], c.format, a.text, shot, rec["repeats"]))

    b = cfg.buckets
    lo, hi = b.sides(cfg.resolution)
    chosen, used = buckets.assign([(c.width, c.height) for c in kept], cfg.resolution, b.enabled, b.step, lo, hi)
    lay = layouts.write(placed, layouts.LayoutSettings(
        layout=cfg.format, trigger=cfg.trigger, name=ctx.target, resolution=cfg.resolution,
        batch_size=rec["batch_size"], repeats=rec["repeats"], shot_folders=cfg.shots.folders and cfg.shots.detect,
        shuffle=cfg.shuffle_tags, keep_tokens=cfg.keep_tokens, caption_dropout=cfg.caption_dropout,
        bucket={"enabled": b.enabled, "step": b.step, "min_side": lo, "max_side": hi}, names=cfg.names))

    per_image_concepts = find_concepts(ctx, terms, [" , ".join([c.caption or "", *c.tags]) for c in kept])
    entries = []
    for c, p, bucket, found in zip(kept, placed, chosen, per_image_concepts, strict=True):
        extra: dict[str, Any] = {"source": c.ref, "tags": c.tags, "concepts": found}
        if c.nsfw:
            extra["nsfw"] = c.nsfw
        if c.digest in shot_of:
            extra["shot_info"] = {k: v for k, v in shot_of[c.digest].items() if k != "shot"}
        entries.append(DatasetEntry(digest=c.digest, image=lay.image_of[c.digest], caption=p.caption,
                                    width=c.width, height=c.height, bucket=list(bucket), repeats=p.repeats,
                                    shot=p.shot, extra=extra))

    shot_dist = report.shot_distribution([e.shot or "unknown" for e in entries]) if cfg.shots.detect else None
    concept_summary = concepts.frequencies(per_image_concepts, cfg.concepts.top)
    warns = report.warnings(
        n=len(entries), shots=shot_dist, excluded=excluded,
        uncaptioned=sum(1 for c in kept if not (c.caption and c.caption.strip())),
        truncated=len(truncated), max_length=cfg.max_caption_length, trigger=cfg.trigger,
        label_errors=sum(1 for c in cands if c.label_error))
    for w in warns:
        ctx.log(w, "warning")

    bucket_counts: dict[str, int] = {}
    for bk in chosen:
        bucket_counts[f"{bk[0]}x{bk[1]}"] = bucket_counts.get(f"{bk[0]}x{bk[1]}", 0) + 1
    summary = {
        "dataset": ctx.target,
        "layout": cfg.format,
        "trigger": cfg.trigger,
        "counts": {"images": len(entries), "candidates": len(cands), "excluded": len(excluded),
                   "duplicates": len(duplicates),
                   "by_source": {name: sum(1 for c in kept if c.source == name) for name in cfg.from_}},
        "shots": shot_dist,
        "shot_detector": shot_detector(cfg, shot_of),
        "concepts": concept_summary,
        "captions": {**report.caption_stats([e.caption for e in entries]), "truncated": truncated},
        "buckets": {"resolution": cfg.resolution, "plan": used, "counts": bucket_counts},
        "caption_dropout": cfg.caption_dropout,
        "recommended": rec,
        "warnings": warns,
        "excluded": excluded,
        "duplicates": duplicates,
        "images": [{"image": e.image, "caption": e.caption, "shot": e.shot, "bucket": e.bucket,
                    "concepts": e.extra["concepts"]} for e in entries],
    }

    files: dict[str, str] = dict(lay.images)
    for rel, data in lay.texts.items():
        files[rel] = ctx.put_bytes(data)
    if any("detector" in info for info in shot_of.values()):  # real face boxes decided some shots
        doc = shots_file(kept, entries, shot_of, cfg)
        files["shots.json"] = ctx.put_bytes(json.dumps(doc, indent=1, sort_keys=True).encode() + b"\n")
    files["metadata.json"] = ctx.put_bytes(json.dumps(summary, indent=2, ensure_ascii=False).encode() + b"\n")
    if cfg.contact_sheet and entries:
        from ...media.contact import MAX_ITEMS, contact_sheet, sheet_key

        items = [(Path(c.blob), (f"({e.shot} shot) " if e.shot in ("close", "mid", "far") else "") + e.caption)
                 for c, e in zip(kept[:MAX_ITEMS], entries, strict=False)]  # only the shown ones
        files["contact_sheet.png"] = ctx.memo_blob("media.contact", sheet_key(items), lambda: contact_sheet(items))
    ctx.progress(len(entries), len(entries), "dataset written")

    info = DatasetInfo(layout=cfg.format, trigger=cfg.trigger, resolution=cfg.resolution, entries=entries,
                       buckets=used, caption_dropout=cfg.caption_dropout,
                       recommended={k: rec[k] for k in ("epochs", "batch_size", "repeats")})
    meta = info.to_meta()
    meta["report"] = {k: summary[k] for k in ("counts", "shots", "recommended", "warnings", "excluded")}
    meta["report"]["top_concepts"] = concept_summary["top"]
    facts = {"images": len(entries), "excluded": len(excluded), "warnings": len(warns)}
    return Artifact(files=files, meta=meta, facts=facts)


def find_concepts(ctx: BuildContext, terms: list[concepts.Term], texts: list[str]) -> list[dict[str, list[str]]]:
    """concepts.find for each text, memoised by the taxonomy and the text: a regex search per
    term per caption was 40 % of a 6,000-image dataset's rebuild for one new image. Stored as
    [category, names] pairs, since the memo sorts a mapping's keys and the taxonomy's order counts."""
    memo = ctx.memo("dataset.concepts")
    keys = memo.keys(texts, [[t.category, t.name, t.pattern.pattern, int(t.pattern.flags)] for t in terms])
    known = {k: dict(v[0]) for k, v in memo.get_many(set(keys)).items()}
    with memo.batch() as remember:
        for text, key in zip(texts, keys, strict=True):
            if key not in known:
                known[key] = found = concepts.find(terms, text)
                remember(key, list(found.items()))
    return [known[k] for k in keys]


def shot_detector(cfg: DatasetConfig, shot_of: dict[str, dict[str, Any]]) -> str | None:
    """What decided the shots: the cascade, or the face detector(s) with the cascade as fallback."""
    if not cfg.shots.detect:
        return None
    real = sorted({info["detector"] for info in shot_of.values() if info.get("detector")})
    if not real:
        return shots.detector_name()
    fallback = any("detector" not in info for info in shot_of.values())
    return " + ".join(real + ([shots.detector_name() + " (fallback)"] if fallback else []))
