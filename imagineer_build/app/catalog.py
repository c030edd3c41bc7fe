"""Any built artifact as a list of uniform image records ("items") that pages list, filter and show.

An album (sources, generations, labels, scores, faces) or a dataset becomes one item per image
with the fields people ask about: prompt, seed, variations, CSV row, captions and their origins,
tags, NSFW rating, score and verdict, faces, concepts and shot type, source URL. Each item also
carries its facet values, computed once per artifact digest (artifacts never change).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from ..core.artifact import ArtifactView

# Facets whose key names a field: key → label. Variation and column facets are "v.NAME" / "c.NAME".
FIXED_FACETS = {"verdict": "verdict", "flag": "hand flag", "miss": "failed check", "tag": "tag",
                "concept": "concept", "shot": "shot type", "nsfw": "NSFW rating", "person": "person",
                "labeler": "labeler"}


@dataclass
class Catalog:
    target: str
    kind: str
    artifact: str
    items: list[dict[str, Any]]
    facets: list[str]  # facet keys with at least one value, in display order
    info: dict[str, Any] = field(default_factory=dict)  # what the artifact says beyond its images
    by_digest: dict[str, int] = field(default_factory=dict)

    def item(self, digest: str) -> dict[str, Any] | None:
        i = self.by_digest.get(digest)
        return self.items[i] if i is not None else None


def facet_label(key: str) -> str:
    if key.startswith("v."):
        return f"{key[2:]} (variation)"
    if key.startswith("c."):
        return f"{key[2:]} (column)"
    return FIXED_FACETS.get(key, key)


def is_album(view: ArtifactView) -> bool:
    return "album" in view.meta or "dataset" in view.meta


def catalog(target: str, kind: str, view: ArtifactView) -> Catalog | None:
    """The artifact's images as items, or None when it holds no album (a LoRA, say)."""
    meta = view.meta
    if "album" in meta:
        records = meta["album"]["images"]
        items = [_album_item(r) for r in records]
    elif "dataset" in meta:
        items = [_dataset_item(e) for e in meta["dataset"]["entries"]]
    else:
        return None
    labels = meta.get("labels") or {}
    scores = (meta.get("scores") or {}).get("images") or {}
    review = (meta.get("review") or {}).get("results") or {}
    names = {c["cluster"]: c.get("name") for c in (meta.get("faces") or {}).get("clusters", [])}
    for i, it in enumerate(items):
        it["index"] = i
        d = it["digest"]
        if d in labels:
            lab = labels[d]
            it["label"] = lab
            it["tags"] = list(lab.get("tags") or [])
            it["nsfw"] = lab.get("nsfw")
            if lab.get("caption") is not None:
                it["caption"] = lab["caption"]
        if d in scores:
            s = scores[d]
            it["score"] = s
            it["verdict"] = s.get("verdict")
            it["flag"] = s.get("flag")
        if d in review:
            it["review"] = review[d]
        for f in it.get("faces") or []:
            f["name"] = f.get("person") or (names.get(f.get("cluster")) if f.get("cluster") is not None else None)
        it["facets"] = _facet_values(it)
        it["text"] = " ".join(str(x) for x in (it.get("caption"), it.get("prompt"), it["path"]) if x).lower()
    keys: list[str] = []
    for it in items:
        for k in it["facets"]:
            if k not in keys:
                keys.append(k)
    order = list(FIXED_FACETS)
    keys.sort(key=lambda k: (0, k) if k.startswith("v.") else (1, k) if k.startswith("c.") else (2, order.index(k)))
    info = {k: v for k, v in meta.items() if k not in ("album", "labels", "dataset")}
    if "scores" in info:
        info["scores"] = {k: v for k, v in info["scores"].items() if k != "images"}
    if "dataset" in meta:
        info["dataset"] = {k: v for k, v in meta["dataset"].items() if k != "entries"}
    return Catalog(target, kind, view.digest, items, keys, info, {it["digest"]: it["index"] for it in items})


def _album_item(r: dict[str, Any]) -> dict[str, Any]:
    extra = r.get("extra") or {}
    return {
        "digest": r["digest"], "path": r["path"], "name": posixpath.basename(r["path"]),
        "width": r.get("width"), "height": r.get("height"), "format": r.get("format"), "origin": r.get("origin"),
        "caption": r.get("caption"), "captions": r.get("captions") or [], "extra": extra,
        "variations": extra.get("variations") or {}, "row": extra.get("row") or {}, "seed": extra.get("seed"),
        "prompt": extra.get("prompt"), "negative": extra.get("negative"),
        "source_url": extra.get("image_url"), "page_url": extra.get("page_url"),
        "faces": [dict(f) for f in extra.get("faces") or []],
        "tags": [], "nsfw": None, "concepts": [], "shot": None,
    }


def _dataset_item(e: dict[str, Any]) -> dict[str, Any]:
    extra = e.get("extra") or {}
    concepts = [f"{cat}: {term}" for cat, terms in sorted((extra.get("concepts") or {}).items()) for term in terms]
    return {
        "digest": e["digest"], "path": e["image"], "name": posixpath.basename(e["image"]),
        "width": e.get("width"), "height": e.get("height"), "format": None, "origin": extra.get("source"),
        "caption": e.get("caption"), "captions": [{"text": e.get("caption"), "origin": "dataset"}], "extra": extra,
        "variations": {}, "row": {}, "seed": None, "prompt": None, "negative": None,
        "source_url": None, "page_url": None, "faces": [],
        "tags": list(extra.get("tags") or []), "nsfw": extra.get("nsfw"), "concepts": concepts,
        "shot": e.get("shot"), "bucket": e.get("bucket"), "repeats": e.get("repeats"),
    }


def _facet_values(it: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in it["variations"].items():
        out[f"v.{k}"] = [str(v)]
    for k, v in it["row"].items():
        if k != "seed" and v not in (None, ""):
            out[f"c.{k}"] = [str(v)]
    if it.get("verdict"):
        out["verdict"] = [it["verdict"]]
    if it.get("flag"):
        out["flag"] = [it["flag"]]
    checks = (it.get("score") or {}).get("checks") or {}
    missed = [name for name, c in checks.items() if not c.get("match")]
    if missed:
        out["miss"] = missed
    for key, values in (("tag", it["tags"]), ("concept", it["concepts"])):
        if values:
            out[key] = list(dict.fromkeys(values))
    if it.get("shot"):
        out["shot"] = [it["shot"]]
    if it.get("nsfw"):
        out["nsfw"] = [it["nsfw"]]
    people = [f["name"] or (f"cluster {f['cluster']}" if f.get("cluster") is not None else "unclustered")
              for f in it["faces"] if f.get("status", "ok") == "ok"]
    if people:
        out["person"] = list(dict.fromkeys(people))
    labeler = (it.get("label") or {}).get("labeler")
    if labeler:
        out["labeler"] = [labeler + (" (overridden)" if it["label"].get("overridden") else "")]
    return out
