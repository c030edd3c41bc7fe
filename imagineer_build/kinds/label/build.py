"""Run the labeler chain over an album, apply the hand edits, and assemble the labels artifact."""

from __future__ import annotations

from typing import Any

from ...core.artifact import Artifact
from ...core.kind import BuildContext
from ...media.album import Album, AlbumImage, manifest_files
from ...media.labelset import NSFW_DEFAULT_EXCLUDE, Label, LabelSet
from .config import LabelsConfig, local_models, resolve
from .overrides import apply_overrides, load_overrides


def run_labeler(ctx: BuildContext, cfg: LabelsConfig, name: str, images: list[AlbumImage]) -> dict[str, Label]:
    if not images or name == "manual":
        return {}
    if name in ("sidecar", "alt-text"):
        from .config import ALT_TEXT_ORIGINS
        from .labelers.sidecar import label_sidecar

        prefer = cfg.prefer or (ALT_TEXT_ORIGINS if name == "alt-text" else None)
        return label_sidecar(images, prefer)
    if name == "template":
        from .labelers.template import label_template

        return label_template(images, cfg.template or "", cfg.template_tags)
    if name == "manifest":
        from .labelers.manifest import label_manifest

        return label_manifest(images)
    if name == "claude":
        from .labelers.claude import label_claude

        return label_claude(ctx, cfg, images)
    if name == "vlm":
        from .labelers.vlm import label_vlm

        return label_vlm(ctx, cfg, images)
    if name == "tagger":
        from .labelers.tagger import label_tagger

        return label_tagger(ctx, cfg, images)
    raise ValueError(f"unknown labeler {name!r}")


def locate_models(ctx: BuildContext, cfg: LabelsConfig) -> None:
    """Find every local model the target uses before any work: a model that is not there
    (an HF id neither cached nor downloadable) stops the target with how to get it."""
    wanted = local_models(cfg)
    if not wanted:  # sidecars, overrides, Claude: no model modules to import on every rebuild
        return
    from ...models import resolve_model
    from ...models.captioner import locate as locate_vlm
    from ...models.tagger import locate as locate_tagger

    for role, name in sorted(wanted.items()):
        spec = resolve_model(name, ctx.settings)
        (locate_tagger if role == "tagger" else locate_vlm)(spec, ctx.project_root, ctx.models_dir)


def combine(cur: Label | None, new: Label) -> Label:
    """Fold a later labeler's answer into what earlier ones gave: the first caption wins, tags merge."""
    if cur is None:
        return new
    if cur.caption is None and new.caption is not None:
        base, other = new, cur
    else:
        base, other = cur, new
    out = Label(**base.to_dict())
    out.tags = list(dict.fromkeys(base.tags + other.tags))
    out.nsfw = base.nsfw or other.nsfw
    out.confidence = base.confidence if base.confidence is not None else other.confidence
    return out


def unique_images(album: Album) -> list[AlbumImage]:
    seen: set[str] = set()
    out = []
    for im in album.images:
        if im.digest not in seen:
            seen.add(im.digest)
            out.append(im)
    return out


def build_labels(ctx: BuildContext) -> Artifact:
    cfg = resolve(ctx.config, ctx.settings.get("defaults", {}).get("labels"))
    view = ctx.upstream[cfg.of]
    try:
        album = Album.from_meta(view.meta)
    except (ValueError, TypeError, KeyError) as e:
        raise ValueError(f"of: {cfg.of} is not an album ({e})") from None
    files = dict(view.files)
    selected = None
    if cfg.select is not None:
        album, files, selected = select_scored(view, cfg)
    entries = None
    if cfg.overrides:
        entries = load_overrides(ctx.inputs[cfg.overrides].abspath(""), cfg.overrides)
    images = unique_images(album)
    locate_models(ctx, cfg)
    labels: dict[str, Label] = {}
    errors: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    for name in cfg.chain_names():
        if cfg.chain == "merge":
            todo = images
        else:
            todo = [im for im in images if labels.get(im.digest) is None or labels[im.digest].caption is None]
        got = run_labeler(ctx, cfg, name, todo)
        for digest, lab in got.items():
            if lab.error:
                errors.setdefault(digest, []).append(f"{name}: {lab.error}")
                continue
            if lab.caption or lab.tags or lab.nsfw:
                counts[name] = counts.get(name, 0) + 1
                labels[digest] = combine(labels.get(digest), lab)
        ctx.check_cancelled()
    for im in images:
        lab = labels.get(im.digest)
        if (lab is None or lab.caption is None) and im.digest in errors:
            lab = lab or Label(labeler=errors[im.digest][-1].split(":", 1)[0])
            lab.error = "; ".join(errors[im.digest])
        labels[im.digest] = lab or Label()
    report: dict[str, Any] = {"labelers": counts}
    if selected is not None:
        report["selected"] = selected
    if entries is not None:
        res = apply_overrides(labels, entries, images)
        report["overrides"] = {"file": cfg.overrides, "entries": len(entries), "changed": res.changed,
                               "unmatched": res.unmatched, "ambiguous": res.ambiguous}
        if res.unmatched:
            ctx.log(f"{cfg.overrides}: {len(res.unmatched)} entr{'y' if len(res.unmatched) == 1 else 'ies'} "
                    f"match no image of {cfg.of}: {', '.join(res.unmatched[:5])}", "warning")
        if res.ambiguous:
            ctx.log(f"{cfg.overrides}: file name(s) {', '.join(res.ambiguous[:5])} match several images; "
                    "key them by digest instead (not applied)", "warning")
    by_path = {im.digest: im.path for im in images}
    report["failed"] = [{"path": by_path[d], "digest": d, "error": lab.error}
                        for d, lab in labels.items() if lab.error]
    for f in report["failed"][:20]:
        ctx.log(f"{f['path']}: {f['error']}", "warning")
    review = None
    if cfg.review is not None:
        from .review import review_labels, summary

        review = review_labels(ctx, cfg, labels, images)
        report["review"] = summary(review)
        for d, res in review["results"].items():
            if "error" in res:
                ctx.log(f"{by_path[d]}: review failed: {res['error']}", "warning")
    ls = LabelSet(album, labels, report)
    meta = ls.meta()
    s = meta["summary"]
    facts = {"images": len(images), "labelled": s["labelled"], "failed": s["failed"],
             "nsfw": sum(s["nsfw"][r] for r in NSFW_DEFAULT_EXCLUDE)}
    if review is not None:
        meta["review"] = review
        facts["proposals"] = report["review"]["fix"]
    files = {rel: d for rel, d in files.items() if rel not in ("album.jsonl", "album.csv")}  # the upstream's
    written = manifest_files(album, meta["labels"])  # the label dicts the meta holds
    files.update({rel: ctx.put_bytes(data) for rel, data in written.items()})
    return Artifact(files=files, meta=meta, facts=facts)


def select_scored(view, cfg: LabelsConfig) -> tuple[Album, dict[str, str], dict[str, Any]]:
    """The album cut down to the images `select:` keeps from a scores target, their files,
    and what the report says about it (every image left out, with the reason)."""
    from ...media.scoreset import ScoreSet, select

    try:
        ss = ScoreSet.from_meta(view.meta)
    except (ValueError, TypeError, KeyError) as e:
        raise ValueError(f"select: needs `of` to be a scores target; {cfg.of} is not ({e})") from None
    kept, left = select(ss, cfg.select)
    files = {im.path: view.files[im.path] for im in kept}
    return Album(kept, ss.album.report), files, {"kept": len(kept), "left_out": left}
