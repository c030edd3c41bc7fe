"""A faces target's last artifact and its people file, opened for one edit.

`imagineer faces name|move|nobody|merge|pin` and the review web app edit the people file
through these methods, so both write the same file the same way: every write first pins the
numbers of the last built clusters (their centroids go into the file), so the numbers a person
saw keep meaning the same people after photos are added. Each method returns what it did.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any


class Session:
    def __init__(self, project: Path | None, target: str):
        from ...api import last_artifact, open_project
        from ...api import target as find_target

        self.proj = open_project(project)
        self.t = find_target(self.proj, target, "faces")
        self.name = target
        self.view = last_artifact(self.proj, target)
        self.rel = self.t.config.people or f"people/{target}.yaml"
        self.path = self.proj.root / self.rel
        self._doc: dict[str, Any] | None = None

    @property
    def clusters(self) -> list[dict[str, Any]]:
        return self.view.meta.get("faces", {}).get("clusters", [])

    def doc(self) -> dict[str, Any]:
        import json

        if self._doc is None:
            self._doc = json.loads(self.view.read("faces.json"))
        return self._doc

    def people(self):
        from ...api import UserError
        from .people import People, PeopleError, load_people

        if not self.path.exists():
            return People()
        try:
            return load_people(self.path, self.rel)
        except PeopleError as e:
            raise UserError(f"cannot edit {self.rel}:\n{e}") from None

    def pinned(self):
        """The people file with every current cluster's centroid recorded under its number."""
        from .people import ClusterEntry

        people = self.people()
        for c in self.clusters:
            entry = people.clusters.get(c["cluster"]) or ClusterEntry()
            entry.centroid = c["centroid"]
            people.clusters[c["cluster"]] = entry
        return people

    def cluster(self, people, n: int) -> int:
        from ...api import UserError

        known = {c["cluster"] for c in self.clusters} | set(people.clusters)
        if n not in known:
            shown = ", ".join(map(str, sorted(known))) or "none"
            raise UserError(f"{self.name} has no cluster {n} (clusters: {shown}); `imagineer faces show {self.name}`")
        return n

    def face(self, text: str) -> dict[str, Any]:
        """A face by id, id prefix, or the file name of an image with one face."""
        from ...api import UserError

        faces = self.doc()["faces"]
        hits = [f for f in faces if f["id"] == text] or [f for f in faces if f["id"].startswith(text)] or \
            [f for f in faces if text in (f["path"], posixpath.basename(f["path"]))]
        if len(hits) == 1:
            return hits[0]
        if not hits:
            raise UserError(f"no face of {self.name} matches {text!r}; "
                            f"`imagineer faces show {self.name} --cluster N` lists face ids")
        raise UserError(f"{text!r} matches {len(hits)} faces; give more of the id:\n  "
                        + "\n  ".join(f"{f['id']}  {f['path']}" for f in hits[:10]))

    def write(self, people, what: str) -> str:
        """Write the people file atomically; the message says what happened and what applies it."""
        from ...core.store import atomic_write
        from .people import dump_people

        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, dump_people(people, self.name).encode("utf-8"))
        if self.t.config.people is None:
            hint = f"add `people: {self.rel}` to {self.name} ({self.t.pos}) so builds apply it"
        else:
            hint = f"imagineer build {self.name} applies it"
        return f"{what}; wrote {self.rel}\n{hint}"

    # ---- the edits ------------------------------------------------------------------------

    def name_cluster(self, cluster: int, person: str) -> str:
        from ...api import UserError
        from .people import ClusterEntry

        if not person.strip():
            raise UserError("a name cannot be empty")
        people = self.pinned()
        n = self.cluster(people, cluster)
        people.clusters.setdefault(n, ClusterEntry()).name = person.strip()
        return self.write(people, f"cluster {n} of {self.name} is {person.strip()}")

    def move_face(self, face: str, to: str) -> str:
        """`to`: a cluster number or a person's name."""
        from ...api import UserError
        from .people import FaceEntry

        if not to.strip():
            raise UserError("say where the face goes: a cluster number or a person's name")
        people = self.pinned()
        f = self.face(face)
        entry = FaceEntry(cluster=self.cluster(people, int(to)), file=f["path"]) if to.strip().isdigit() \
            else FaceEntry(person=to.strip(), file=f["path"])
        people.faces[f["id"]] = entry
        return self.write(people, f"face {f['id']} ({f['path']}) → {to.strip()}")

    def nobody(self, face: str) -> str:
        from .people import FaceEntry

        people = self.pinned()
        f = self.face(face)
        people.faces[f["id"]] = FaceEntry(nobody=True, file=f["path"])
        return self.write(people, f"face {f['id']} ({f['path']}) is nobody")

    def merge(self, into: int, other: int) -> str:
        from ...api import UserError
        from .people import ClusterEntry, resolve

        people = self.pinned()
        a, b = self.cluster(people, into), self.cluster(people, other)
        if resolve(people, a) == resolve(people, b):
            raise UserError(f"clusters {a} and {b} are already one")
        ea = people.clusters.setdefault(a, ClusterEntry())
        eb = people.clusters.setdefault(b, ClusterEntry())
        if ea.name is None and eb.name is not None:
            ea.name = eb.name
        eb.merged_into = resolve(people, a)
        return self.write(people, f"cluster {b} of {self.name} is merged into {a}")

    def pin(self) -> str:
        return self.write(self.pinned(), f"pinned {len(self.clusters)} clusters of {self.name}")
