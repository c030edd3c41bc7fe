"""Text for `imagineer show` and `imagineer faces show`: clusters with counts and examples."""

from __future__ import annotations

from typing import Any

from ...core.artifact import ArtifactView
from ...textfmt import lines_cut


def describe(view: ArtifactView, cluster: int | None = None, limit: int | None = 50) -> str:
    m = view.meta.get("faces", {})
    f = view.facts
    report = view.meta.get("report", {})
    lines = [f"{f.get('images', 0)} images, {f.get('faces', 0)} faces ({m.get('detector')}), "
             f"{f.get('clusters', 0)} clusters, {f.get('named', 0)} named"]
    if m.get("names"):
        lines.append("people: " + ", ".join(m["names"]))
    if cluster is not None:
        return "\n".join(lines + cluster_faces(view, cluster))
    for c in m.get("clusters", []):
        name = c["name"] or "(unnamed)"
        merged = f", merged {', '.join(map(str, c['merged']))}" if c.get("merged") else ""
        lines.append(f"  cluster {c['cluster']:>3}  {name:<16} {c['size']:>4} faces in {c['images']} images"
                     f"{merged}: {', '.join(c['examples'])}")
    if m.get("clusters") and not all(c["pinned"] for c in m["clusters"]):
        lines.append("numbers not pinned yet: naming a cluster (or `imagineer faces pin TARGET`) keeps them "
                     "when photos are added")
    for section, title in (("untrusted", "not trusted"), ("no_face", "no face"), ("skipped", "skipped"),
                           ("warnings", "warnings")):
        entries = report.get(section) or []
        if entries:
            lines.append(f"{title}: {len(entries)}")
            lines += lines_cut([f"  {_entry(e)}" for e in entries], limit)
    return "\n".join(lines)


def _entry(e: dict[str, Any]) -> str:
    where = e.get("path")
    return f"{where}: {e['reason']}" if where else e["reason"]


def cluster_faces(view: ArtifactView, cluster: int) -> list[str]:
    """Every face of one cluster with its id (what `faces move` / `faces nobody` take)."""
    import json

    doc = json.loads(view.read("faces.json"))
    faces = [f for f in doc["faces"] if f["cluster"] == cluster]
    if not faces:
        known = ", ".join(str(c["cluster"]) for c in doc["clusters"]) or "none"
        return [f"cluster {cluster} has no faces (clusters: {known})"]
    return [f"cluster {cluster}: {len(faces)} faces"] + [
        f"  {f['id']}  {f['path']}  score {f['score']:.2f}" + (f"  ({f['corrected']})" if f.get("corrected") else "")
        for f in faces]
