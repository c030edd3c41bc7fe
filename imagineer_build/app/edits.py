"""Edits from the pages: each writes one project file through the same function the CLI uses.

Nothing is edited in place but those files: label overrides (caption, tags, NSFW rating),
score flags, the review file (approve / reject a proposed caption) and the people file (name
a cluster, move a face). The next build applies them, because the specs name those files.

Two tabs never lose an edit: every form carries a fingerprint of the entry it showed; the
file is read again under a per-file lock just before the write, and when that entry changed
meanwhile (in another tab, by the CLI or by hand) the write is refused with what it is now.
Other entries may change freely: the write re-reads the file and touches only its entry.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..api import UserError
from ..api import target as find_target
from ..core.hashing import digest_json

NONE = "none"


class Conflict(Exception):
    """The entry changed since the page showed it; the message says what it is now."""


@dataclass
class Written:
    file: str  # project-relative
    message: str
    target: str  # what a build must rebuild to apply it
    hint: str | None = None  # the spec does not name the file yet
    seen: str | None = None  # the entry's fingerprint now: the page's next edit of it starts from here

    def to_json(self) -> dict[str, Any]:
        return {"ok": True, "file": self.file, "message": self.message, "target": self.target, "hint": self.hint,
                "seen": self.seen}


def fingerprint(value: Any) -> str:
    return NONE if value is None else digest_json(value)[:16]


class Editor:
    def __init__(self, ws):
        self.ws = ws
        self._locks: dict[Path, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, path: Path) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(path.resolve(), threading.Lock())

    def _image(self, target: str, digest: str) -> dict[str, Any]:
        cat = self.ws.catalog(target)
        it = cat.item(digest) if cat is not None else None
        if it is None:
            raise UserError(f"{digest[:12]} is not an image of {target}'s last build")
        return it

    @staticmethod
    def _check(seen: str, now: Any, what: str) -> None:
        if seen != fingerprint(now):
            shown = "nothing" if now is None else repr(now)
            raise Conflict(f"{what} changed since this page was loaded (in another tab, by a command or by "
                           f"hand); it is now {shown[:300]}. Nothing was written: reload the page and edit again.")

    # ---- labels: overrides file --------------------------------------------------------------

    def label_state(self, target: str, digest: str) -> dict[str, Any]:
        """The overrides file, this image's entry in it, and the label the next build would give."""
        from ..kinds.label.overrides import OverrideEntry, apply_entry
        from ..kinds.label.review_cmd import label_files
        from ..media.labelset import Label

        proj = self.ws.project()
        t = find_target(proj, target, "labels")
        cfg, rel, review_rel = label_files(proj, t)
        data = self.ws.read_yaml(rel)
        entry = data.get(digest) if isinstance(data, dict) else None
        it = self._image(target, digest)
        built = Label(**it["label"]) if it.get("label") else Label()
        try:
            pending = apply_entry(built, OverrideEntry.model_validate(entry)) if isinstance(entry, dict) else built
        except ValueError:
            pending = built
        return {"target": target, "file": rel, "named": bool(cfg.overrides), "entry": entry,
                "seen": fingerprint(entry), "built": built, "pending": pending, "review_file": review_rel}

    def edit_label(self, target: str, digest: str, seen: str, changes: dict[str, Any]) -> Written:
        """changes: caption (str), tags (list of str), nsfw (a rating or None)."""
        import yaml

        from ..kinds.label.overrides_edit import write_fields
        from ..kinds.label.review_cmd import label_files
        from ..media.labelset import NSFW_RATINGS

        proj = self.ws.project()
        t = find_target(proj, target, "labels")
        cfg, rel, _ = label_files(proj, t)
        it = self._image(target, digest)
        fields: dict[str, Any] = {}
        if "caption" in changes:
            caption = str(changes["caption"]).strip()
            if not caption:
                raise UserError("a caption cannot be empty")
            fields["caption"] = caption
        if "tags" in changes:
            tags = changes["tags"]
            if not isinstance(tags, list) or not all(isinstance(x, str) for x in tags):
                raise UserError("tags must be a list of words")
            fields["tags"] = list(dict.fromkeys(x.strip() for x in tags if x.strip()))
        if "nsfw" in changes:
            if changes["nsfw"] not in (*NSFW_RATINGS, None):
                raise UserError(f"nsfw must be one of {', '.join(NSFW_RATINGS)} (or none)")
            fields["nsfw"] = changes["nsfw"]
        if not fields:
            raise UserError("nothing to change")
        path = proj.root / rel
        with self._lock(path):
            try:
                current = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
            except yaml.YAMLError as e:
                raise UserError(f"{rel} is not valid YAML ({e}); fix it by hand first") from None
            entry = current.get(digest) if isinstance(current, dict) else None
            self._check(seen, entry, f"{it['name']} in {rel}")
            if "tags" in fields and isinstance(entry, dict):
                for k in ("add_tags", "remove_tags"):  # the tags given are the whole list now
                    if entry.get(k):
                        fields[k] = []
            try:
                write_fields(path, {digest: (fields, {"file": it["name"]})})
            except ValueError as e:
                raise UserError(f"cannot write {rel}: {e}") from None
            seen_now = fingerprint((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get(digest))
        what = ", ".join(sorted(k for k in fields if k in changes))
        return Written(rel, f"{it['name']}: {what} written to {rel}; building {target} applies it", target,
                       None if cfg.overrides else f"{target} names no overrides file: add `overrides: {rel}` "
                                                  f"to it in {t.doc.file} so builds apply it", seen_now)

    # ---- scores: hand flags ------------------------------------------------------------------

    def flag_state(self, target: str, digest: str) -> dict[str, Any]:
        from ..kinds.scores.flags import flags_file

        proj = self.ws.project()
        t = find_target(proj, target, "scores")
        rel = flags_file(t.config, target)
        data = self.ws.read_yaml(rel)
        entry = data.get(digest) if isinstance(data, dict) else None
        flag = entry.get("flag") if isinstance(entry, dict) else entry
        return {"target": target, "file": rel, "named": bool(t.config.overrides), "entry": entry,
                "seen": fingerprint(entry), "pending": flag}

    def flag(self, target: str, digest: str, seen: str, flag: str | None, note: str | None = None) -> Written:
        """flag: failed | ok, or None to clear it."""
        import yaml

        from ..kinds.scores.flags import FLAGS, FlagsError, flag_entry, flags_file, write_flags
        from ..media.album import AlbumImage

        if flag is not None and flag not in FLAGS:
            raise UserError("flag must be failed or ok (or clear)")
        proj = self.ws.project()
        t = find_target(proj, target, "scores")
        rel = flags_file(t.config, target)
        it = self._image(target, digest)
        path = proj.root / rel
        with self._lock(path):
            try:
                current = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
            except yaml.YAMLError as e:
                raise UserError(f"{rel} is not valid YAML ({e}); fix it by hand first") from None
            self._check(seen, current.get(digest) if isinstance(current, dict) else None, f"the flag of {it['name']}")
            im = AlbumImage(digest=digest, path=it["path"], width=it["width"], height=it["height"],
                            format=it["format"] or "", origin=it["origin"] or "")
            try:
                write_flags(path, {digest: None if flag is None else flag_entry(im, flag, note or None)}, target)
            except (FlagsError, ValueError) as e:
                raise UserError(f"cannot write {rel}: {e}") from None
            seen_now = fingerprint((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get(digest))
        what = "flag cleared" if flag is None else f"flagged {flag}"
        return Written(rel, f"{it['name']}: {what} in {rel}; building {target} applies it", target,
                       None if t.config.overrides else f"{target} names no flags file: add `overrides: {rel}` "
                                                       f"to it in {t.doc.file} so builds apply the flags", seen_now)

    # ---- labels: review proposals ------------------------------------------------------------

    def review_state(self, target: str, digest: str) -> dict[str, Any] | None:
        """This image's proposal: as the review file records it, else as the last build made it."""
        it = self._image(target, digest)
        st = self.label_state(target, digest)
        rel = st["review_file"]
        if rel is None:
            return None
        data = self.ws.read_yaml(rel)
        entry = data.get(digest) if isinstance(data, dict) else None
        res = it.get("review") or {}
        if entry is None and res.get("verdict") != "fix":
            return None
        status = entry.get("status", "pending") if isinstance(entry, dict) else "pending"
        proposal = entry.get("proposal") if isinstance(entry, dict) else res.get("proposal")
        return {"target": target, "file": rel, "status": status, "proposal": proposal,
                "caption": (entry or {}).get("caption", res.get("caption")), "reason": res.get("reason"),
                "seen": fingerprint(status)}

    def review(self, target: str, digest: str, seen: str, decision: str) -> Written:
        from ..kinds.label.review_cmd import review

        if decision not in ("approved", "rejected"):
            raise UserError("decide approved or rejected")
        it = self._image(target, digest)
        st = self.review_state(target, digest)
        if st is None:
            raise UserError(f"the last build of {target} proposes nothing for {it['name']}")
        path = self.ws.root / st["file"]
        with self._lock(path):
            st = self.review_state(target, digest)  # read again under the lock
            self._check(seen, st["status"] if st else None, f"the review of {it['name']}")
            out = review(self.ws.root, target, [digest] if decision == "approved" else [],
                         [digest] if decision == "rejected" else [], False, False)
        msg = f"{it['name']}: proposal {decision} in {out.review_file}"
        if out.applied:
            msg += f"; the caption is written to {out.overrides_file}, building {target} applies it"
        return Written(out.review_file, msg, target, out.hint, fingerprint(decision))

    # ---- faces: people file ------------------------------------------------------------------

    def people_state(self, target: str) -> dict[str, Any]:
        from ..kinds.faces.session import Session

        s = Session(self.ws.root, target)
        people = s.people()
        return {"target": target, "file": s.rel, "named": s.t.config.people is not None, "people": people,
                "clusters": s.clusters}

    def name_cluster(self, target: str, cluster: int, seen: str, name: str) -> Written:
        from ..kinds.faces.session import Session

        s = Session(self.ws.root, target)
        with self._lock(s.path):
            people = s.people()
            if seen != cluster_seen(people, cluster):
                entry = people.clusters.get(cluster)
                self._check(seen, entry.name if entry else None, f"the name of cluster {cluster}")
            msg = s.name_cluster(cluster, name)
            seen_now = cluster_seen(s.people(), cluster)
        return self._faces_written(s, msg, seen_now)

    def move_face(self, target: str, face: str, seen: str, to: str) -> Written:
        from ..kinds.faces.session import Session

        s = Session(self.ws.root, target)
        f = s.face(face)
        with self._lock(s.path):
            people = s.people()
            if seen != face_seen(people, f["id"]):
                entry = people.faces.get(f["id"])
                self._check(seen, entry.model_dump(exclude_none=True) if entry else None, f"the face {f['id']}")
            msg = s.move_face(f["id"], to) if to.strip() != "nobody" else s.nobody(f["id"])
            seen_now = face_seen(s.people(), f["id"])
        return self._faces_written(s, msg, seen_now)

    @staticmethod
    def _faces_written(s, msg: str, seen: str) -> Written:
        first, _, hint = msg.partition("\n")
        named = s.t.config.people is not None
        return Written(s.rel, first + (f"; building {s.name} applies it" if named else ""), s.name,
                       None if named else hint, seen)


def cluster_seen(people, n: int) -> str:
    entry = people.clusters.get(n)
    return fingerprint(entry.name if entry else None)


def face_seen(people, face_id: str) -> str:
    entry = people.faces.get(face_id)
    return fingerprint(entry.model_dump(exclude_none=True) if entry else None)
