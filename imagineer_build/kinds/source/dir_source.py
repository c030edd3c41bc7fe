"""The `dir:` variant: every image under a project folder, with sidecar captions."""

from __future__ import annotations

from ...core.artifact import Artifact
from ...core.kind import BuildContext
from ...media.album import Album, manifest_files
from .dir_records import album_images, file_role, not_an_image
from .select import Item, empty_note, probe_all, select


def build_dir(ctx: BuildContext) -> Artifact:
    if ctx.previous is not None:
        from .dir_patch import patch_dir

        patched = patch_dir(ctx)
        if patched is not None:
            return patched
    cfg = ctx.config
    listing = ctx.inputs[cfg.dir]
    items: list[Item] = []
    ignored: list[dict[str, str]] = []
    root = str(listing.root)  # string joins: pathlib was a visible cost at 10,000 images
    for rel, (digest, size) in listing.entries.items():
        role = file_role(rel, cfg.sidecar_ext)
        if role == "image":
            items.append(Item(rel, f"{root}/{rel}", digest, size))
        elif role == "other":  # a sidecar is read below when its image is kept
            ignored.append(not_an_image(rel))
    for rel, why in listing.errors.items():
        ignored.append({"path": rel, "reason": why})
        ctx.log(f"skipped {rel}: {why}", "warning")
    probe_all(ctx, items, cfg.decode, lambda d, t: ctx.progress(d, t, "images probed"), cfg.filter)
    sel = select(items, cfg.filter, cfg.dedup)
    ctx.put_files([(it.path, it.digest, it.size) for it in sel.kept])
    images = album_images(ctx, listing, sel.kept, ignored)
    for it in sel.skipped:
        ctx.log(f"skipped {it['path']}: {it['reason']}", "warning")
    album = Album(images, {"skipped": sel.skipped + ignored, "filtered": sel.filtered,
                           "duplicates": sel.duplicates})
    run = {}
    if not images:
        run["note"] = empty_note(len(items), sel.filtered + sel.skipped + ignored)
        ctx.log(run["note"], "warning")
    files = {im.path: im.digest for im in images}
    files.update({rel: ctx.put_bytes(data) for rel, data in manifest_files(album).items()})
    return Artifact(files=files, meta=album.meta(), facts=album.facts(), run=run)
