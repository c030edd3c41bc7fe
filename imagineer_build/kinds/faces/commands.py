"""`imagineer faces show|name|move|merge|nobody|pin`: read clusters, write the people file.

Every writing command first pins the numbers of the target's last built clusters (their
centroids go into the people file), so the numbers a person saw keep meaning the same people
after photos are added. Nothing but the people file is written; the next build applies it.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Annotated, Any, Optional

import typer  # already loaded by the CLI that calls register()

ProjectOpt = Annotated[Optional[Path], typer.Option("--project", "-C", help="project folder")]  # noqa: UP045
TargetArg = Annotated[str, typer.Argument(help="a faces target")]


class Session:
    """A faces target's last artifact and its people file, opened for one command."""

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

    def write(self, people, what: str) -> None:
        from ...core.store import atomic_write
        from .people import dump_people

        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, dump_people(people, self.name).encode("utf-8"))
        typer.echo(f"{what}; wrote {self.rel}", err=True)
        if self.t.config.people is None:
            typer.echo(f"add `people: {self.rel}` to {self.name} ({self.t.pos}) so builds apply it", err=True)
        else:
            typer.echo(f"imagineer build {self.name} applies it", err=True)


def register(app) -> None:
    faces_app = typer.Typer(help="faces targets: clusters, names and corrections", no_args_is_help=True)

    @faces_app.command("show")
    def show(target: TargetArg,
             cluster: Annotated[Optional[int], typer.Option("--cluster", "-c", help="list one cluster's faces")] = None,  # noqa: UP045
             project: ProjectOpt = None) -> None:
        """Clusters with their numbers, names, counts and example files."""
        from .show import describe

        s = Session(project, target)
        typer.echo(describe(s.view, cluster))

    @faces_app.command("name")
    def name(target: TargetArg, cluster: Annotated[int, typer.Argument(help="cluster number")],
             person: Annotated[str, typer.Argument(help="the person's name")], project: ProjectOpt = None) -> None:
        """Name a cluster (pins every cluster's number)."""
        from ...api import UserError
        from .people import ClusterEntry

        if not person.strip():
            raise UserError("a name cannot be empty")
        s = Session(project, target)
        people = s.pinned()
        n = s.cluster(people, cluster)
        people.clusters.setdefault(n, ClusterEntry()).name = person.strip()
        s.write(people, f"cluster {n} of {target} is {person.strip()}")

    @faces_app.command("move")
    def move(target: TargetArg, face: Annotated[str, typer.Argument(help="face id (or a unique prefix, or a one-face file)")],
             to: Annotated[str, typer.Argument(help="a cluster number or a person's name")], project: ProjectOpt = None) -> None:
        """Say which person (or cluster) a face belongs to; it survives re-clustering."""
        from .people import FaceEntry

        s = Session(project, target)
        people = s.pinned()
        f = s.face(face)
        entry = FaceEntry(cluster=s.cluster(people, int(to)), file=f["path"]) if to.isdigit() \
            else FaceEntry(person=to.strip(), file=f["path"])
        people.faces[f["id"]] = entry
        s.write(people, f"face {f['id']} ({f['path']}) → {to}")

    @faces_app.command("nobody")
    def nobody(target: TargetArg, face: Annotated[str, typer.Argument(help="face id (or a unique prefix, or a one-face file)")],
               project: ProjectOpt = None) -> None:
        """Say a face is nobody to track: it leaves every cluster."""
        from .people import FaceEntry

        s = Session(project, target)
        people = s.pinned()
        f = s.face(face)
        people.faces[f["id"]] = FaceEntry(nobody=True, file=f["path"])
        s.write(people, f"face {f['id']} ({f['path']}) is nobody")

    @faces_app.command("merge")
    def merge(target: TargetArg, into: Annotated[int, typer.Argument(help="the cluster that stays")],
              other: Annotated[int, typer.Argument(help="the cluster merged into it")], project: ProjectOpt = None) -> None:
        """Say two clusters are the same person: OTHER's faces join INTO."""
        from ...api import UserError
        from .people import ClusterEntry, resolve

        s = Session(project, target)
        people = s.pinned()
        a, b = s.cluster(people, into), s.cluster(people, other)
        if resolve(people, a) == resolve(people, b):
            raise UserError(f"clusters {a} and {b} are already one")
        ea = people.clusters.setdefault(a, ClusterEntry())
        eb = people.clusters.setdefault(b, ClusterEntry())
        if ea.name is None and eb.name is not None:
            ea.name = eb.name
        eb.merged_into = resolve(people, a)
        s.write(people, f"cluster {b} of {target} is merged into {a}")

    @faces_app.command("pin")
    def pin(target: TargetArg, project: ProjectOpt = None) -> None:
        """Record every cluster's number, so adding photos renumbers nothing."""
        s = Session(project, target)
        s.write(s.pinned(), f"pinned {len(s.clusters)} clusters of {target}")

    app.add_typer(faces_app, name="faces")
