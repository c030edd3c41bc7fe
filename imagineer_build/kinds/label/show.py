"""Text for `imagineer show` on a labels target."""

from __future__ import annotations

from ...core.artifact import ArtifactView
from ...media.labelset import LabelSet
from ...textfmt import lines_cut


def describe(view: ArtifactView, limit: int | None = 50) -> str:
    """Per image: `[labeler]` says where the label came from (a labeler, `/model`, or
    `edited` for a hand override), then the NSFW rating (`-` when none was given)."""
    ls = LabelSet.from_meta(view.meta)
    s = ls.summary()
    lines = [f"{len(ls.album.images)} images, {s['labelled']} labelled, {s['failed']} failed",
             "nsfw: " + ", ".join(f"{r} {n}" for r, n in s["nsfw"].items()),
             "top tags: " + (", ".join(f"{t} ({n})" for t, n in s["top_tags"][:10]) or "none")]
    review = view.meta.get("review")
    if review:
        r = ls.report.get("review", {})
        lines.append(f"review by {review['by']}: {r.get('ok', 0)} ok, {r.get('fix', 0)} proposed fixes, "
                     f"{r.get('failed', 0)} failed (imagineer labels review TARGET)")
    lines.append("per image: file, [labeler or 'edited' for a hand override], NSFW rating, caption, tags")
    rows = []
    for im in ls.album.images:
        lab = ls.labels.get(im.digest)
        if lab is None:
            continue
        who = "edited" if lab.overridden else (lab.labeler or "none") + (f"/{lab.model}" if lab.model else "")
        if lab.error:
            rows.append(f"  {im.path}  [{who}] FAILED: {lab.error}")
        else:
            cap = (lab.caption or "")[:80]
            tags = f"  #{' #'.join(lab.tags[:6])}" if lab.tags else ""
            rows.append(f"  {im.path}  [{who}] {lab.nsfw or 'unrated'}  “{cap}”{tags}")
    return "\n".join(lines + lines_cut(rows, limit))
