"""The `dir:` source through the real CLI: bad images are reported (never fatal, never silently
dropped), filters, exact and near dedup with the kept image named, and sidecar captions."""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib

from PIL import Image


def png_claiming(width: int, height: int) -> bytes:
    """A tiny valid-looking PNG whose header claims width x height pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
            + chunk(b"IEND", b""))


def show(project, target: str) -> dict:
    r = project.run("show", "--json", target)
    assert r.code == 0, r.err
    return json.loads(r.out)


def test_bad_images_are_reported_and_the_good_ones_kept(project, shapes):
    good = (shapes / "shape_000.png").read_bytes()
    (shapes / "truncated.png").write_bytes(good[: len(good) // 2])
    (shapes / "empty.png").write_bytes(b"")
    (shapes / "page.png").write_bytes(b"<!DOCTYPE html><html><body>404 not found</body></html>")
    (shapes / "bomb.png").write_bytes(png_claiming(100_000, 100_000))
    (shapes / "big-claim.png").write_bytes(png_claiming(9_000, 9_000))  # under Pillow's guard, over ours
    os.symlink(shapes / "moved-away.png", shapes / "dangling.png")
    (shapes / "notes.md").write_text("not an image\n")
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
    """)
    r = project.build()
    assert r.code == 0, r.err
    assert r.statuses() == {"shapes": "built"}
    art = show(project, "shapes")
    report = {e["path"]: e["reason"] for e in art["meta"]["report"]["skipped"]}
    assert report["truncated.png"].startswith("truncated or corrupt image data")
    assert report["empty.png"] == "empty file (0 bytes)"
    assert report["page.png"] == "not an image: the bytes are HTML/XML text"
    assert report["bomb.png"].startswith("decompression bomb")
    assert report["big-claim.png"].startswith("decompression bomb: 9000x9000 = 81000000 pixels")
    assert report["dangling.png"] == "broken link: skipped"
    assert report["notes.md"].startswith("not an image file name")
    assert art["facts"]["images"] == 12
    assert art["facts"]["skipped"] == 7
    warned = " ".join(e["message"] for e in r.events() if e.get("event") == "log")
    assert "truncated.png" in warned and "bomb.png" in warned
    kept = sorted(p.name for p in (project.root / "out/shapes/images").iterdir())
    assert kept == sorted(p.name for p in shapes.glob("shape_*") if p.suffix != ".txt")


def test_decode_limits_are_configurable(project, shapes):
    project.spec("""
        sources:
          shapes:
            dir: data/shapes
            decode: {max_pixels: 30000, max_bytes: 1000000}
    """)
    assert project.build().code == 0
    art = show(project, "shapes")
    # The shapes are 192x192 = 36864 pixels: over this cap, so all are reported.
    assert art["facts"]["images"] == 0
    reasons = [e["reason"] for e in art["meta"]["report"]["skipped"]]
    assert len(reasons) == 12 and all("over the 30000-pixel limit" in x for x in reasons)


def test_filters_say_why_each_image_was_left_out(project, shapes):
    Image.new("RGB", (40, 300), "red").save(shapes / "tall.png")
    Image.new("RGB", (80, 80), "blue").save(shapes / "small.png")
    Image.new("RGB", (200, 200), "green").save(shapes / "green.bmp")
    project.spec("""
        sources:
          shapes:
            dir: data/shapes
            filter: {min_size: [100, 100], max_aspect: 3.0, formats: [png, jpeg]}
            dedup: {near: false}
    """)
    assert project.build().code == 0
    art = show(project, "shapes")
    filtered = {e["path"]: e["reason"] for e in art["meta"]["report"]["filtered"]}
    assert filtered == {
        "tall.png": "40x300 is smaller than filter.min_size 100x100",
        "small.png": "80x80 is smaller than filter.min_size 100x100",
        "green.bmp": "format bmp not in filter.formats",
    }
    assert art["facts"]["images"] == 12
    project.spec("""
        sources:
          shapes:
            dir: data/shapes
            filter: {min_size: [10, 10], max_aspect: 3.0}
            dedup: {near: false}
    """)
    assert project.build().code == 0
    art = show(project, "shapes")
    filtered = {e["path"]: e["reason"] for e in art["meta"]["report"]["filtered"]}
    assert filtered == {"tall.png": "aspect ratio 7.5 over filter.max_aspect 3.0"}
    assert art["facts"]["images"] == 14


def test_exact_and_near_duplicates_name_the_image_kept(project, shapes):
    shutil.copy(shapes / "shape_002.png", shapes / "again.png")
    with Image.open(shapes / "shape_000.png") as im:
        im.resize((384, 384), Image.LANCZOS).save(shapes / "bigger.png")
        im.convert("RGB").save(shapes / "reencoded.jpg", quality=95)
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
    """)
    assert project.build().code == 0
    art = show(project, "shapes")
    dups = {e["path"]: e for e in art["meta"]["report"]["duplicates"]}
    assert dups["shape_002.png"]["kept"] == "again.png" and dups["shape_002.png"]["exact"] is True
    # Near duplicates keep the largest image.
    assert dups["shape_000.png"]["kept"] == "bigger.png" and not dups["shape_000.png"]["exact"]
    assert dups["reencoded.jpg"]["kept"] == "bigger.png"
    assert all(0 <= dups[p]["distance"] <= 6 for p in ("shape_000.png", "reencoded.jpg"))
    assert set(dups) == {"shape_002.png", "shape_000.png", "reencoded.jpg"}
    assert art["facts"]["images"] == 12
    files = art["files"]
    assert "images/bigger.png" in files and "images/shape_000.png" not in files
    # With dedup off everything stays, and identical bytes are stored once.
    project.spec("""
        sources:
          shapes: {dir: data/shapes, dedup: {exact: false, near: false}}
    """)
    assert project.build().code == 0
    files = show(project, "shapes")["files"]
    assert len([f for f in files if f.startswith("images/")]) == 15 and "album.jsonl" in files
    assert files["images/again.png"] == files["images/shape_002.png"]


def test_sidecar_captions_join_the_album(project, shapes):
    (shapes / "shape_003.txt").unlink()
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
    """)
    assert project.build().code == 0
    images = {im["path"]: im for im in show(project, "shapes")["meta"]["album"]["images"]}
    first = images["images/shape_000.png"]
    assert first["caption"] == (shapes / "shape_000.txt").read_text().strip()
    assert first["captions"] == [{"text": first["caption"], "origin": "sidecar"}]
    assert first["origin"] == "dir:data/shapes/shape_000.png"
    assert (first["width"], first["height"], first["format"]) == (192, 192, "png")
    assert images["images/shape_003.jpg"]["caption"] is None
    assert images["images/shape_003.jpg"]["format"] == "jpeg"
    # Editing a caption rebuilds the album without probing any image again, and reads only
    # that caption file: the last album is patched, and only the two captioned images are
    # looked up again (in the memo, by their digest).
    (shapes / "shape_000.txt").write_text("a new caption\n")
    (shapes / "shape_001.txt").write_bytes(b"\xff\xfe not text")
    r = project.build()
    ev = next(e for e in r.events() if e.get("event") == "target")
    assert ev["status"] == "built" and ev["memo"]["media.probe"] == {"hits": 2, "misses": 0}
    assert ev["memo"]["source.sidecar"] == {"hits": 0, "misses": 2}
    images = {im["path"]: im for im in show(project, "shapes")["meta"]["album"]["images"]}
    assert images["images/shape_000.png"]["caption"] == "a new caption"
    assert images["images/shape_002.png"]["caption"] == (shapes / "shape_002.txt").read_text().strip()
    # A caption that is not text is skipped and reported, from the memo as well as when read.
    for n in range(2):
        meta = show(project, "shapes")["meta"]
        assert {im["path"]: im["caption"] for im in meta["album"]["images"]}["images/shape_001.png"] is None
        assert any(s["path"] == "shape_001.txt" and "not UTF-8" in s["reason"] for s in meta["report"]["skipped"])
        (shapes / "shape_002.txt").write_text(f"caption number {n}\n")
        r = project.build()
        ev = next(e for e in r.events() if e.get("event") == "target")
        assert ev["status"] == "built" and ev["memo"]["source.sidecar"]["misses"] == 1


def test_one_new_image_is_the_only_one_probed(project, shapes):
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
    """)
    assert project.build().code == 0
    Image.new("RGB", (150, 120), "purple").save(shapes / "new.png")
    r = project.build()
    ev = next(e for e in r.events() if e.get("event") == "target")
    assert ev["memo"]["media.probe"] == {"hits": 0, "misses": 1}  # the last album is patched
    assert ev["facts"]["images"] == 13 and ev["run"]["patched"]["changed files"] == 1


def stored(project) -> set[str]:
    return {f.name for f in (project.root / "cache" / "blobs").rglob("*") if f.is_file()}


def test_probe_workers_store_what_is_kept_and_nothing_filtered(project):
    """Probing reads each image once: the pool worker stores the bytes it decoded when they are
    the listed ones and pass the filter (put_files then copies nothing). A filtered image
    leaves no blob; the memo remembers every probe, so a second build probes nothing."""
    from imagineer_build.core.hashing import digest_bytes

    folder = project.root / "data" / "many"
    folder.mkdir(parents=True)
    for i in range(70):  # over the pool threshold (64)
        Image.new("RGB", (24 + i % 3, 24), (i * 3, 255 - i * 3, i)).save(folder / f"c{i:03d}.png")
    Image.new("RGB", (8, 8), "red").save(folder / "tiny.png")
    project.spec("""
        sources:
          many: {dir: data/many, filter: {min_size: [16, 16]}, dedup: {near: false}}
    """)
    r = project.build()
    assert r.code == 0, r.err
    probes = next(e for e in r.events() if e.get("event") == "target")["memo"]["media.probe"]
    assert probes == {"hits": 0, "misses": 71}
    blobs = stored(project)
    kept = {digest_bytes(p.read_bytes()) for p in folder.glob("c*.png")}
    assert kept <= blobs
    assert digest_bytes((folder / "tiny.png").read_bytes()) not in blobs
    assert {f.name for f in (project.root / "out" / "many" / "images").iterdir()} == \
        {f"c{i:03d}.png" for i in range(70)}
    r = project.build("--refresh", "many")
    probes = next(e for e in r.events() if e.get("event") == "target")["memo"]["media.probe"]
    assert probes == {"hits": 71, "misses": 0}


def test_a_probe_of_bytes_other_than_the_listed_ones_is_neither_stored_nor_remembered(tmp_path):
    """The worker hashes the bytes it decoded: a file that changed after it was listed gives
    a probe that says nothing about the listed digest."""
    from imagineer_build.core.hashing import digest_bytes
    from imagineer_build.core.store.cas import BlobWriter
    from imagineer_build.kinds.source.config import FilterConfig
    from imagineer_build.kinds.source.select import probe_and_store
    from imagineer_build.media.decode import DecodeLimits

    (tmp_path / "blobs").mkdir()
    (tmp_path / "tmp").mkdir()
    writer = BlobWriter(str(tmp_path / "blobs"), str(tmp_path / "tmp"))
    img = tmp_path / "a.png"
    Image.new("RGB", (32, 32), "blue").save(img)
    listed = digest_bytes(img.read_bytes())
    small, wide = FilterConfig(min_size=[8, 8]), FilterConfig(min_size=[64, 64])
    info, same = probe_and_store((str(img), listed), DecodeLimits(), wide, writer)
    assert info["ok"] and same and not (tmp_path / "blobs" / listed[:2] / listed).exists()  # filtered out
    info, same = probe_and_store((str(img), listed), DecodeLimits(), small, writer)
    assert info["ok"] and same and (tmp_path / "blobs" / listed[:2] / listed).exists()
    Image.new("RGB", (32, 32), "green").save(img)  # changed since it was listed
    info, same = probe_and_store((str(img), listed), DecodeLimits(), small, writer)
    now = digest_bytes(img.read_bytes())
    assert info["ok"] and not same and not (tmp_path / "blobs" / now[:2] / now).exists()
    info, same = probe_and_store((str(tmp_path / "gone.png"), listed), DecodeLimits(), small, writer)
    assert not info["ok"] and info.get("transient") and not same
