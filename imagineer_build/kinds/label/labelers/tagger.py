"""The `tagger` labeler: booru tags and an NSFW rating from a WD14-style ONNX tagger.

The memo keeps each image's scores down to FLOOR (all rating scores), with the tag names, so
thresholds, exclusions and underscore handling can change without running the model again.
Tags come out ordered by score; the highest rating score picks the NSFW rating.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ....core.kind import BuildContext, Memo
from ....media.album import AlbumImage
from ....media.labelset import Label
from ..config import LabelsConfig, TaggerConfig
from .local import Item, run_items

MEMO_NS = "labels.tagger"
VERSION = "2"  # 2: one image per call on a CPU
FLOOR = 0.1  # scores below this are not kept; a threshold below it widens the floor (and the key)
RATING, CHARACTER = 9, 4
RATINGS = {"general": "SAFE", "safe": "SAFE", "sensitive": "SUGGESTIVE", "questionable": "ADULT",
           "explicit": "EXPLICIT"}


def floor(t: TaggerConfig) -> float:
    return min(FLOOR, t.general_threshold, t.character_threshold)


def keep_scores(row, tags, low: float) -> list[list[Any]]:
    """[[name, category, score]] worth keeping, scores rounded so memo and fresh runs agree."""
    out = []
    for tag, score in zip(tags, row.tolist(), strict=True):
        if tag.category == RATING or score >= low:
            out.append([tag.name, tag.category, round(float(score), 5)])
    return out


def pretty(name: str, replace: bool) -> str:
    """long_hair → long hair; kaomoji such as ^_^ stay as they are."""
    return name.replace("_", " ") if replace and any(c.isalpha() for c in name) else name


def to_label(scores: list[list[Any]], t: TaggerConfig) -> Label:
    ratings = [(s, n) for n, c, s in scores if c == RATING]
    rating = RATINGS.get(max(ratings)[1]) if ratings else None
    picked = [(s, n) for n, c, s in scores if c != RATING
              and s >= (t.character_threshold if c == CHARACTER else t.general_threshold)]
    picked.sort(key=lambda x: (-x[0], x[1]))
    excluded = set(t.exclude_tags)
    tags = []
    for _, name in picked:
        tag = pretty(name, t.replace_underscores)
        if name not in excluded and tag not in excluded and tag not in tags:
            tags.append(tag)
    tags = tags[:t.max_tags] if t.max_tags else tags
    caption = ", ".join(tags) if t.as_caption and tags else None
    return Label(caption=caption, tags=tags, nsfw=rating, labeler="tagger", model=t.model,
                 prompt_version=f"g{t.general_threshold}/c{t.character_threshold}", origin="tagger")


def label_tagger(ctx: BuildContext, cfg: LabelsConfig, images: list[AlbumImage]) -> dict[str, Label]:
    from ....models import memo_model_identity, resolve_model

    t = cfg.tagger
    spec = resolve_model(t.model, ctx.settings)
    ident = memo_model_identity(spec, ctx.project_root, ctx.inputs)
    low = floor(t)
    view = ctx.upstream[cfg.of]
    memo = ctx.memo(MEMO_NS)
    items = [Item(im.digest, ctx.file(view, im.path), Memo.key(im.digest, "tagger", VERSION, ident, low))
             for im in images]

    def start():
        from ....models.tagger import warm

        tagger = warm(spec, ctx.project_root, Path(ctx.models_dir), ctx.settings.get("threads"))
        ctx.log(f"tagger: {t.model}, {len(tagger.tags)} tags, {tagger.size} px, "
                f"{tagger.session.get_providers()[0]}, batch {t.batch_size}")
        device = "cpu" if tagger.session.get_providers()[0] == "CPUExecutionProvider" else "cuda"
        return lambda ims, its: [{"scores": keep_scores(row, tagger.tags, low)} for row in tagger.scores(ims)], device

    values, failed = run_items(ctx, memo, items, t.batch_size, start, "images tagged")
    out = {d: to_label(val["scores"], t) for d, val in values.items()}
    out.update({d: Label(labeler="tagger", model=t.model, error=msg) for d, msg in failed.items()})
    return out
