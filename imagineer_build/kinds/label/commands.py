"""`imagineer labels export TARGET --to FILE`: the current labels as an editable overrides file.
`imagineer labels review TARGET`: the review's proposed caption fixes, approved or rejected.

Non-destructive: they read the target's last artifact and write only project files (FILE; the
review file and the overrides file); the specs, the lock and the cache are never touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer  # already loaded by the CLI that calls register()


def register(app) -> None:
    labels_app = typer.Typer(help="labels targets: export captions, review proposed fixes", no_args_is_help=True)

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

    @labels_app.command("review")
    def review(
        target: Annotated[str, typer.Argument(help="a labels target with review:")],
        items: Annotated[Optional[list[str]], typer.Argument(  # noqa: UP045
            help="entries for --approve / --reject: digest prefixes or file names")] = None,
        approve: Annotated[bool, typer.Option("--approve", help="approve the ITEMS")] = False,
        reject: Annotated[bool, typer.Option("--reject", help="reject the ITEMS")] = False,
        approve_all: Annotated[bool, typer.Option("--approve-all", help="approve every pending proposal")] = False,
        reject_all: Annotated[bool, typer.Option("--reject-all", help="reject every pending proposal")] = False,
        interactive: Annotated[bool, typer.Option("--interactive", "-i", help="decide one by one")] = False,
        project: Annotated[Optional[Path], typer.Option("--project", "-C", help="project folder")] = None,  # noqa: UP045
    ) -> None:
        """Show pending caption fixes (path, caption, proposal, reason) and approve or reject them.

        Approved proposals are written to the target's overrides file (default labels/TARGET.yaml);
        the next build applies them. The review file (default reviews/TARGET.yaml) keeps every decision.
        """
        from ...api import UserError
        from .review_cmd import review as run_review

        items = items or []
        if items and approve == reject:
            raise UserError("with ITEMS, give --approve or --reject")
        if (approve or reject) and not items:
            raise UserError("--approve / --reject need ITEMS (digest prefixes or file names); "
                            "or use --approve-all / --reject-all")
        ask = _ask if interactive else None
        out = run_review(project, target, items if approve else [], items if reject else [],
                         approve_all, reject_all, ask)
        typer.echo(render(target, out, show_pending=not interactive))

    app.add_typer(labels_app, name="labels")


def _ask(digest: str, entry) -> str:
    typer.echo(_entry(digest, entry))
    while True:
        a = typer.prompt("  [a]pprove, [r]eject, [s]kip, [q]uit", default="s").strip().lower()[:1]
        if a in ("a", "r", "s", "q"):
            return {"a": "approved", "r": "rejected", "s": "skip", "q": "quit"}[a]


def _entry(digest: str, e) -> str:
    lines = [f"  {digest[:12]}  {e.file or ''}", f"    caption:  {e.caption}", f"    proposal: {e.proposal}"]
    if e.reason:
        lines.append(f"    reason:   {e.reason}")
    return "\n".join(lines)


def render(target: str, out, show_pending: bool = True) -> str:
    """The summary line, what this run decided, and the pending entries."""
    counts = {s: sum(1 for e in out.entries.values() if e.status == s) for s in ("pending", "approved", "rejected")}
    lines = [f"{target}: {counts['pending']} pending, {counts['approved']} approved, {counts['rejected']} rejected "
             f"({out.review_file}; {out.added} new, {out.dropped} no longer apply)"]
    for d, status in out.decided.items():
        lines.append(f"  {status} {d[:12]}  {out.entries[d].file or ''}")
    if out.applied:
        lines.append(f"wrote {out.applied} approved caption{'s' if out.applied != 1 else ''} to {out.overrides_file}; "
                     f"imagineer build {target} applies {'them' if out.applied != 1 else 'it'}")
    if out.hint:
        lines.append(f"note: {out.hint}")
    if show_pending:
        lines += [_entry(d, e) for d, e in out.entries.items() if e.status == "pending"]
    return "\n".join(lines)


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
