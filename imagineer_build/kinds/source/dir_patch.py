"""A `dir:` source rebuilt by patching its last album where a few files changed.

A full build probes, filters and deduplicates every image and encodes every record again:
O(images) for one changed file. The patch takes the last album, drops what the changed files
(images, their caption files, other files) made, and adds what they make now; the records
of every other image, and their lines in album.jsonl and album.csv, are copied. The result
is the full build's, byte for byte, which holds only while the changed images stay out of
deduplication: in the greedy pass (media/dedup.py) an image that no other image is a
duplicate of, and that is near or equal to no other kept or dropped image, changes nothing
for the others. Where that, or anything else the patch assumes, does not hold, the full
build runs.
"""

from __future__ import annotations

import bisect
import posixpath
from typing import Any

from ...core.artifact import Artifact
from ...core.kind import BuildContext
from ...media.album import ALBUM_VERSION, patched_manifest_files
from ...media.decode import PROBE_VERSION
from .config import IMAGE_SUFFIXES
from .dir_records import SIDECAR_NS, SIDECAR_VERSION, album_images, file_role, not_an_image
from .select import Item, filter_reason, probe_all

MOST_CHANGED = 256  # more changed files than this build in full (the pool probes them together)
REPORT = ("skipped", "filtered", "duplicates")


def patch_dir(ctx: BuildContext) -> Artifact | None:
    """The album a full build would make, from the last one and the changed files; None when
    a full build must decide (see the module docstring)."""
    cfg, prev = ctx.config, ctx.previous
    listing = ctx.inputs[cfg.dir]
    ext = cfg.sidecar_ext
    if listing.errors or (ext and ext.lower().endswith(IMAGE_SUFFIXES)):
        return None
    before = prev.listing(cfg.dir)
    old = _old_album(prev.view.meta)
    if before is None or old is None:
        return None
    old_images, report = old
    entries = listing.entries
    changed = [rel for rel, v in entries.items() if before.get(rel) != v[0]]
    changed += [rel for rel in before if rel not in entries]
    if len(changed) > MOST_CHANGED:
        return None
    touched = _touched_images(changed, ext, list(entries), list(before))
    if touched & {p for e in report["duplicates"] for p in (e.get("path"), e.get("kept"))}:
        return None
    groups = _skipped_groups(report["skipped"], before, ext)
    if groups is None:
        return None
    image_skips, others, side_problems = groups
    # probed again, as a full build would: a verdict about the file (unreadable now) is not
    # remembered, so only the memo knows which skips will stand
    touched |= {e["path"] for e in image_skips}

    root = str(listing.root)
    new_items = [Item(rel, f"{root}/{rel}", *entries[rel]) for rel in sorted(touched) if rel in entries]
    probe_all(ctx, new_items, cfg.decode, lambda d, t: ctx.progress(d, t, "changed images probed"), cfg.filter)
    kept_new, skipped_new, filtered_new = [], [], []
    for it in new_items:
        if not it.info.get("ok"):
            skipped_new.append({"path": it.id, "reason": it.info.get("error", "unreadable")})
        elif (reason := filter_reason(it.info, cfg.filter)) is not None:
            filtered_new.append({"path": it.id, "reason": reason})
        else:
            kept_new.append(it)
    index = {_rel(r["path"]): n for n, r in enumerate(old_images)}
    untouched = [r for r in old_images if _rel(r["path"]) not in touched]
    if not _stay_apart(ctx, kept_new, untouched, report["duplicates"], entries, root):
        return None

    problems: list[dict[str, str]] = []
    added = {_rel(im.path): im.to_dict() for im in album_images(ctx, listing, kept_new, problems)}
    keep = {rel for rel in index if rel not in touched} | set(added)
    order = [rel for rel in entries if rel in keep]  # the listing's order is the full build's
    if not order:
        return None  # the full build says why the album is empty
    records = [added[rel] if rel in added else old_images[index[rel]] for rel in order]
    reused = [None if rel in added else index[rel] for rel in order]
    ctx.put_files([(f"{root}/{rel}", *entries[rel]) for rel in order])  # and heal a lost blob

    for e in skipped_new:  # album_images logged the caption problems
        ctx.log(f"skipped {e['path']}: {e['reason']}", "warning")
    others = [e for e in others if e["path"] in entries]
    others += [not_an_image(rel) for rel in changed
               if rel in entries and rel not in before and file_role(rel, ext) == "other"]
    skipped = (_by_path([e for e in image_skips if e["path"] not in touched] + skipped_new) + _by_path(others)
               + _side_problems(side_problems, problems, order, added, ext))
    meta = {"album": {"version": ALBUM_VERSION, "images": records},
            "report": {"skipped": skipped,
                       "filtered": _by_path([e for e in report["filtered"] if e["path"] not in touched] + filtered_new),
                       "duplicates": report["duplicates"]}}
    _carry_memo(ctx, changed, before, entries)
    read = set(changed) | touched | {e["path"] for e in report["duplicates"]}
    if ext:
        read |= {posixpath.splitext(rel)[0] + ext for rel in touched}
    ctx.read_only(cfg.dir, [rel for rel in read if rel in entries])
    files = {r["path"]: r["digest"] for r in records}
    made = patched_manifest_files(records, reused, len(old_images), prev.read("album.jsonl"), prev.read("album.csv"))
    files.update({rel: ctx.put_bytes(data) for rel, data in made.items()})
    facts = {"images": len(records), **{k: len(v) for k, v in meta["report"].items()}}
    return Artifact(files=files, meta=meta, facts=facts,
                    run={"patched": {"from": prev.view.digest, "changed files": len(changed)}})


def _rel(path: str) -> str:
    """A record's file in the folder: its path in the album is images/<that>."""
    return path[len("images/"):]


def _old_album(meta: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """(records, report) of an album this code can patch, else None."""
    try:
        album, report = meta["album"], meta["report"]
        if album["version"] != ALBUM_VERSION or set(report) != set(REPORT) or not album["images"]:
            return None
        return album["images"], report
    except (KeyError, TypeError):
        return None


def _touched_images(changed: list[str], ext: str | None, now: list[str], then: list[str]) -> set[str]:
    """The images whose outcome may have changed: changed image files, and the images (now or
    then) whose caption file changed. `now` and `then` are sorted."""
    touched = set()
    for rel in changed:
        role = file_role(rel, ext)
        if role == "image":
            touched.add(rel)
        elif role == "sidecar" and rel.endswith(ext):  # what a kept image's caption lookup names
            stem = rel[:-len(ext)]
            for names in (now, then):
                at = bisect.bisect_left(names, stem + ".")
                while at < len(names) and names[at].startswith(stem + "."):
                    name = names[at]
                    if posixpath.splitext(name)[0] == stem and file_role(name, ext) == "image":
                        touched.add(name)
                    at += 1
    return touched


def _skipped_groups(skipped: list[dict[str, str]], before: dict[str, str], ext: str | None):
    """The last report's skipped entries in the full build's three groups: images that did not
    decode, files that are no image, caption files that could not be used. None when an entry
    fits none (a file the listing could not read then: its error is not in the listing)."""
    groups: dict[str, list[dict[str, str]]] = {"image": [], "other": [], "sidecar": []}
    for e in skipped:
        path = e.get("path") if isinstance(e, dict) else None
        if path not in before:
            return None
        groups[file_role(path, ext)].append(e)
    return groups["image"], groups["other"], groups["sidecar"]


def _stay_apart(ctx: BuildContext, new: list[Item], kept: list[dict[str, Any]], duplicates: list[dict[str, Any]],
                entries: dict[str, tuple[str, int]], root: str) -> bool:
    """Whether every new image is a duplicate of nothing: no other image that dedup compares
    (kept, dropped as a duplicate, or new) has its bytes or a perceptual hash within the
    threshold."""
    dedup = ctx.config.dedup
    if not new or not (dedup.exact or dedup.near):
        return True
    dropped = [Item(e["path"], f"{root}/{e['path']}", *entries[e["path"]]) for e in duplicates if e["path"] in entries]
    probe_all(ctx, dropped, ctx.config.decode)  # in the memo: probed by the last build
    if len(dropped) != len(duplicates) or not all(it.info.get("ok") for it in dropped):
        return False
    digests = {r["digest"] for r in kept} | {it.digest for it in dropped}
    hashes = [int(r["phash"], 16) for r in kept] + [int(it.info["phash"], 16) for it in dropped]
    for it in new:  # each against the others and the new ones before it: every pair once
        h = int(it.info["phash"], 16)
        if dedup.exact and it.digest in digests:
            return False
        if dedup.near and any((h ^ o).bit_count() <= dedup.threshold for o in hashes):
            return False
        digests.add(it.digest)
        hashes.append(h)
    return True


def _by_path(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Report entries in the listing's order (sorted by relative path, as the walk sorts)."""
    return sorted(entries, key=lambda e: e["path"])


def _side_problems(old: list[dict[str, str]], new: list[dict[str, str]], order: list[str],
                   added: dict[str, Any], ext: str | None) -> list[dict[str, str]]:
    """Caption-file problems in kept-image order, once per kept image naming the file (a full
    build appends them as it makes each record)."""
    if not (old or new) or not ext:
        return []
    old_by_side = {e["path"]: e for e in old}
    new_by_side = {e["path"]: e for e in new}
    out = []
    for rel in order:
        side = posixpath.splitext(rel)[0] + ext
        found = new_by_side.get(side) if rel in added else old_by_side.get(side)
        if found is not None:
            out.append(found)
    return out


def _carry_memo(ctx: BuildContext, changed: list[str], before: dict[str, str],
                entries: dict[str, tuple[str, int]]) -> None:
    """Name the memo entries the last build used as used by this one too, less those of bytes
    no longer listed: a push then sends what a full build's would."""
    from ...media.text import MAX_CAPTION_BYTES

    listed = {v[0] for v in entries.values()}
    gone = [before[rel] for rel in changed if rel in before and before[rel] not in listed]
    for ns, rest in (("media.probe", (PROBE_VERSION, ctx.config.decode.limits().__dict__)),
                     (SIDECAR_NS, (SIDECAR_VERSION, MAX_CAPTION_BYTES))):
        keys = ctx.previous.memo_keys(ns)
        if keys:
            memo = ctx.memo(ns)
            drop = set(memo.keys(gone, *rest))
            memo.carry([k for k in keys if k not in drop])
