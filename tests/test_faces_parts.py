"""The faces kind's parts with real dlib on real photos: detection, embeddings, image modes,
clustering with stable numbers, corrections, and the people file.

Photos: see faces_helpers (Eileen Collins and Grace Hopper, both public domain).
"""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
from faces_helpers import (
    EILEEN_BOX,
    EILEEN_TRUSTED,
    GRACE_BOX,
    GRACE_TRUSTED,
    MORE,
    PHOTOS,
    analysed,
    make,
)
from PIL import Image

from imagineer_build.kinds.faces.analyze import Params, analyze
from imagineer_build.kinds.faces.cluster import Settings, iou, organize
from imagineer_build.kinds.faces.people import (
    ClusterEntry,
    FaceEntry,
    People,
    PeopleError,
    dump_people,
    encode_vector,
    face_id,
    load_people,
)

HOG = Params("hog", 1, 5, 1600)
DEFAULTS = Settings(threshold=0.5, min_cluster=3, min_score=0.5, min_face=80, min_sharpness=50.0)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    make(folder, more=True)
    return folder


@pytest.fixture(scope="module")
def library(photos):
    """Every photo of the first library, analysed once: (faces, embeddings)."""
    return analysed(photos, sorted(PHOTOS))


def faces_of(path: str, params: Params = HOG):
    value, emb = analyze(path, params)
    return value, np.frombuffer(emb, dtype="<f4").reshape(-1, 128)


def dist(a, b) -> float:
    return float(np.linalg.norm(a - b))


def trusted(value, emb):
    """(box, embedding) of the best-scoring face."""
    i = max(range(len(value["faces"])), key=lambda k: value["faces"][k]["score"])
    return value["faces"][i], emb[i]


def test_one_identity_across_variants_and_another_far_from_it(photos):
    eileen, e_emb = trusted(*faces_of(str(photos / "eileen_original.png")))
    assert eileen["box"] == EILEEN_BOX and eileen["score"] > 1.0 and eileen["sharpness"] > 200
    assert len(eileen["landmarks"]) == 5
    assert all(EILEEN_BOX[0] <= x <= EILEEN_BOX[0] + EILEEN_BOX[2] for x, _ in eileen["landmarks"])
    mirror, m_emb = trusted(*faces_of(str(photos / "eileen_mirror.png")))
    assert abs(mirror["box"][0] - (512 - EILEEN_BOX[0] - EILEEN_BOX[2])) <= 3  # the same face, flipped
    assert dist(e_emb, m_emb) < 0.3
    grace, g_emb = trusted(*faces_of(str(photos / "grace_original.jpg")))
    assert grace["box"] == GRACE_BOX
    assert dist(e_emb, g_emb) > 0.6  # dlib's same-person threshold is 0.6


def test_sixteen_bit_cmyk_transparent_and_palette_images_are_converted(photos, tmp_path):
    ref, ref_emb = trusted(*faces_of(str(photos / "grace_original.jpg")))
    assert Image.open(photos / "grace_gray16.png").mode == "I;16"
    assert Image.open(photos / "grace_cmyk.jpg").mode == "CMYK"
    rgb = Image.open(photos / "grace_original.jpg").convert("RGB")
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.new("L", rgb.size, 255))
    rgba.save(tmp_path / "rgba.png")
    rgb.convert("P", palette=Image.ADAPTIVE, colors=256).save(tmp_path / "palette.png")
    for path in (photos / "grace_gray16.png", photos / "grace_cmyk.jpg", tmp_path / "rgba.png", tmp_path / "palette.png"):
        face, emb = trusted(*faces_of(str(path)))
        assert iou(face["box"], ref["box"]) > 0.9, path.name
        assert dist(emb, ref_emb) < 0.3, path.name


def test_a_huge_image_is_detected_small_and_reported_in_its_own_pixels(tmp_path):
    from skimage.data import astronaut

    big = Image.fromarray(astronaut()).resize((2048, 2048), Image.LANCZOS)
    big.save(tmp_path / "big.jpg", quality=90)
    value, _ = faces_of(str(tmp_path / "big.jpg"), Params("hog", 1, 5, 512))
    assert (value["width"], value["height"]) == (2048, 2048)
    face = max(value["faces"], key=lambda f: f["score"])
    assert iou(face["box"], [4 * v for v in EILEEN_BOX]) > 0.8
    assert face["box"][2] > 300  # original pixels, not the 512-pixel copy's


def test_cnn_detector_finds_the_same_face(photos):
    hog, hog_emb = trusted(*faces_of(str(photos / "eileen_portrait.jpg")))
    value, emb = faces_of(str(photos / "eileen_portrait.jpg"), Params("cnn", 0, 5, 1600))
    assert len(value["faces"]) == 1
    assert iou(value["faces"][0]["box"], hog["box"]) > 0.5
    assert dist(emb[0], hog_emb) < 0.3


def test_no_face_is_an_empty_list(photos):
    value, emb = faces_of(str(photos / "coffee.png"))
    assert value["faces"] == [] and emb.shape == (0, 128)


def names(faces, cluster):
    return sorted(f.path.split("/")[-1] for f in faces if f.cluster == cluster)


def test_two_people_two_clusters_untrusted_faces_with_reasons(library):
    faces, emb = library
    result = organize(faces, emb, DEFAULTS, People())
    assert [(c["cluster"], c["size"], c["name"], c["pinned"]) for c in result.clusters] == [
        (1, 8, None, False), (2, 5, None, False)]  # the larger one first
    assert names(faces, 1) == sorted(EILEEN_TRUSTED) and names(faces, 2) == sorted(GRACE_TRUSTED)
    status = {(f.path.split("/")[-1], f.status) for f in faces if f.status != "ok"}
    assert ("eileen_small.png", "small") in status and ("eileen_blurred.png", "blurry") in status
    assert ("eileen_original.png", "low-score") in status  # dlib's weak second box on the suit
    small = next(f for f in faces if f.status == "small")
    assert small.reason == "44 px, under min_face 80" and small.cluster is None


def test_clustering_does_not_depend_on_the_order_faces_arrive_in(library):
    faces, emb = library
    first = organize([replace(f) for f in faces], emb, DEFAULTS, People()).clusters
    shuffled = [replace(f) for f in faces]
    random.Random(7).shuffle(shuffled)
    assert organize(shuffled, emb, DEFAULTS, People()).clusters == first


def pins(clusters, names: dict[int, str] | None = None) -> People:
    """What `imagineer faces pin` / `name` write: every cluster's centroid under its number."""
    names = names or {}
    return People(clusters={c["cluster"]: ClusterEntry(centroid=c["centroid"], name=names.get(c["cluster"]))
                            for c in clusters})


def test_pinned_numbers_survive_adding_photos_and_follow_the_people_not_the_sizes(photos, library):
    faces, emb = library
    first = organize(faces, emb, DEFAULTS, People()).clusters
    people = pins(first, {1: "Eileen", 2: "Grace"})
    added, added_emb = analysed(photos, sorted(MORE))
    more_faces = [replace(f) for f in faces] + [replace(f, row=f.row + len(emb)) for f in added]
    more_emb = np.concatenate([emb, added_emb])
    again = organize(more_faces, more_emb, DEFAULTS, people).clusters
    assert [(c["cluster"], c["name"], c["size"]) for c in again] == [(1, "Eileen", 10), (2, "Grace", 8)]
    # the numbers follow the centroids: pin Grace as 1 and Eileen as 2, and so they stay
    swapped = People(clusters={1: ClusterEntry(centroid=first[1]["centroid"], name="Grace"),
                               2: ClusterEntry(centroid=first[0]["centroid"], name="Eileen")})
    moved = organize(more_faces, more_emb, DEFAULTS, swapped).clusters
    assert [(c["cluster"], c["name"], c["size"]) for c in moved] == [(1, "Grace", 8), (2, "Eileen", 10)]


def test_a_cluster_no_pin_matches_is_numbered_after_every_number_the_file_uses(library):
    faces, emb = library
    first = organize(faces, emb, DEFAULTS, People()).clusters
    people = People(clusters={1: ClusterEntry(centroid=first[0]["centroid"], name="Eileen"),
                              4: ClusterEntry(centroid=encode_vector(np.zeros(128)), name="Someone")})
    result = organize(faces, emb, DEFAULTS, people)
    assert [(c["cluster"], c["name"]) for c in result.clusters] == [(1, "Eileen"), (5, None)]


def test_corrections_move_nobody_and_match_a_redetected_box(library):
    faces, emb = library
    first = organize([replace(f) for f in faces], emb, DEFAULTS, People()).clusters
    people = pins(first, {1: "Eileen", 2: "Grace"})
    grace_mirror = next(f for f in faces if f.path.endswith("grace_mirror.png"))
    far = next(f for f in faces if f.path.endswith("eileen_far.png"))
    blurred = next(f for f in faces if f.path.endswith("eileen_blurred.png"))
    x, y, w, h = far.box
    people.faces = {
        grace_mirror.id: FaceEntry(person="Eileen"),  # a (wrong, but the person's) decision
        face_id(far.image, [x + 3, y - 2, w, h]): FaceEntry(nobody=True),  # a box from another detector run
        blurred.id: FaceEntry(cluster=1),  # untrusted, but the person knows who it is
        face_id("0" * 32, [1, 2, 3, 4]): FaceEntry(person="Grace", file="images/gone.png"),
    }
    fs = [replace(f) for f in faces]
    result = organize(fs, emb, DEFAULTS, people)
    by_id = {f.id: f for f in fs}
    assert (by_id[grace_mirror.id].person, by_id[grace_mirror.id].cluster, by_id[grace_mirror.id].corrected) == \
        ("Eileen", 1, "moved")
    assert (by_id[far.id].status, by_id[far.id].cluster, by_id[far.id].person) == ("nobody", None, None)
    assert (by_id[blurred.id].status, by_id[blurred.id].cluster, by_id[blurred.id].person) == ("blurry", 1, "Eileen")
    sizes = {c["cluster"]: c["size"] for c in result.clusters}
    assert sizes == {1: 8 - 1 + 1 + 1, 2: 4}  # far left, the mirror and the blurred one joined
    assert result.corrections == 3
    assert len(result.warnings) == 1 and "gone.png" in result.warnings[0] and "ignored" in result.warnings[0]


def test_a_correction_to_a_cluster_that_does_not_exist_is_warned(library):
    faces, emb = library
    target = next(f for f in faces if f.path.endswith("grace_mirror.png"))
    people = People(faces={target.id: FaceEntry(cluster=9)})
    fs = [replace(f) for f in faces]
    result = organize(fs, emb, DEFAULTS, people)
    assert any("cluster 9, which does not exist" in w for w in result.warnings)
    assert next(f for f in fs if f.id == target.id).cluster == 2


def test_merging_clusters_of_one_person(library):
    faces, emb = library
    tight = replace(DEFAULTS, threshold=0.12, min_cluster=1)
    split = organize([replace(f) for f in faces], emb, tight, People()).clusters
    eileen = [c["cluster"] for c in split if any(fid in {f.id for f in faces if "eileen" in f.path} for fid in c["faces"])]
    assert len(eileen) > 1  # a tight threshold splits her
    people = pins(split, {eileen[0]: "Eileen"})
    for n in eileen[1:]:
        people.clusters[n].merged_into = eileen[0]
    fs = [replace(f) for f in faces]
    merged = organize(fs, emb, tight, people).clusters
    mine = [c for c in merged if c["name"] == "Eileen"]
    assert len(mine) == 1 and mine[0]["cluster"] == eileen[0] and mine[0]["size"] == 8
    assert mine[0]["merged"] == sorted(eileen[1:])


def test_people_file_round_trip_and_errors_at_file_line_col(tmp_path):
    people = People(clusters={3: ClusterEntry(name="Emma", centroid=encode_vector(np.ones(128)), note="from the beach"),
                              7: ClusterEntry(merged_into=3)},
                    faces={face_id("ab" * 16, [1, 2, 3, 4]): FaceEntry(nobody=True, file="images/x.png")})
    path = tmp_path / "family.yaml"
    path.write_text(dump_people(people, "family"))
    assert load_people(path, "people/family.yaml") == people
    assert "note: from the beach" in path.read_text()

    path.write_text("clusters:\n  3: {name: Emma, merged_into: 4}\nfaces:\n  'nope': {person: Jake, nobody: true}\n")
    with pytest.raises(PeopleError) as e:
        load_people(path, "people/family.yaml")
    msg = str(e.value)
    assert "people/family.yaml:2:32: cluster 4 is not in this file" in msg
    assert "people/family.yaml:4:3: 'nope' is not a face id" in msg
    assert "people/family.yaml:4:11: a face entry says exactly one of person, cluster, nobody (got person, nobody)" in msg
    path.write_text("clusters:\n  3: {name: '  ', centroid: f16:AAAA}\n")
    with pytest.raises(PeopleError) as e:
        load_people(path, "people/family.yaml")
    assert "people/family.yaml:2:13: clusters.3.name: Value error, a name cannot be empty" in str(e.value)
    assert "clusters.3.centroid" in str(e.value) and "expected 256" in str(e.value)


def test_status_and_faces_help_import_no_dlib(project):
    import subprocess
    import sys

    from test_light_imports import HEAVY, PROBE

    (project.root / "photos").mkdir()
    project.spec("""
        sources:
          photos: {dir: photos}
          emma: {faces: family, person: Emma}
        faces:
          family: {of: [photos]}
    """)
    for args in (["status"], ["graph"], ["faces", "--help"]):
        code = PROBE.format(heavy=(*HEAVY, "dlib", "face_recognition_models"), args=args)
        p = subprocess.run([sys.executable, "-c", code], cwd=project.root, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        assert p.stdout.splitlines()[-1] == "HEAVY:", f"imagineer {' '.join(args)}: {p.stdout[-300:]}"
