"""Build a faces target: albums in → faces, clusters, people, contact sheets and an album out.

The artifact is an album of the scanned images (same blobs, nothing copied) whose records say
which faces each holds, so labels, datasets and person sources downstream can read it; plus
faces.json (every face: box, landmarks, score, sharpness, status, cluster, person),
embeddings.npy (one float32 row of 128 per face, in faces.json's `row` order) and
clusters/NNN.png (face crops per cluster).
"""

from __future__ import annotations

import io
import json
from typing import Any

from ...core.artifact import Artifact
from ...core.kind import BuildContext
from ...media.album import Album, AlbumImage
from .analyze import Params
from .cluster import Face, Settings, organize
from .config import FacesConfig
from .people import People, face_id, load_people


class FacesError(ValueError):
    """A faces target that cannot be built as specified; the message says which input is wrong."""


def gather(ctx: BuildContext, cfg: FacesConfig) -> tuple[list[AlbumImage], dict[str, str], dict[str, str]]:
    """(images once per digest in `of` order, digest → bytes path, path → blob digest)."""
    images: list[AlbumImage] = []
    paths: dict[str, str] = {}
    files: dict[str, str] = {}
    for i, name in enumerate(cfg.of):
        view = ctx.upstream[name]
        try:
            album = Album.from_meta(view.meta)
        except (ValueError, TypeError, KeyError) as e:
            raise FacesError(f"of[{i}]: {name!r} has no album of images ({e})") from None
        for im in album.images:
            if im.digest in paths:
                continue
            rel = im.path if im.path not in files else f"{name}/{im.path}"
            paths[im.digest] = str(ctx.file(view, im.path))
            files[rel] = view.files[im.path]
            images.append(AlbumImage(**{**im.to_dict(), "path": rel, "extra": dict(im.extra)}))
    return images, paths, files


def load_people_file(ctx: BuildContext, cfg: FacesConfig) -> People:
    if cfg.people is None:
        return People()
    from .people import PeopleError

    try:
        return load_people(ctx.inputs[cfg.people].abspath(""), cfg.people)
    except PeopleError as e:
        raise FacesError(f"people file:\n{e}") from None


def build_faces(ctx: BuildContext) -> Artifact:
    import numpy as np

    from .detect import detect_all
    from .dlibmodels import check_installed, versions

    cfg: FacesConfig = ctx.config
    check_installed()
    ctx.log(", ".join(f"{k} {v}" for k, v in versions().items()))
    people = load_people_file(ctx, cfg)
    images, paths, files = gather(ctx, cfg)
    params = Params(cfg.detector, cfg.upsample, cfg.landmarks, cfg.max_side)
    found = detect_all(ctx, [(im.digest, paths[im.digest]) for im in images], params,
                       lambda d, t: ctx.progress(d, t, "images scanned"))

    faces: list[Face] = []
    rows = []
    report: dict[str, list[dict[str, Any]]] = {"no_face": [], "skipped": [], "untrusted": [], "warnings": []}
    for im in images:
        det = found[im.digest]
        if det.error:
            report["skipped"].append({"path": im.path, "reason": det.error})
            ctx.log(f"skipped {im.path}: {det.error}", "warning")
            continue
        if not det.faces:
            report["no_face"].append({"path": im.path, "reason": "no face found"})
        for rec, vec in zip(det.faces, det.emb, strict=True):
            faces.append(Face(face_id(im.digest, rec["box"]), im.digest, im.path, rec["box"], rec["score"],
                              rec["sharpness"], rec["landmarks"], len(rows)))
            rows.append(vec)
    emb = np.asarray(rows, dtype="<f4").reshape(-1, 128)
    settings = Settings(cfg.threshold, cfg.min_cluster, cfg.min_score, cfg.min_face, cfg.min_sharpness)
    result = organize(faces, emb, settings, people)
    for f in faces:
        if f.status not in ("ok", "nobody"):
            report["untrusted"].append({"path": f.path, "face": f.id, "reason": f"{f.status}: {f.reason}"})
    for w in result.warnings:
        report["warnings"].append({"reason": w})
        ctx.log(w, "warning")

    by_image: dict[str, list[Face]] = {}
    for f in faces:
        by_image.setdefault(f.image, []).append(f)
    detector = params.detector_name
    for im in images:
        if im.digest in found and not found[im.digest].error:
            im.extra["faces"] = [{"id": f.id, "box": f.box, "score": f.score, "status": f.status,
                                  "cluster": f.cluster, "person": f.person} for f in by_image.get(im.digest, [])]
            im.extra["face_detector"] = detector

    by_path = {im.digest: im for im in images}
    summary = [{**{k: c[k] for k in ("cluster", "name", "size", "images", "centroid", "pinned", "merged")},
                "examples": sorted({by_path[fid.split(":")[0]].path for fid in c["faces"]})[:3]}
               for c in result.clusters]
    names = sorted({f.person for f in faces if f.person})
    out_files = dict(files)
    doc = {
        "version": 1,
        "detector": {"name": detector, "upsample": cfg.upsample, "landmarks": cfg.landmarks, "max_side": cfg.max_side},
        "settings": {"threshold": cfg.threshold, "min_cluster": cfg.min_cluster, "min_score": cfg.min_score,
                     "min_face": cfg.min_face, "min_sharpness": cfg.min_sharpness},
        "images": [{"digest": im.digest, "path": im.path, "width": im.width, "height": im.height,
                    **({"error": found[im.digest].error} if found[im.digest].error else {}),
                    "faces": [f.id for f in by_image.get(im.digest, [])]} for im in images],
        "faces": [f.record() for f in faces],
        "clusters": result.clusters,
        "names": names,
        "warnings": result.warnings,
    }
    out_files["faces.json"] = ctx.put_bytes(json.dumps(doc, indent=1, sort_keys=True).encode() + b"\n")
    buf = io.BytesIO()
    np.lib.format.write_array(buf, emb, allow_pickle=False)
    out_files["embeddings.npy"] = ctx.put_bytes(buf.getvalue())
    if cfg.contact_sheets:
        from .sheets import sheets

        groups: dict[str, list[Face]] = {}
        for f in faces:
            if f.cluster is not None:
                groups.setdefault(f"clusters/{f.cluster:03d}.png", []).append(f)
            elif f.status == "ok":
                groups.setdefault("clusters/unclustered.png", []).append(f)
        for rel, data in sheets(ctx, groups, paths).items():
            out_files[rel] = ctx.put_bytes(data)

    album = Album(images, report)
    meta = album.meta()
    meta["faces"] = {"detector": detector, "clusters": summary, "names": names, "people": cfg.people,
                     "corrections": result.corrections}
    facts = {**album.facts(), "faces": len(faces), "clusters": len(result.clusters),
             "named": sum(1 for c in result.clusters if c["name"]), "persons": len(names)}
    ctx.progress(len(images), len(images), f"{len(faces)} faces, {len(result.clusters)} clusters")
    return Artifact(files=out_files, meta=meta, facts=facts)
