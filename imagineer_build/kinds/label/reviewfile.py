"""The review file (`reviews/<target>.yaml`): proposed caption fixes, keyed by image digest, each
pending, approved or rejected. Version-controlled; `imagineer labels review` keeps it.

The file is a record people edit (status, proposal, notes), so syncing with a new build keeps
every entry whose caption is still the one reviewed, as the person left it; only pending
entries that no longer apply are dropped. Errors in a hand-edited file name file:line:col.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from ...core.kind import KindConfig

Status = Literal["pending", "approved", "rejected"]


class ReviewEntry(KindConfig):
    file: str | None = Field(None, description="the image (for people; matching uses the digest key)")
    status: Status = "pending"
    caption: str = Field(..., description="the caption that was reviewed")
    proposal: str = Field(..., min_length=1, description="the caption proposed; edit it before approving to change it")
    reason: str | None = None
    by: str | None = Field(None, description="the reviewer")
    applied: bool = Field(False, description="written by the command once the proposal is in the overrides file")
    note: str | None = Field(None, description="free text for people; not used")


def load_review(path: Path, shown: str) -> dict[str, ReviewEntry]:
    """The entries of a review file; SpecErrors with file:line:col for any problem."""
    from ...core.spec import SpecError, SpecErrors, load_yaml

    doc = load_yaml(path, shown)
    if doc.data is None or doc.data == {}:
        return {}
    if not isinstance(doc.data, dict):
        raise SpecErrors([SpecError(doc.pos(()), "a review file is a mapping of image digest → review entry")])
    out: dict[str, ReviewEntry] = {}
    errors = []
    for key, value in doc.data.items():
        if not isinstance(value, dict):
            errors.append(SpecError(doc.pos((key,)), f"entry {key}: expected a mapping (status, caption, proposal, ...)"))
            continue
        try:
            out[str(key)] = ReviewEntry.model_validate(value)
        except ValidationError as e:
            for x in e.errors():
                where = (key, *x["loc"])
                field = ".".join(map(str, x["loc"])) or "entry"
                errors.append(SpecError(doc.pos(where) if x["type"] != "missing" else doc.key_pos((key,)),
                                        f"entry {key}: {field}: {x['msg']}"))
    if errors:
        raise SpecErrors(errors)
    return out


def sync(entries: dict[str, ReviewEntry], review: dict[str, Any], captions: dict[str, str | None],
         paths: dict[str, str]) -> tuple[dict[str, ReviewEntry], int, int]:
    """(entries after the last build's review, added, dropped).

    `captions`: each image's current caption (after overrides), in album order. A pending entry
    stays while its image still has the caption it reviewed and the reviewer still proposes a fix;
    approved and rejected entries stay as the record. A new proposal for a changed caption
    replaces the entry for that image.
    """
    results = review.get("results", {})
    kept: dict[str, ReviewEntry] = {}
    dropped = 0
    for d, e in entries.items():
        res = results.get(d, {})
        stale = captions.get(d) != e.caption or (res.get("caption") == e.caption and res.get("verdict") == "ok")
        if e.status == "pending" and stale:
            dropped += 1
        else:
            kept[d] = e
    added = 0
    for d, res in results.items():
        if res.get("verdict") != "fix" or (d in kept and kept[d].caption == res["caption"]):
            continue
        kept[d] = ReviewEntry(file=paths.get(d), caption=res["caption"], proposal=res["proposal"],
                              reason=res.get("reason"), by=review.get("by"))
        added += 1
    order = {d: i for i, d in enumerate(captions)}
    before = {d: i for i, d in enumerate(kept)}
    ordered = sorted(kept, key=lambda d: (order.get(d, len(order)), before[d]))
    return {d: kept[d] for d in ordered}, added, dropped


def dump(entries: dict[str, ReviewEntry], target: str, by: str | None) -> str:
    import yaml

    head = (f"# Caption review of {target}" + (f" by {by}" if by else "") + ", keyed by image digest.\n"
            "# status: pending | approved | rejected. Edit a proposal before approving it to change it.\n"
            f"# `imagineer labels review {target} --approve ITEM…` (or status: approved, then run the command)\n"
            "# writes approved proposals to the overrides file; caption, reason and by are for reading.\n")
    data = {d: e.model_dump(exclude_defaults=True, exclude={"status"}) | {"status": e.status}
            for d, e in entries.items()}
    data = {d: {k: v[k] for k in ("file", "status", "caption", "proposal", "reason", "by", "applied", "note") if k in v}
            for d, v in data.items()}
    return head + (yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100) if data else "")
