"""Faces → trusted or not → clusters with stable numbers → people, with the corrections applied.

Pure and deterministic: faces are clustered in face-id order (dlib's Chinese whispers with its
fixed seed), numbers come from the people file's pinned centroids (nearest first, one to one,
within the threshold), and clusters that match no pin are numbered after every number the file
uses, largest first. Nothing here depends on earlier builds: only on the faces and the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .people import FaceEntry, People, decode_vector, encode_vector, parse_face_id, resolve


@dataclass
class Face:
    id: str
    image: str  # image digest
    path: str  # the image's path in the album
    box: list[int]
    score: float
    sharpness: float
    landmarks: list[list[int]]
    row: int  # row of its embedding
    status: str = "ok"  # ok | small | low-score | blurry | nobody
    reason: str | None = None
    cluster: int | None = None
    person: str | None = None
    corrected: str | None = None  # moved | nobody: a people-file entry decided this

    def record(self) -> dict[str, Any]:
        r = {"id": self.id, "image": self.image, "path": self.path, "box": self.box, "score": self.score,
             "sharpness": self.sharpness, "landmarks": self.landmarks, "row": self.row, "status": self.status,
             "cluster": self.cluster, "person": self.person}
        if self.reason:
            r["reason"] = self.reason
        if self.corrected:
            r["corrected"] = self.corrected
        return r


@dataclass
class Settings:
    threshold: float
    min_cluster: int
    min_score: float
    min_face: int
    min_sharpness: float


@dataclass
class Organized:
    clusters: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    corrections: int = 0


def trust(f: Face, s: Settings) -> None:
    """Mark a face that is too small, too uncertain or too blurry to cluster, with the reason."""
    if min(f.box[2], f.box[3]) < s.min_face:
        f.status, f.reason = "small", f"{min(f.box[2], f.box[3])} px, under min_face {s.min_face}"
    elif f.score < s.min_score:
        f.status, f.reason = "low-score", f"detection score {f.score:.2f}, under min_score {s.min_score}"
    elif f.sharpness < s.min_sharpness:
        f.status, f.reason = "blurry", f"sharpness {f.sharpness:.0f}, under min_sharpness {s.min_sharpness:g}"


def iou(a: list[int], b: list[int]) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def match_corrections(people: People, faces: list[Face]) -> tuple[list[tuple[Face, FaceEntry]], list[str]]:
    """People-file face entries → faces: the same id, else the same image's face overlapping
    the recorded box most (IoU ≥ 0.5, so a re-detected box still matches). Others are warned."""
    by_id = {f.id: f for f in faces}
    by_image: dict[str, list[Face]] = {}
    for f in faces:
        by_image.setdefault(f.image, []).append(f)
    out, warnings = [], []
    for key in sorted(people.faces):
        entry = people.faces[key]
        face = by_id.get(key)
        if face is None and (parsed := parse_face_id(key)):
            digest, box = parsed
            near = sorted(((iou(box, f.box), f.id, f) for f in by_image.get(digest, [])), key=lambda t: (-t[0], t[1]))
            if near and near[0][0] >= 0.5:
                face = near[0][2]
        if face is None:
            shown = f" ({entry.file})" if entry.file else ""
            warnings.append(f"people file: face {key}{shown} is not among this build's faces; ignored")
            continue
        out.append((face, entry))
    return out, warnings


def whispers(vectors, threshold: float) -> list[int]:
    """dlib's Chinese whispers: deterministic for the same vectors in the same order."""
    from .dlibmodels import dlib_module

    if len(vectors) == 1:
        return [0]
    dlib = dlib_module()
    return list(dlib.chinese_whispers_clustering([dlib.vector(list(map(float, v))) for v in vectors], threshold))


def number_groups(ordered: list[list[Face]], emb, people: People, s: Settings, warnings: list[str]) -> dict[int, int]:
    """group index → cluster number: the nearest pinned centroid within the threshold (one to
    one, nearest pair first), else the next number after every one the people file uses (for
    groups of at least min_cluster faces; smaller ones stay unclustered)."""
    import numpy as np

    pins = {}
    for n, entry in sorted(people.clusters.items()):
        if entry.centroid is None:
            warnings.append(f"people file: cluster {n} has no centroid, so no cluster can match it "
                            "(`imagineer faces pin TARGET` records them)")
        else:
            pins[n] = decode_vector(entry.centroid)
    centroids = [emb[[f.row for f in g]].mean(axis=0) for g in ordered]
    pairs = sorted((float(np.linalg.norm(c - p)), n, gi)
                   for gi, c in enumerate(centroids) for n, p in pins.items())
    number: dict[int, int] = {}
    taken: set[int] = set()
    for dist, n, gi in pairs:
        if dist < s.threshold and gi not in number and n not in taken:
            number[gi] = n
            taken.add(n)
    used = set(people.clusters) | {e.merged_into for e in people.clusters.values() if e.merged_into}
    nxt = max(used, default=0) + 1
    for gi, g in enumerate(ordered):
        if gi in number:
            continue
        if len(g) >= s.min_cluster:
            number[gi] = nxt
            nxt += 1
        else:
            for f in g:
                f.reason = f"in a group of {len(g)}, under min_cluster {s.min_cluster}"
    return number


def organize(faces: list[Face], emb, s: Settings, people: People) -> Organized:
    """Fill each face's status, cluster and person; return the clusters and the warnings."""
    for f in faces:
        f.status, f.reason, f.cluster, f.person, f.corrected = "ok", None, None, None, None
        trust(f, s)
    matched, warnings = match_corrections(people, faces)
    for f, e in matched:
        if e.nobody:
            f.status, f.reason, f.corrected = "nobody", "marked nobody in the people file", "nobody"
    trusted = sorted((f for f in faces if f.status == "ok"), key=lambda f: f.id)
    groups: dict[int, list[Face]] = {}
    if trusted:
        for f, label in zip(trusted, whispers(emb[[f.row for f in trusted]], s.threshold), strict=True):
            groups.setdefault(label, []).append(f)
    ordered = sorted(groups.values(), key=lambda g: (-len(g), g[0].id))
    number = number_groups(ordered, emb, people, s, warnings)
    for gi, n in number.items():
        for f in ordered[gi]:
            f.cluster = resolve(people, n)

    def name_of(n: int | None) -> str | None:
        entry = people.clusters.get(n) if n is not None else None
        return entry.name if entry else None

    for f in faces:
        f.person = name_of(f.cluster)
    corrections = 0
    for f, e in matched:
        if e.nobody:
            f.cluster, f.person = None, None
        elif e.cluster is not None:
            n = resolve(people, e.cluster)
            if n not in people.clusters and n not in set(number.values()):
                warnings.append(f"people file: face {f.id} is moved to cluster {e.cluster}, which does not exist; ignored")
                continue
            f.cluster, f.person, f.corrected = n, name_of(n), "moved"
        else:
            named = sorted({g.cluster for g in faces if g.cluster is not None and name_of(g.cluster) == e.person})
            f.cluster, f.person, f.corrected = (named[0] if named else None), e.person, "moved"
        corrections += 1
    return Organized(final_clusters(faces, emb, people), warnings, corrections)


def final_clusters(faces: list[Face], emb, people: People) -> list[dict[str, Any]]:
    """One record per cluster number that has faces after the corrections, by number."""
    members: dict[int, list[Face]] = {}
    for f in faces:
        if f.cluster is not None:
            members.setdefault(f.cluster, []).append(f)
    out = []
    for n in sorted(members):
        fs = sorted(members[n], key=lambda f: f.id)
        entry = people.clusters.get(n)
        out.append({
            "cluster": n,
            "name": entry.name if entry else None,
            "size": len(fs),
            "images": len({f.image for f in fs}),
            "faces": [f.id for f in fs],
            "centroid": encode_vector(emb[[f.row for f in fs]].mean(axis=0)),
            "pinned": bool(entry and entry.centroid),
            "merged": sorted(m for m, e in people.clusters.items() if e.merged_into is not None and resolve(people, m) == n),
        })
    return out
