"""`imagineer add`: uploads validated into a dir: source's folder, then built like any other file."""

from __future__ import annotations

import json

from scrape_site import bomb_png, shape_images


def test_add_copies_images_refuses_non_images_and_never_overwrites(project, tmp_path):
    project.spec("""
        sources:
          photos: {dir: data/photos}
    """)
    folder = project.root / "data/photos"
    folder.mkdir(parents=True)
    a, b, c = shape_images(3, tmp_path / "made")
    (folder / "cat.png").write_bytes(a)  # already in the source
    up = tmp_path / "upload"
    (up / "sub").mkdir(parents=True)
    (up / "cat.png").write_bytes(b)  # same name, different picture
    (up / "cat.txt").write_text("a second cat\n")
    (up / "again.png").write_bytes(a)  # bytes we already have
    (up / "sub" / "noext").write_bytes(c)  # a PNG without a suffix
    (up / "notes.png").write_text("<html>not an image</html>")
    (up / "bomb.png").write_bytes(bomb_png())
    (up / ".hidden.png").write_bytes(c)

    run = project.run("add", "photos", str(up), "--json")
    assert run.code == 1, run.err  # something was refused
    by = {json.loads(line)["file"].removeprefix(str(up) + "/"): json.loads(line) for line in run.out.splitlines()}
    assert set(by) == {"cat.png", "again.png", "sub/noext", "notes.png", "bomb.png"}
    assert by["cat.png"]["status"] == "added" and by["cat.png"]["as"] == "cat-1.png"
    assert by["cat.png"]["caption"] == "cat-1.txt"
    assert by["again.png"] == {"file": str(up / "again.png"), "status": "duplicate", "as": "cat.png"}
    assert by["sub/noext"]["as"] == "noext.png"
    assert by["notes.png"]["status"] == "refused" and "HTML" in by["notes.png"]["reason"]
    assert by["bomb.png"]["status"] == "refused" and "decompression bomb" in by["bomb.png"]["reason"]
    assert (folder / "cat.png").read_bytes() == a  # never overwritten
    assert (folder / "cat-1.png").read_bytes() == b
    assert (folder / "cat-1.txt").read_text() == "a second cat\n"
    assert sorted(p.name for p in folder.iterdir()) == ["cat-1.png", "cat-1.txt", "cat.png", "noext.png"]

    built = project.build()
    assert built.code == 0, built.err
    shown = json.loads(project.run("show", "photos", "--json").out)
    caps = {im["path"]: im["caption"] for im in shown["meta"]["album"]["images"]}
    assert caps == {"images/cat.png": None, "images/cat-1.png": "a second cat", "images/noext.png": None}

    # adding the same files again changes nothing
    again = project.run("add", "photos", str(up / "cat.png"), str(up / "sub"))
    assert again.code == 0, again.err
    assert "0 added, 2 duplicate, 0 refused" in again.err
    assert project.build().statuses() == {"photos": "cached"}


def test_add_creates_the_folder_and_refuses_unknown_and_non_dir_sources(project, tmp_path):
    project.spec("""
        sources:
          web: {scrape: {url: "http://127.0.0.1:9/"}}
          photos: {dir: data/photos}
    """)
    img = tmp_path / "x.png"
    img.write_bytes(shape_images(1, tmp_path / "made")[0])
    assert project.run("status").code == 2  # the spec cannot load without its folder…
    r = project.run("add", "photos", str(img))  # …which the first upload creates
    assert r.code == 0, r.err
    assert (project.root / "data/photos/x.png").read_bytes() == img.read_bytes()
    r = project.run("add", "nope", str(img))
    assert r.code == 2 and "unknown target 'nope'" in r.err and "photos" in r.err
    r = project.run("add", "web", str(img))
    assert r.code == 2 and "not a `dir:` source" in r.err
    r = project.run("add", "photos", str(tmp_path / "missing.png"))
    assert r.code == 2 and "no such file" in r.err
