"""`imagineer add SOURCE FILE_OR_DIR...`: put images people already have into a `dir:` source.

Each file is decoded before it is copied (non-images are refused with the reason), its bytes
are compared with what the folder already holds (duplicates are reported, not copied), and a
name already taken by different bytes gets a new name: nothing is ever overwritten. The
next `imagineer build` picks the files up like any other change to the folder.
"""

import json
from pathlib import Path
from typing import Annotated, Optional


def register(app) -> None:
    import typer

    @app.command()
    def add(
        source: Annotated[str, typer.Argument(help="a source target with `dir:`")],
        paths: Annotated[list[Path], typer.Argument(help="image files or folders (searched recursively)")],
        project: Annotated[Optional[Path], typer.Option("--project", "-C", help="project folder")] = None,  # noqa: UP045
        json_out: Annotated[bool, typer.Option("--json", help="one JSON line per file")] = False,
    ) -> None:
        """Copy images into a `dir:` source's folder, validating each; the next build picks them up."""
        from ...api import UserError, open_project
        from ...api import target as find_target
        from .uploads import add_files

        _make_missing_folder(project, source)
        proj = open_project(project)
        cfg = find_target(proj, source, "source").config
        if cfg.dir is None:
            raise UserError(f"{source} is not a `dir:` source; `imagineer add` copies into a source's folder")
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise UserError(f"no such file or folder: {', '.join(missing)}")
        dest = (proj.root / cfg.dir).resolve()
        results = add_files(paths, dest, cfg.decode.limits(), cfg.sidecar_ext)
        for r in results:
            if json_out:
                typer.echo(json.dumps(r))
            elif r["status"] == "added":
                renamed = f" (as {r['as']}: {r['reason']})" if r.get("reason") else ""
                typer.echo(f"added     {r['file']}{renamed}")
            elif r["status"] == "duplicate":
                typer.echo(f"duplicate {r['file']}: already in {cfg.dir} as {r['as']}")
            else:
                typer.echo(f"refused   {r['file']}: {r['reason']}", err=True)
        counts = {s: sum(r["status"] == s for r in results) for s in ("added", "duplicate", "refused")}
        if not json_out:
            typer.echo(f"{counts['added']} added, {counts['duplicate']} duplicate, {counts['refused']} refused "
                       f"→ {cfg.dir}; run `imagineer build {source}`", err=True)
        if counts["refused"]:
            raise typer.Exit(1)


def _make_missing_folder(project: Optional[Path], source: str) -> None:  # noqa: UP045
    """Create the named source's `dir:` folder if absent, so the first upload can fill it.

    The project loader rejects a spec whose folder does not exist; an upload is how it comes to.
    """
    from ...core.spec import SpecErrors, find_root, load_yaml

    try:
        root = find_root(project or Path.cwd())
    except SpecErrors:
        return  # _load reports it
    for f in sorted((root / "specs").glob("*.y*ml")):
        try:
            data = load_yaml(f, f.name).data
        except SpecErrors:
            continue
        raw = ((data or {}).get("sources") or {}).get(source) if isinstance(data, dict) else None
        folder = raw.get("dir") if isinstance(raw, dict) else None
        if isinstance(folder, str):
            path = (root / folder).resolve()
            if path.is_relative_to(root) and not path.exists():
                path.mkdir(parents=True)
            return
