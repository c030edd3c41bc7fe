"""Score an album: plan the checks, embed through the memo, judge each image, write the artifact."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ...core.artifact import Artifact, ArtifactView
from ...core.kind import BuildContext
from ...media.album import Album, AlbumImage
from ...media.scoreset import ImageScore, ScoreSet
from .config import ScoresConfig, model_name
from .embed import Vectors, embed_all
from .flags import load_flags, match_flags
from .outputs import contact, scores_csv
from .verdicts import Check, compare, score_image, summarize

OWN_FILES = ("scores.csv", "contact.png")


class ScoresError(ValueError):
    """A scores target that cannot be built as specified; the message names the setting."""


def read_album(view: ArtifactView, of: str) -> Album:
    """The images of any album-like artifact (a dataset's entries count as one)."""
    if "album" in view.meta:
        return Album.from_meta(view.meta)
    if "dataset" in view.meta:
        from ...media.datasetfmt import DatasetInfo

        info = DatasetInfo.from_meta(view.meta)
        return Album([AlbumImage(digest=e.digest, path=e.image, width=e.width, height=e.height,
                                 format=Path(e.image).suffix.lstrip(".").lower(), origin=f"dataset:{of}",
                                 caption=e.caption, captions=[{"text": e.caption, "origin": "dataset"}])
                      for e in info.entries])
    raise ScoresError(f"of: {of} is not an album (a generation, source, labels, scores or dataset target)")


def intended_values(im: AlbumImage, source: str) -> dict[str, str]:
    raw = im.extra.get("variations" if source == "variation" else "row") or {}
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def plan_checks(cfg: ScoresConfig, images: list[AlbumImage]) -> list[Check]:
    """The checks with their options: `options:` where given, else the values the album used."""
    seen: dict[str, dict[str, list[str]]] = {"variation": {}, "column": {}}
    for im in images:
        for source in seen:
            for k, v in intended_values(im, source).items():
                vals = seen[source].setdefault(k, [])
                if v not in vals:
                    vals.append(v)
    wanted = [(n, "variation", True) for n in cfg.variations] if cfg.variations is not None else \
        [(n, "variation", False) for n in seen["variation"]]
    wanted += [(n, "column", True) for n in cfg.columns]
    checks: list[Check] = []
    for name, source, explicit in wanted:
        used = seen[source].get(name)
        if used is None:
            have = ", ".join(seen[source]) or "none"
            raise ScoresError(f"{source}s: {cfg.of} has no {source} {name!r} on any image ({source}s: {have})")
        options = list(cfg.options.get(name) or used)
        missing = [v for v in used if v not in options]
        if missing:
            raise ScoresError(f"options.{name}: the album has {name} values {missing} that are not among the "
                              f"options {options}")
        if len(options) < 2:
            if explicit:
                raise ScoresError(f"{source}s: {name} has one value ({options[0]!r}) in {cfg.of}: nothing to "
                                  f"choose among; list the alternatives in options: {{{name}: [...]}}")
            continue
        fmt = cfg.templates.get(name, cfg.template)
        checks.append(Check(name, source, options, [fmt.format(option=o, name=name) for o in options]))
    return checks


def build_scores(ctx: BuildContext) -> Artifact:
    from ...models import memo_model_identity, resolve_model

    cfg: ScoresConfig = ctx.config
    view = ctx.upstream[cfg.of]
    album = read_album(view, cfg.of)
    clash = [im.path for im in album.images if im.path in OWN_FILES]
    if clash:
        raise ScoresError(f"of: {cfg.of} has an image named {clash[0]}, which a scores artifact writes itself")
    first: dict[str, AlbumImage] = {}
    for im in album.images:  # the same bytes twice are scored once, as their first record says
        first.setdefault(im.digest, im)
    images = list(first.values())
    checks = plan_checks(cfg, images)
    prompts = _prompts(cfg, images)
    if cfg.adherence and not any(prompts.values()):
        raise ScoresError(f"of: {cfg.of} holds no prompts to measure adherence against: set `prompt:` "
                          "or `adherence: false`")
    if not checks and not cfg.adherence:
        raise ScoresError("nothing to score: no variation or column with two or more options, and adherence is off")
    flags, flags_report = _flags(ctx, cfg, images)

    spec = resolve_model(model_name(cfg, ctx.settings), ctx.settings)
    ident = memo_model_identity(spec, ctx.project_root, ctx.inputs)
    texts = list(dict.fromkeys([t for c in checks for t in c.texts] + [p for p in prompts.values() if p]))
    start = time.perf_counter()
    vectors = embed_all(ctx, spec, ident, [(im.digest, ctx.file(view, im.path)) for im in images], texts,
                        cfg.batch_size)
    if vectors.computed_images or vectors.computed_texts:
        ctx.log(f"embedded {vectors.computed_images} images and {vectors.computed_texts} texts in "
                f"{time.perf_counter() - start:.1f} s, model load included "
                f"({len(images) - vectors.computed_images} images from the memo)")
    scores = judge(cfg, images, checks, vectors, prompts, flags)
    unscored = [{"path": im.path, "digest": im.digest, "error": vectors.image_errors.get(im.digest, "not scored")}
                for im in images if im.digest not in scores]
    if not scores:
        raise ScoresError(f"no image of {cfg.of} could be scored; first: {unscored[0]['path']}: {unscored[0]['error']}"
                          if unscored else f"{cfg.of} has no images")
    summary = summarize(scores, checks)
    if split := summary["split_prompts"]:
        ctx.log(f"{split} prompt(s) exceed CLIP's 77 tokens: scored in pieces, the mean adherence of the pieces", "warning")
    if cfg.baseline:
        try:
            before = ScoreSet.from_meta(ctx.upstream[cfg.baseline].meta).info["summary"]
        except (ValueError, KeyError) as e:
            raise ScoresError(f"baseline: {cfg.baseline} is not a scores target ({e})") from None
        summary["baseline"] = compare(summary, before, cfg.baseline)

    files = {im.path: view.files[im.path] for im in images}
    files["scores.csv"] = ctx.put_bytes(scores_csv(images, scores, checks, unscored))
    files["contact.png"] = ctx.put_bytes(contact(images, scores, lambda im: ctx.file(view, im.path)))
    meta: dict[str, Any] = album.meta()
    if "labels" in view.meta:
        meta["labels"] = view.meta["labels"]
    meta["scores"] = {"model": model_name(cfg, ctx.settings), "checked": [c.record() for c in checks],
                      "thresholds": cfg.thresholds.model_dump(), "logit_scale": _round(vectors.logit_scale),
                      "images": {d: s.to_dict() for d, s in sorted(scores.items())}, "summary": summary}
    meta["report"] = {**album.report, "unscored": unscored, "flags": flags_report}
    for u in unscored[:20]:
        ctx.log(f"not scored: {u['path']}: {u['error']}", "warning")
    facts = {"images": len(images), "scored": len(scores), **summary["verdicts"]}
    if summary["mean_adherence"] is not None:
        facts["mean_adherence"] = summary["mean_adherence"]
    return Artifact(files=files, meta=meta, facts=facts)


def judge(cfg: ScoresConfig, images: list[AlbumImage], checks: list[Check], vectors: Vectors,
          prompts: dict[str, str | None], flags: dict[str, str]) -> dict[str, ImageScore]:
    """Every embedded image's record, from its vectors and what its manifest intended."""
    option_vectors = {c.name: [vectors.texts[t][0] for t in c.texts] for c in checks}
    scores: dict[str, ImageScore] = {}
    for im in images:
        if im.digest not in vectors.images:
            continue
        by_name = {c.name: intended_values(im, c.source).get(c.name) for c in checks}
        intended = {k: v for k, v in by_name.items() if v is not None}
        pieces = vectors.texts[prompts[im.digest]] if prompts.get(im.digest) else None
        scores[im.digest] = score_image(vectors.images[im.digest], pieces, intended, checks, option_vectors,
                                        vectors.logit_scale, flags.get(im.digest), cfg.thresholds)
    return scores


def _prompts(cfg: ScoresConfig, images: list[AlbumImage]) -> dict[str, str | None]:
    if not cfg.adherence:
        return {}
    return {im.digest: cfg.prompt or im.extra.get("prompt") or None for im in images}


def _flags(ctx: BuildContext, cfg: ScoresConfig, images: list[AlbumImage]) -> tuple[dict[str, str], dict[str, Any]]:
    """(image digest → hand flag, what the report says about the flags file)."""
    if not cfg.overrides:
        return {}, {}
    from .flags import FlagsError

    try:
        raw = load_flags(ctx.inputs[cfg.overrides].abspath(""), cfg.overrides)
    except FlagsError as e:
        raise ScoresError(f"overrides: {e}") from None
    matched, unmatched = match_flags(raw, images)
    if unmatched:
        ctx.log(f"{cfg.overrides}: {len(unmatched)} flag(s) match no image of {cfg.of}: {', '.join(unmatched[:5])}",
                "warning")
    return matched, {"file": cfg.overrides, "entries": len(raw), "applied": len(matched), "unmatched": unmatched}


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
