"""`imagineer labels review TARGET`: bring the last build's proposals into the review file, list
the pending ones, and record decisions; approved proposals become overrides.

Nothing here builds or calls a model: the reviewer ran in the build. Files are written only
when something changed, atomically; a bad review file stops the command before any write.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .reviewfile import ReviewEntry

DEFAULT_OVERRIDES = "labels/{target}.yaml"


@dataclass
class Outcome:
    review_file: str
    entries: dict[str, ReviewEntry]
    added: int = 0
    dropped: int = 0
    decided: dict[str, str] = field(default_factory=dict)  # digest → approved | rejected (this run)
    overrides_file: str | None = None
    applied: int = 0
    hint: str | None = None


def review(project_dir: Path | None, target: str, approve: list[str], reject: list[str], approve_all: bool,
           reject_all: bool, ask: Callable[[str, ReviewEntry], str] | None = None) -> Outcome:
    from ...api import UserError, last_artifact, open_project
    from ...api import target as find_target
    from ...core.spec import SpecErrors
    from ...core.store import atomic_write
    from ...media.labelset import LabelSet
    from .reviewfile import dump, load_review, sync

    proj = open_project(project_dir)
    t = find_target(proj, target, "labels")
    cfg, _, rel = label_files(proj, t)
    if rel is None:
        raise UserError(f"{target} declares no review: add `review: {{by: claude}}` (or a vlm model) to it "
                        f"in {t.doc.file} and build it")
    view = last_artifact(proj, target)
    meta = view.meta.get("review")
    if meta is None:
        raise UserError(f"the last build of {target} has no review: imagineer build {target}", 1)
    path = proj.root / rel
    try:
        entries = load_review(path, rel) if path.exists() else {}
    except SpecErrors as e:
        raise UserError(f"{e}\nfix {rel} and run the command again; nothing was changed") from None
    ls = LabelSet.from_meta(view.meta)
    captions = {im.digest: ls.labels[im.digest].caption if im.digest in ls.labels else None for im in ls.album.images}
    paths = {im.digest: im.path for im in ls.album.images}
    entries, added, dropped = sync(entries, meta, captions, paths)
    out = Outcome(rel, entries, added, dropped)
    _decide(out, approve, reject, approve_all, reject_all, ask)
    todo = {d: e for d, e in entries.items() if e.status == "approved" and not e.applied}
    if todo:
        _apply(proj, target, t, cfg, todo, paths, out)
    text = dump(entries, target, meta.get("by"))
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        atomic_write(path, text.encode("utf-8"))
    return out


def match(entries: dict[str, ReviewEntry], item: str) -> str:
    """The digest an item names: a digest or its prefix (4+ characters), a path, a file name or stem."""
    from ...api import UserError

    def names(e: ReviewEntry) -> tuple[str | None, ...]:
        base = posixpath.basename(e.file or "")
        return e.file, base, posixpath.splitext(base)[0]

    hits = [d for d, e in entries.items() if (len(item) >= 4 and d.startswith(item)) or item in names(e)]
    if len(hits) != 1:
        raise UserError(f"{item!r} names {'no' if not hits else 'more than one'} entry of the review file"
                        + ("" if hits else " (give a digest prefix or a file name from the list)"))
    return hits[0]


def _decide(out: Outcome, approve: list[str], reject: list[str], approve_all: bool, reject_all: bool,
            ask: Callable[[str, ReviewEntry], str] | None) -> None:
    from ...api import UserError

    if approve_all and reject_all:
        raise UserError("give --approve-all or --reject-all, not both")
    chosen = {match(out.entries, i): "approved" for i in approve}
    for i in reject:
        d = match(out.entries, i)
        if chosen.get(d) == "approved":
            raise UserError(f"{i} is both approved and rejected")
        chosen[d] = "rejected"
    for d, e in out.entries.items():
        if e.status == "pending" and d not in chosen:
            if approve_all or reject_all:
                chosen[d] = "approved" if approve_all else "rejected"
            elif ask is not None:
                answer = ask(d, e)
                if answer == "quit":
                    break
                if answer in ("approved", "rejected"):
                    chosen[d] = answer
    for d, status in chosen.items():
        e = out.entries[d]
        if e.status != status:
            out.entries[d] = e.model_copy(update={"status": status, "applied": False})
            out.decided[d] = status


def _apply(proj, target: str, t, cfg, todo: dict[str, ReviewEntry], paths: dict[str, str], out: Outcome) -> None:
    """Write approved proposals into the overrides file (checked before it replaces the old one)."""
    from ...api import UserError
    from .overrides_edit import write_fields

    rel = cfg.overrides or DEFAULT_OVERRIDES.format(target=target)
    updates = {}
    for d, e in todo.items():
        note = f"approved in review by {e.by or 'the reviewer'}" + (f": {e.reason}" if e.reason else "")
        updates[d] = ({"caption": e.proposal}, {"file": posixpath.basename(paths.get(d) or e.file or d), "note": note})
    try:
        write_fields(proj.root / rel, updates)
    except ValueError as e:
        raise UserError(f"cannot write approved captions to {rel}: {e}; fix that file and run the "
                        "command again (the decisions are kept in the review file)", 1) from None
    for d in todo:
        out.entries[d] = out.entries[d].model_copy(update={"applied": True})
    out.overrides_file, out.applied = rel, len(todo)
    if not cfg.overrides:
        out.hint = (f"{target} names no overrides file: add `overrides: {rel}` to it in {t.doc.file} "
                    "so builds apply the approved captions")


def label_files(proj, t):
    """(resolved config, overrides file, review file or None) of a labels target, project-relative:
    the files `imagineer labels review` and the review web app write."""
    from ...api import UserError
    from .config import resolve
    from .review import default_file

    try:
        cfg = resolve(t.config, proj.settings_dict().get("defaults", {}).get("labels"))
    except ValueError as e:
        raise UserError(str(e)) from None
    review = (cfg.review.file or default_file(t.name)) if cfg.review is not None else None
    return cfg, cfg.overrides or DEFAULT_OVERRIDES.format(target=t.name), review
