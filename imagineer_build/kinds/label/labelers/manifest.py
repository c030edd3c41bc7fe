"""The `manifest` labeler: a generated image is labelled from its own manifest.

Its prompt becomes the caption and its variation values the tags ("auto-label from manifest"),
so the best images of a generation can train a LoRA without a captioning model.
"""

from __future__ import annotations

from ....media.album import AlbumImage
from ....media.labelset import Label


def label_manifest(images: list[AlbumImage]) -> dict[str, Label]:
    out: dict[str, Label] = {}
    for im in images:
        prompt = im.extra.get("prompt")
        if not prompt:
            out[im.digest] = Label(labeler="manifest", error="no prompt in this image's manifest "
                                                              "(only generated images carry one)")
            continue
        values = im.extra.get("variations") or {}
        tags = list(dict.fromkeys(str(v) for v in values.values() if str(v).strip()))
        out[im.digest] = Label(caption=prompt, tags=tags, labeler="manifest", origin="manifest")
    return out
