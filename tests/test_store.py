"""The store: atomic writes, the action record as commit point, the stat cache, gc, verify-cache,
and healing of damaged blobs (including an out-view file edited in place through its hard link)."""

from __future__ import annotations

import os
import stat

import pytest
from engine_kinds import ENV

from imagineer_build.core.artifact import Artifact
from imagineer_build.core.hashing import digest_bytes
from imagineer_build.core.statcache import StatCache
from imagineer_build.core.store import (
    ActionRecord,
    BlobDamaged,
    LocalStore,
    StoreError,
    atomic_write,
)

# ---- unit level ----------------------------------------------------------------------------


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "record.json"
    atomic_write(target, b"old")

    with pytest.raises(TypeError):
        atomic_write(target, 12345)  # type: ignore[arg-type]  # fails inside the write
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.json"]
    atomic_write(target, b"new", fsync=True)
    assert target.read_bytes() == b"new"


def test_blobs_are_named_by_content_read_only_and_stored_once(tmp_path):
    store = LocalStore(tmp_path / "cache")
    d = store.put_bytes(b"hello")
    assert d == digest_bytes(b"hello")
    path = store.blob_path(d)
    assert path.read_bytes() == b"hello"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    src = tmp_path / "f.bin"
    src.write_bytes(b"hello")
    assert store.put_file(src) == d
    assert len(list(store.cas.root.glob("*/*"))) == 1
    assert list(store.tmp.iterdir()) == []


def test_put_file_refuses_bytes_that_do_not_match_the_promised_digest(tmp_path):
    store = LocalStore(tmp_path / "cache")
    src = tmp_path / "f.bin"
    src.write_bytes(b"changed since it was hashed")
    with pytest.raises(StoreError, match="changed while it was being stored"):
        store.put_file(src, digest_bytes(b"what was hashed"))
    assert list(store.cas.root.glob("*/*")) == [] and list(store.tmp.iterdir()) == []


def test_only_the_action_record_makes_a_key_built(tmp_path):
    store = LocalStore(tmp_path / "cache")
    art = store.store_artifact(Artifact(files={"a.txt": store.put_bytes(b"a")}, meta={"m": 1}))
    assert store.get_action("a" * 32) is None  # blobs alone are not a result
    rec = ActionRecord("a" * 32, "t", "fake", art, 1.0, 0.1, {"n": 1}, {"kind": "fake"})
    store.commit(rec)
    assert store.get_action("a" * 32) == rec
    assert store.last_action("t") == rec
    # A torn record (a crash mid-write of a non-atomic writer) counts as no record.
    store.actions._path("a" * 32).write_bytes(rec.to_json()[:20])
    assert store.get_action("a" * 32) is None


def test_load_artifact_detects_a_damaged_blob(tmp_path):
    store = LocalStore(tmp_path / "cache")
    d = store.put_bytes(b"precious bytes")
    art = store.store_artifact(Artifact(files={"p.bin": d}))
    assert store.load_artifact(art).read("p.bin") == b"precious bytes"
    p = store.blob_path(d)
    os.chmod(p, 0o644)
    with open(p, "r+b") as f:  # same size, different bytes: only the digest can tell
        f.write(b"PRECIOUS")
    with pytest.raises(BlobDamaged, match="content hashes to"):
        store.load_artifact(art)
    assert not store.has_blob(d)


def test_stat_cache_rehashes_racy_entries_and_trusts_old_ones(tmp_path):
    cache = StatCache(tmp_path / "stat.cache")
    f = tmp_path / "f.txt"
    f.write_bytes(b"aaaa")
    first = cache.digest(f)[0]
    # Rewritten within the racy window with the same size and mtime: must be re-read.
    st = f.stat()
    f.write_bytes(b"bbbb")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert cache.digest(f)[0] == digest_bytes(b"bbbb") != first
    # An old file whose stat is unchanged is not read again, even from a new process' cache.
    os.utime(f, ns=(1_000_000_000, 1_000_000_000))
    cache.digest(f)
    cache.flush()
    fresh = StatCache(tmp_path / "stat.cache")
    assert fresh.digest(f)[0] == digest_bytes(b"bbbb")
    assert fresh.hashed == 0
    f.write_bytes(b"cccc")  # new mtime
    assert fresh.digest(f)[0] == digest_bytes(b"cccc") and fresh.hashed == 1


def test_stat_cache_writers_merge_and_a_damaged_file_only_costs_rehashing(tmp_path):
    files = []
    for name in ("a", "b"):
        f = tmp_path / f"{name}.txt"
        f.write_bytes(name.encode() * 10)
        os.utime(f, ns=(1_000_000_000, 1_000_000_000))
        files.append(f)
    one, two = StatCache(tmp_path / "stat.cache"), StatCache(tmp_path / "stat.cache")
    one._load(), two._load()  # both loaded the empty cache, as two processes would
    one.digest(files[0])
    two.digest(files[1])
    one.flush()
    two.flush()  # must not drop what `one` saved meanwhile
    fresh = StatCache(tmp_path / "stat.cache")
    assert [fresh.digest(f)[0] for f in files] == [digest_bytes(b"a" * 10), digest_bytes(b"b" * 10)]
    assert fresh.hashed == 0
    (tmp_path / "stat.cache").write_bytes(b"\x00garbage")
    damaged = StatCache(tmp_path / "stat.cache")
    assert damaged.digest(files[0])[0] == digest_bytes(b"a" * 10) and damaged.hashed == 1
    damaged.flush()
    assert StatCache(tmp_path / "stat.cache").digest(files[0]) and damaged.flush_error is None


def test_gc_keeps_pinned_and_recent_records_and_frees_the_rest(tmp_path):
    store = LocalStore(tmp_path / "cache")
    recs = []
    for i in range(3):
        art = store.store_artifact(Artifact(files={"x": store.put_bytes(b"version %d" % i * 100)}))
        rec = ActionRecord(f"{i:032d}", "t", "fake", art, 100.0 + i, 0.1, {}, {})
        store.commit(rec)
        recs.append(rec)
    res = store.gc({recs[0].key}, keep=1)  # pinned: the oldest; kept: the newest
    assert res["records_dropped"] == 1 and res["bytes_freed"] > 300
    assert store.get_action(recs[1].key) is None
    store.load_artifact(recs[0].artifact)
    store.load_artifact(recs[2].artifact)
    res = store.gc({recs[0].key}, keep=1, max_size=0)  # evicts all it may, never the pinned
    assert store.get_action(recs[2].key) is None
    assert store.load_artifact(recs[0].artifact).read("x") == b"version 0" * 100


def test_gc_max_size_evicts_only_as_much_as_needed(tmp_path):
    store = LocalStore(tmp_path / "cache")
    art = store.store_artifact(Artifact(files={"x": store.put_bytes(b"p" * 500)}))
    pinned = ActionRecord("b" * 32, "t", "fake", art, 1.0, 0.1, {}, {})
    store.commit(pinned)
    for i in range(3):
        store.memo_put("ns", f"k{i}", {"i": i}, store.put_bytes(bytes([i]) * 1000))
    store.memo_put("ns", "no-blob", {"small": True})
    total = store.total_size()
    assert total > 3500
    res = store.gc({pinned.key}, max_size=total - 900)
    assert res["bytes_freed"] == 1000 and res["records_dropped"] == 0
    left = store.memo_get_many("ns", ["k0", "k1", "k2", "no-blob"])
    assert len(left) == 3 and "no-blob" in left
    assert store.total_size() <= total - 900
    res = store.gc({pinned.key}, max_size=0)
    assert store.memo_get_many("ns", ["k0", "k1", "k2"]) == {}
    assert store.load_artifact(art).read("x") == b"p" * 500


# ---- through the CLI -----------------------------------------------------------------------


@pytest.mark.slow
def test_gc_keep_and_max_size_through_the_cli(project):
    project.spec("""
        fakes:
          t: {output: first version}
    """)
    assert project.build(env=ENV).code == 0
    project.spec("""
        fakes:
          t: {output: second version}
    """)
    assert project.build(env=ENV).code == 0
    kept = project.run("gc", "--keep", "2", env=ENV)
    assert kept.code == 0 and "freed 0 B (0 bytes); dropped 0 action records" in kept.out
    r = project.run("gc", env=ENV)
    assert r.code == 0 and "dropped 1 action record" in r.out
    assert "(0 bytes)" not in r.out
    assert project.build(env=ENV).statuses() == {"t": "cached"}
    capped = project.run("gc", "--max-size", "0", env=ENV)
    assert capped.code == 0
    assert project.build(env=ENV).statuses() == {"t": "cached"}  # the lock pins it
    assert (project.root / "out/t/out.txt").read_text() == "second version"


def test_verify_cache_finds_a_corrupted_blob_and_the_next_build_heals_it(project):
    project.spec("""
        fakes:
          base: {output: original bytes}
          top: {uses: [base]}
    """)
    assert project.build(env=ENV).code == 0
    clean = project.run("verify-cache", env=ENV)
    assert clean.code == 0 and "0 damaged blobs" in clean.out
    data_digest = None
    for p in (project.root / "cache/blobs").glob("*/*"):
        if p.read_bytes() == b"original bytes":
            data_digest = p.name
            os.chmod(p, 0o644)
            p.write_bytes(b"rotten bytes!!")
    assert data_digest
    bad = project.run("verify-cache", env=ENV)
    assert bad.code == 1 and f"blob {data_digest} is damaged" in bad.out and "1 damaged blob" in bad.out
    healed = project.build(env=ENV)
    assert healed.statuses() == {"base": "built", "top": "cached"}
    assert (project.root / "out/base/out.txt").read_text() == "original bytes"
    assert "0 damaged blobs" in project.run("verify-cache", env=ENV).out


def test_out_view_file_edited_in_place_is_detected_and_healed(project, shapes):
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
        fakes:
          after: {uses: [shapes]}
    """)
    assert project.build(env=ENV).code == 0
    viewed = project.root / "out/shapes/images/shape_000.png"
    original = (shapes / "shape_000.png").read_bytes()
    assert viewed.read_bytes() == original
    os.chmod(viewed, 0o644)  # what an editor does before saving over a read-only file
    with open(viewed, "r+b") as f:  # in place: through a hard link this rewrites the blob
        f.seek(len(original) // 2)
        f.write(b"\0" * 64)
    r = project.build(env=ENV)
    assert r.code == 0, r.err
    assert r.statuses() == {"shapes": "built", "after": "cached"}
    warnings = [e["message"] for e in r.events() if e.get("event") == "log" and e.get("level") == "warning"]
    assert any("damaged cache" in w and "rebuilding shapes" in w for w in warnings)
    assert viewed.read_bytes() == original
    assert "0 damaged blobs" in project.run("verify-cache", env=ENV).out
