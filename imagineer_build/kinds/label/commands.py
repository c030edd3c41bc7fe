"""`imagineer labels export TARGET --to FILE`: the current labels as an editable overrides file.

Non-destructive: it reads the target's last artifact and writes only FILE; the specs, the lock
and the cache are never touched. Commit the edited file and name it in `overrides:`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer  # already loaded by the CLI that calls register()


def register(app) -> None:
    labels_app = typer.Typer(help="labels targets: export captions for review", no_args_is_help=True)

    @labels_app.command("export")
    def export(
        target: Annotated[str, typer.Argument(help="a labels target")],
        to: Annotated[Path, typer.Option("--to", help="YAML file to write (overrides format)")],
        force: Annotated[bool, typer.Option("--force", "-f", help="replace FILE if it exists")] = False,
        project: Annotated[Optional[Path], typer.Option("--project", "-C", help="project folder")] = None,  # noqa: UP045
    ) -> None:
        """Write TARGET's current labels, keyed by image digest, for people to review and edit."""
        from ...api import UserError, open_project
        from ...api import target as find_target
        from ...core.store import atomic_write

        proj = open_project(project)
        find_target(proj, target, "labels")
        out = to if to.is_absolute() else Path.cwd() / to
        if out.exists() and not force:
            raise UserError(f"{to} exists; pass --force to replace it", 1)
        text, n = export_text(proj, target)

        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, text.encode("utf-8"))
        typer.echo(f"wrote {n} labels of {target} to {to}", err=True)

    app.add_typer(labels_app, name="labels")


def export_text(proj, target: str) -> tuple[str, int]:
    """(YAML text, number of images) of the target's last built labels."""
    import yaml

    from ...api import last_artifact
    from ...media.labelset import LabelSet
    from .overrides import export_entries

    view = last_artifact(proj, target)
    digest = view.digest
    ls = LabelSet.from_meta(view.meta)
    entries = export_entries(ls.labels, ls.album.images)
    head = (f"# Labels of {target} (artifact {digest[:12]}), keyed by image digest.\n"
            "# Edit caption / tags / nsfw (SAFE, SUGGESTIVE, ADULT, EXPLICIT), or use add_tags / remove_tags;\n"
            "# delete entries you do not change. Name this file in the target's `overrides:` to apply it.\n"
            "# `file`, `labeler` and `error` are for reading only.\n")
    body = yaml.safe_dump(entries, sort_keys=False, allow_unicode=True, width=100)
    return head + body, len(entries)
