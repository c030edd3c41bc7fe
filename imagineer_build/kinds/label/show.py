"""Text for `imagineer show` on a labels target."""

from __future__ import annotations

from ...core.artifact import ArtifactView
from ...media.labelset import LabelSet


def describe(view: ArtifactView, limit: int = 50) -> str:
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
    for im in ls.album.images[:limit]:
        lab = ls.labels.get(im.digest)
        if lab is None:
            continue
        who = (lab.labeler or "-") + (f"/{lab.model}" if lab.model else "") + (" (edited)" if lab.overridden else "")
        if lab.error:
            lines.append(f"  {im.path}  [{who}] FAILED: {lab.error}")
        else:
            cap = (lab.caption or "")[:80]
            tags = f"  #{' #'.join(lab.tags[:6])}" if lab.tags else ""
            lines.append(f"  {im.path}  [{who}] {lab.nsfw or '-'}  “{cap}”{tags}")
    if len(ls.album.images) > limit:
        lines.append(f"  ... {len(ls.album.images) - limit} more (imagineer show --json)")
    return "\n".join(lines)
