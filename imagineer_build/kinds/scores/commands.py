"""`imagineer scores flag TARGET FILE… --failed | --ok | --clear`: hand flags that always win.

Writes only the target's flags file (its `overrides:`, else flags/TARGET.yaml, which the spec
must then name); the album, the specs, the lock and the cache are never touched. FILE is an
image file (matched by its bytes), a path in the album, a file name, or an image digest.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Annotated, Optional

import typer  # already loaded by the CLI that calls register()


def register(app) -> None:
    scores_app = typer.Typer(help="scores targets: flag images failed or ok by hand", no_args_is_help=True)

    @scores_app.command("flag")
    def flag(
        target: Annotated[str, typer.Argument(help="a scores target")],
        files: Annotated[list[str], typer.Argument(help="images: a file, an album path or name, or a digest")],
        failed: Annotated[bool, typer.Option("--failed", help="mark them failed")] = False,
        ok: Annotated[bool, typer.Option("--ok", help="mark them ok (success)")] = False,
        clear: Annotated[bool, typer.Option("--clear", help="remove their flags")] = False,
        note: Annotated[Optional[str], typer.Option("--note", help="a note kept beside the flag")] = None,  # noqa: UP045
        to: Annotated[Optional[Path], typer.Option("--to", help="flags file when the target names none (default flags/TARGET.yaml)")] = None,  # noqa: UP045
        project: Annotated[Optional[Path], typer.Option("--project", "-C", help="project folder")] = None,  # noqa: UP045
    ) -> None:
        """Mark images of TARGET failed or ok (or clear their flags) in its flags file."""
        from ...api import UserError, last_artifact, open_project
        from ...api import target as find_target
        from ...media.album import Album
        from .flags import FlagsError, flag_entry, flags_file, write_flags

        if failed + ok + clear != 1:
            raise UserError("give exactly one of --failed, --ok, --clear")
        proj = open_project(project)
        t = find_target(proj, target, "scores")
        album = Album.from_meta(last_artifact(proj, target).meta)
        rel = flags_file(t.config, target, to)
        value = None if clear else ("failed" if failed else "ok")
        updates = {}
        for f in files:
            im = find_image(album.images, f)
            updates[im.digest] = None if value is None else flag_entry(im, value, note)
        try:
            write_flags(proj.root / rel, updates, target)
        except (FlagsError, ValueError) as e:
            raise UserError(f"{rel}: {e}", 1) from None
        what = "cleared" if clear else f"flagged {value}"
        typer.echo(f"{what}: {len(updates)} image(s) of {target} in {rel}", err=True)
        if not t.config.overrides:
            typer.echo(f"add `overrides: {rel}` to {target} in {t.doc.file} so the flags apply", err=True)

    app.add_typer(scores_app, name="scores")


def find_image(images, ref: str):
    """The album image a FILE argument names; a UserError says why none (or several) match."""
    from ...api import UserError
    from ...core.hashing import digest_file

    p = Path(ref)
    if p.is_file():
        digest = digest_file(p)[0]
        for im in images:
            if im.digest == digest:
                return im
    hits = [im for im in images if ref in (im.digest, im.path)]
    if not hits:
        hits = [im for im in images if posixpath.basename(im.path) == p.name]
    if not hits and len(ref) >= 6:
        hits = [im for im in images if im.digest.startswith(ref)]
    if len({im.digest for im in hits}) == 1:
        return hits[0]
    if hits:
        raise UserError(f"{ref} matches {len(hits)} images ({', '.join(im.path for im in hits[:5])}); "
                        "name it by its album path or digest")
    raise UserError(f"{ref} is not an image of this target (give an image file, its path in the album, its file "
                    "name or its digest)")
