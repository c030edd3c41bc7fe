"""A `dir:` source patched from its last album makes the bytes a full build makes.

Random edits to a folder (images changed, added, removed, corrupted, made tiny, duplicated,
animated; captions added, edited, broken, removed; other files), one build after each, and
after each build `verify` rebuilds the source from nothing in a scratch store and compares
the artifact. Most builds must be patches, and the ones that cannot be (a duplicate
involved) must have taken the full path.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import patch_helpers
import pytest
from patch_helpers import out_jsonl, verdict
from PIL import Image

from imagineer_build.core.project import Project

SPEC = """
sources:
  shots: {dir: data/shots, filter: {min_size: [24, 24]}}
"""


def noise(path: Path, seed: int, size: int = 40) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)


def animated(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    frames = [Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for _ in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50)


def shots(root: Path, n: int) -> Path:
    """data/shots with n noise images, img00.png …"""
    folder = root / "data" / "shots"
    folder.mkdir(parents=True)
    for i in range(n):
        noise(folder / f"img{i:02d}.png", i)
    return folder


def build(root: Path):
    return patch_helpers.build(root, "shots")


def edit(folder: Path, rng: random.Random, n: int) -> str:
    """One random edit; returns what it did (for failure messages)."""
    images = sorted(p.name for p in folder.iterdir() if p.suffix in (".png", ".gif"))
    pick = rng.choice(images) if images else "none.png"
    stem = pick.rsplit(".", 1)[0]
    what = rng.choice(["change", "add", "add", "remove", "caption", "caption", "uncaption", "bad caption",
                       "corrupt", "tiny", "exact copy", "near copy", "animated", "other file", "drop other"])
    if what == "change":
        noise(folder / pick, 1000 + n) if pick.endswith(".png") else animated(folder / pick, 1000 + n)
    elif what == "add":
        noise(folder / f"new{n:03d}.png", 2000 + n)
    elif what == "remove" and len(images) > 4:
        (folder / pick).unlink()
    elif what == "caption":
        (folder / f"{stem}.txt").write_text(f"caption {n} of {stem}\n")
    elif what == "uncaption":
        (folder / f"{stem}.txt").unlink(missing_ok=True)
    elif what == "bad caption":
        (folder / f"{stem}.txt").write_bytes(b"\xff\xfe not text")
    elif what == "corrupt":
        (folder / pick).write_bytes(b"\x89PNG\r\n\x1a\n broken")
    elif what == "tiny":
        noise(folder / f"tiny{n:03d}.png", 3000 + n, size=12)
    elif what == "exact copy":
        (folder / f"copy{n:03d}.png").write_bytes((folder / pick).read_bytes())
    elif what == "near copy" and pick.endswith(".png"):
        try:
            im = Image.open(folder / pick).convert("RGB")
        except OSError:
            return f"{what} of unreadable {pick}: nothing"
        im.putpixel((0, 0), (1, 2, 3))
        im.save(folder / f"near{n:03d}.png")
    elif what == "animated":
        animated(folder / f"anim{n:03d}.gif", 4000 + n)
    elif what == "other file":
        (folder / f"notes{n % 3}.md").write_text(f"notes {n}\n")
    elif what == "drop other":
        for p in folder.glob("notes*.md"):
            p.unlink()
    return f"{what} {pick}"


@pytest.mark.parametrize("seed", [19, 20, 21])
def test_patched_builds_are_full_builds_byte_for_byte(project, seed):
    folder = shots(project.root, 16)
    for i in range(0, 16, 3):
        (folder / f"img{i:02d}.txt").write_text(f"a caption for image {i}\n")
    (folder / "readme.md").write_text("not an image\n")
    project.spec(SPEC)
    assert build(project.root).run.get("patched") is None  # nothing to patch yet

    rng = random.Random(seed)
    patched, full, log = 0, 0, []
    for n in range(40):
        log.append("; ".join(edit(folder, rng, n * 3 + k) for k in range(rng.choice([1, 1, 2, 3]))))
        result = build(project.root)
        if result.status == "built":
            patched, full = (patched + 1, full) if result.run.get("patched") else (patched, full + 1)
        v = verdict(project.root, "shots")
        assert v.status == "identical", (n, log, v.to_json())
    assert patched >= 20 and full >= 2, (patched, full, log)


def test_a_patch_reads_only_the_changed_files(project):
    """One changed image: one probe, no other image looked up, and the out view's album files
    hold the new record (a patch copies the others' lines)."""
    folder = shots(project.root, 12)
    project.spec(SPEC)
    build(project.root)
    noise(folder / "img05.png", 99)
    result = build(project.root)
    assert result.run["patched"]["changed files"] == 1
    assert result.memo["media.probe"] == {"hits": 0, "misses": 1}
    jsonl = out_jsonl(project.root, "shots")
    assert len(jsonl) == 12 and '"images/img05.png"' in jsonl[5]
    assert verdict(project.root, "shots").status == "identical"


def test_a_config_change_is_never_patched(project):
    """The last build is offered only when nothing but the inputs changed."""
    folder = shots(project.root, 6)
    project.spec(SPEC)
    build(project.root)
    project.spec(SPEC.replace("[24, 24]", "[20, 20]"))
    noise(folder / "img01.png", 50)
    assert build(project.root).run.get("patched") is None


def test_the_check_after_a_patch_covers_the_files_it_read(project):
    """After a build, the files a kind read must still hold their listed bytes (else nothing is
    recorded). A patch reads a few files and takes the rest from its last build by digest, so
    the check covers what it names, and a file it did not read may change meanwhile."""
    from imagineer_build.core.plan import Planner
    from imagineer_build.core.store import LocalStore

    folder = shots(project.root, 4)
    project.spec(SPEC)
    proj = Project.load(project.root)
    planner = Planner(proj, LocalStore(proj.store_root))
    target = proj.targets["shots"]
    listings = planner.listings(target)
    noise(folder / "img02.png", 77)  # changed after listing
    assert planner.changed_since(target, listings) == ["data/shots"]
    assert planner.changed_since(target, listings, {"data/shots": ["img02.png"]}) == ["data/shots"]
    assert planner.changed_since(target, listings, {"data/shots": ["img00.png", "img03.png"]}) == []


def test_a_patch_heals_a_lost_image_and_ignores_a_damaged_album_file(project):
    """The last build's blobs are checked, not trusted: a lost image blob is copied in again
    from the folder, and a damaged album.jsonl is made anew instead of having lines copied."""
    from imagineer_build.core.store import LocalStore

    folder = shots(project.root, 8)
    project.spec(SPEC)
    first = build(project.root)
    proj = Project.load(project.root)
    store = LocalStore(proj.store_root)
    view = store.load_artifact(first.artifact)
    lost = store.blob_path(view.files["images/img03.png"])
    lost.unlink()
    damaged = store.blob_path(view.files["album.jsonl"])
    damaged.chmod(0o644)
    damaged.write_bytes(b'{"not": "the album"}\n' * 8)
    noise(folder / "img06.png", 66)
    result = build(project.root)
    assert result.run["patched"]["changed files"] == 1
    assert lost.exists()
    out = out_jsonl(project.root, "shots")
    assert len(out) == 8 and all('"digest"' in line for line in out)
    assert verdict(project.root, "shots").status == "identical"
