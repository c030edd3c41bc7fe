"""`imagineer faces show|name|move|merge|nobody|pin`: read clusters, write the people file.

Every writing command first pins the numbers of the target's last built clusters (their
centroids go into the people file), so the numbers a person saw keep meaning the same people
after photos are added. Nothing but the people file is written; the next build applies it.
The edits themselves live in session.py, shared with the review web app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer  # already loaded by the CLI that calls register()

ProjectOpt = Annotated[Optional[Path], typer.Option("--project", "-C", help="project folder")]  # noqa: UP045
TargetArg = Annotated[str, typer.Argument(help="a faces target")]
FaceArg = Annotated[str, typer.Argument(help="face id (or a unique prefix, or a one-face file)")]


def register(app) -> None:
    from .session import Session

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
        typer.echo(Session(project, target).name_cluster(cluster, person), err=True)

    @faces_app.command("move")
    def move(target: TargetArg, face: FaceArg,
             to: Annotated[str, typer.Argument(help="a cluster number or a person's name")], project: ProjectOpt = None) -> None:
        """Say which person (or cluster) a face belongs to; it survives re-clustering."""
        typer.echo(Session(project, target).move_face(face, to), err=True)

    @faces_app.command("nobody")
    def nobody(target: TargetArg, face: FaceArg, project: ProjectOpt = None) -> None:
        """Say a face is nobody to track: it leaves every cluster."""
        typer.echo(Session(project, target).nobody(face), err=True)

    @faces_app.command("merge")
    def merge(target: TargetArg, into: Annotated[int, typer.Argument(help="the cluster that stays")],
              other: Annotated[int, typer.Argument(help="the cluster merged into it")], project: ProjectOpt = None) -> None:
        """Say two clusters are the same person: OTHER's faces join INTO."""
        typer.echo(Session(project, target).merge(into, other), err=True)

    @faces_app.command("pin")
    def pin(target: TargetArg, project: ProjectOpt = None) -> None:
        """Record every cluster's number, so adding photos renumbers nothing."""
        typer.echo(Session(project, target).pin(), err=True)

    app.add_typer(faces_app, name="faces")
