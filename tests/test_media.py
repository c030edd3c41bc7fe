"""media/ helpers: album records round-trip, dedup on real hashes."""

from dataclasses import fields

from imagineer_build.media.album import Album, AlbumImage
from imagineer_build.media.dedup import Candidate, hamming, near_duplicates


def test_album_record_round_trips_every_field():
    im = AlbumImage("d" * 32, "images/a.png", 10, 20, "png", "dir:x/a.png", "ff00ff00ff00ff00", "cap",
                    [{"text": "cap", "origin": "sidecar"}], {"frames": 3})
    d = im.to_dict()
    assert set(d) == {f.name for f in fields(AlbumImage)}
    again = Album.from_meta(Album([im], {"skipped": []}).meta())
    assert again.images[0] == im and again.report == {"skipped": []}


def test_near_duplicates_keep_the_best_ranked_and_report_distance():
    a, b, c = "0000000000000000", "0000000000000007", "ffffffffffffffff"
    assert hamming(a, b) == 3
    dups = near_duplicates([Candidate("small", a, (1,)), Candidate("big", b, (2,)), Candidate("other", c, (3,))], 6)
    assert dups == {"small": ("big", 3)}
    assert near_duplicates([Candidate("small", a, (1,)), Candidate("big", b, (2,))], 2) == {}


def _varied_images(n: int):
    """Noise, blocks, gradients, shapes, flat and half-and-half images in several modes."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(7)
    out = [Image.new("RGB", (64, 64), (120, 30, 200)), Image.new("L", (50, 50)),
           Image.fromarray(np.hstack([np.zeros((64, 32), np.uint8), np.full((64, 32), 255, np.uint8)])),
           Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), (40, 1)))]
    for i in range(n):
        w, h = (int(x) for x in rng.integers(16, 200, 2))
        if i % 3 == 0:
            im = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        elif i % 3 == 1:
            im = Image.fromarray(rng.integers(0, 256, (4, 4), dtype=np.uint8)).resize((w, h), Image.NEAREST)
        else:
            im = Image.new("RGBA", (w, h), tuple(int(x) for x in rng.integers(0, 256, 4)))
            d = ImageDraw.Draw(im)
            x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
            d.ellipse([x0, y0, x0 + w // 3, y0 + h // 3], fill=tuple(int(x) for x in rng.integers(0, 256, 3)))
        out.append(im)
    return out


def test_phash_agrees_with_imagehash_except_at_float_noise_ties():
    """Our integer DCT follows imagehash's phash definition. Where they differ, imagehash's bit
    was decided by floating-point noise: a coefficient that is zero by symmetry compared with a
    median that is zero too (upscaled blocks). Exact integers call such ties the same way on
    every machine."""
    import imagehash
    import numpy as np
    import scipy.fftpack
    from PIL import Image

    from imagineer_build.media.phash import phash

    images = _varied_images(150)
    ours = [phash(im) for im in images]
    theirs = [str(imagehash.phash(im)) for im in images]
    differ = [i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b]
    assert len(differ) <= len(images) // 20
    for i in differ:
        pixels = np.asarray(images[i].convert("L").resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
        low = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)[:8, :8].reshape(-1)
        margin = np.abs(low - np.median(low)) / np.abs(low).max()
        flipped = [b for b in range(64) if (int(ours[i], 16) ^ int(theirs[i], 16)) >> (63 - b) & 1]
        assert flipped and all(margin[b] < 1e-9 for b in flipped), (i, [margin[b] for b in flipped])
    assert len(set(ours)) > 140  # varied inputs, varied hashes: not a constant


def test_phash_is_the_same_with_numpy_and_without():
    """Bulk probing runs the DCT as a numpy matmul, one changed image in plain Python (no
    numpy import): the same exact integers, so the same hash either way."""
    import numpy as np
    from PIL import Image

    from imagineer_build.media.phash import SIZE, _dct_numpy, _dct_python

    rng = np.random.default_rng(7)
    images = _varied_images(150) + [Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8))
                                    for _ in range(50)]
    for im in images:
        small = im.convert("L").resize((SIZE, SIZE), Image.Resampling.LANCZOS)
        assert _dct_python(small) == _dct_numpy(small)


def test_probing_an_image_imports_no_scipy(tmp_path):
    """scipy.fftpack (imagehash's DCT) costs 0.26 s per command: probing must not load it,
    nor numpy (~0.1 s) for one image."""
    import subprocess
    import sys

    from PIL import Image

    Image.new("RGB", (40, 30), (1, 2, 3)).save(tmp_path / "a.png")
    code = ("import sys; from imagineer_build.media.decode import probe_file; "
            f"info = probe_file({str(tmp_path / 'a.png')!r}); "
            "print(info.phash, 'scipy' in sys.modules, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["8000000000000000", "False", "False"]


def test_near_duplicates_by_chunk_index_match_comparing_every_pair():
    """The multi-index search finds exactly what comparing every kept hash finds, ties included:
    planted groups of near copies, exact copies and equal ranks, at every threshold it serves."""
    import random

    import numpy as np

    from imagineer_build.media import dedup

    rnd = random.Random(3)
    hashes = [rnd.getrandbits(64) for _ in range(400)]
    for base in hashes[:120]:  # near copies 1..9 bits away, some sharing a base
        for _ in range(rnd.randrange(1, 4)):
            h = base
            for b in rnd.sample(range(64), rnd.randrange(0, 10)):
                h ^= 1 << b
            hashes.append(h)
    items = [Candidate(f"img{i:04d}", f"{h:016x}", (rnd.randrange(3), rnd.randrange(3), -i))
             for i, h in enumerate(hashes)]
    for t in (0, 1, 3, 4, 6, 7, 8, 11):
        fast = near_duplicates(items, t)
        order = sorted(items, key=lambda c: c.rank, reverse=True)
        brute = dedup._greedy_brute(np.array([int(c.phash, 16) for c in order], dtype=np.uint64), t)
        assert fast == {order[i].id: (order[j].id, d) for i, (j, d) in brute.items()}, t
        assert (t >= 4) <= (len(fast) > 100)  # the planted copies are found


def test_tie_ranks_keep_the_order_of_negated_code_points():
    """The near-duplicate tie-break: the alphabetically first id wins, and an id that is a prefix
    of another loses to it, exactly as ranking by the tuple of negated code points did."""
    import random

    from imagineer_build.kinds.source.select import tie_ranks

    rng = random.Random(7)
    ids = ["a", "ab", "abc", "b", "a/b.png", "a/b.png.png", "Z", "é", "\U0001f600"]
    ids += list({"".join(rng.choice("ab/_.Zé") for _ in range(rng.randint(1, 6))) for _ in range(200)})
    ranks = tie_ranks(ids)
    assert sorted(ids, key=ranks.__getitem__) == sorted(ids, key=lambda s: tuple(-ord(c) for c in s))
    assert ranks["a"] > ranks["b"] and ranks["abc"] > ranks["ab"] > ranks["a"]


def test_hand_written_record_dicts_name_every_field():
    """Album, label and dataset records are turned into dicts by hand (asdict's deep copies were
    a visible cost at 10,000 images): a field added to the class must reach the dict too."""
    from dataclasses import asdict, fields

    from imagineer_build.media.album import AlbumImage
    from imagineer_build.media.datasetfmt import DatasetEntry, DatasetInfo
    from imagineer_build.media.labelset import Label

    im = AlbumImage("d", "images/a.png", 3, 4, "png", "dir:x/a.png", "ff00", "c", [{"text": "c", "origin": "s"}],
                    {"frames": 2})
    lab = Label("c", ["a", "b"], "SAFE", 0.5, "sidecar", "m", "1", "o", "e", True)
    entry = DatasetEntry("d", "i.png", "c", 3, 4, [64, 64], 2, "close", {"tags": ["a"]})
    info = DatasetInfo("kohya", "zqx", 512, [entry], [[64, 64]], 0.1, {"epochs": 1})
    for obj, made in ((im, im.to_dict()), (lab, lab.to_dict()), (entry, entry.to_dict()),
                      (info, info.to_meta()["dataset"])):
        assert list(made) == [f.name for f in fields(obj)] and made == asdict(obj)
