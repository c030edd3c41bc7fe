"""The scores kind's parts in-process: verdict math, selections, flags files, prompt splitting."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from imagineer_build.kinds.scores.config import ScoresConfig, Thresholds
from imagineer_build.kinds.scores.flags import FlagsError, load_flags, match_flags, set_flags
from imagineer_build.kinds.scores.verdicts import (
    Check,
    choice,
    clip_score,
    compare,
    score_image,
    summarize,
    verdict,
)
from imagineer_build.media.album import Album, AlbumImage
from imagineer_build.media.scoreset import ImageScore, ScoreSet, Selection, select


def test_verdict_thresholds_are_the_braindumps_and_configurable():
    t = Thresholds()
    assert [verdict(m, 5, t.success, t.partial) for m in range(6)] == \
        ["failed", "failed", "failed", "partial", "success", "success"]  # 3/5 = 60 %, 4/5 = 80 %
    assert verdict(1, 2, 0.8, 0.5) == "partial" and verdict(0, 0, 0.8, 0.5) == "unchecked"
    assert verdict(3, 5, 0.6, 0.4) == "success"
    with pytest.raises(ValidationError, match="partial"):
        Thresholds(success=0.5, partial=0.7)


def test_clip_score_and_choice_are_clipscore_and_softmax():
    img = np.array([1.0, 0.0, 0.0])
    assert clip_score(img, np.array([[1.0, 0.0, 0.0]])) == 100.0
    assert clip_score(img, np.array([[-1.0, 0.0, 0.0]])) == 0.0  # max(100·cos, 0)
    # a prompt split in two pieces: the mean of the pieces' scores
    assert clip_score(img, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])) == 50.0
    probs = choice(img, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), logit_scale=10.0)
    assert probs[0] == pytest.approx(math.exp(10) / (math.exp(10) + 1))


def test_score_image_matches_hand_flags_and_ranking_score():
    checks = [Check("Hair", "variation", ["red", "blue"], ["a picture of red", "a picture of blue"]),
              Check("Cut", "variation", ["bob", "mohawk"], ["a picture of bob", "a picture of mohawk"])]
    vecs = {"Hair": np.eye(3)[:2], "Cut": np.eye(3)[1:]}  # red=x, blue=y; bob=y, mohawk=z
    img = np.array([1.0, 0.1, 0.0])  # "red", and nearer bob than mohawk
    s = score_image(img, None, {"Hair": "red", "Cut": "mohawk"}, checks, vecs, 100.0, None, Thresholds())
    assert s.checks["Hair"]["match"] and s.checks["Cut"]["chosen"] == "bob" and not s.checks["Cut"]["match"]
    assert (s.matched, s.checked, s.verdict, s.adherence, s.chunks) == (1, 2, "partial", None, 0)
    assert s.score == round((s.checks["Hair"]["p"] + s.checks["Cut"]["p"]) / 2, 4)
    flagged = score_image(img, None, {"Hair": "red", "Cut": "mohawk"}, checks, vecs, 100.0, "ok", Thresholds())
    assert flagged.verdict == "success" and flagged.flag == "ok"
    only_hair = score_image(img, np.array([[1.0, 0.0, 0.0]]), {"Hair": "red"}, checks, vecs, 100.0, None, Thresholds())
    assert (only_hair.checked, only_hair.verdict, only_hair.adherence, only_hair.chunks) == (1, "success", 99.5, 1)


def _image(d: str, verdict_: str, score: float, adherence: float | None = 30.0, flag=None, hair=None) -> tuple:
    checks = {"Hair": {"intended": hair, "chosen": hair, "p": score, "match": True}} if hair else {}
    return (AlbumImage(digest=d, path=f"images/{d}.png", width=8, height=8, format="png", origin="t"),
            ImageScore(adherence=adherence, chunks=1, checks=checks, matched=len(checks), checked=len(checks),
                       score=score, verdict=verdict_, flag=flag))


def _scoreset(rows) -> ScoreSet:
    return ScoreSet(Album([im for im, _ in rows]), {im.digest: s for im, s in rows if s is not None})


def test_selection_conditions_all_hold_and_top_ranks_the_whole_album():
    rows = [_image("a", "success", 0.9), _image("b", "success", 0.8, adherence=20.0), _image("c", "partial", 0.95),
            _image("d", "failed", 0.1), _image("e", "success", 0.7), _image("f", "success", 0.99, flag="failed"),
            (AlbumImage(digest="g", path="images/g.png", width=8, height=8, format="png", origin="t"), None)]
    ss = _scoreset(rows)
    kept, out = select(ss, Selection(verdict=["success"], min_adherence=25, top="50%"))
    # top 50 % of the 6 scored = c, a, b (f was flagged failed by hand: never ranked); c is partial,
    # b below min_adherence → only a
    assert [im.digest for im in kept] == ["a"]
    reasons = {o["digest"]: o["reason"] for o in out}
    assert reasons["f"] == "flagged failed by hand" and "verdict partial" in reasons["c"]
    assert "adherence 20.0 is below" in reasons["b"] and "not in the top 50%" in reasons["e"]
    assert reasons["g"].startswith("not scored")
    assert [im.digest for im in select(ss, Selection(top=2))[0]] == ["a", "c"]
    assert [im.digest for im in select(ss, Selection(top=2, by="adherence"))[0]] == ["a", "c"]  # ties → digest
    assert Selection(top="20%").top_count(24) == 5 and Selection(top="100%").top_count(7) == 7
    for bad in ("20", "0%", "120%", "x%", 0):
        with pytest.raises(ValidationError):
            Selection(top=bad)


def test_summary_rates_top_failing_and_baseline_deltas():
    checks = [Check("Hair", "variation", ["red", "blue"], ["r", "b"])]
    def s(hair, match):
        return ImageScore(adherence=20.0, chunks=1, checks={"Hair": {"intended": hair, "chosen": hair, "p": 0.5, "match": match}},
                          matched=int(match), checked=1, score=0.5, verdict="success" if match else "failed")
    now = summarize({"1": s("red", True), "2": s("red", True), "3": s("blue", False), "4": s("blue", True)}, checks)
    assert now["verdicts"] == {"success": 3, "partial": 0, "failed": 1, "unchecked": 0}
    assert [(r["value"], r["images"], r["matched"], r["rate"]) for r in now["per_value"]] == [("red", 2, 2, 1.0), ("blue", 2, 1, 0.5)]
    assert [(r["name"], r["value"]) for r in now["top_failing"]] == [("Hair", "blue")]
    before = summarize({"1": s("red", False), "2": s("blue", False)}, checks)
    d = compare(now, before, "old")
    assert d["verdicts"]["success"] == {"before": 0.0, "now": 75.0, "delta": 75.0}
    assert [(r["value"], r["before"], r["now"], r["delta"]) for r in d["per_value"]] == [("red", 0.0, 1.0, 1.0), ("blue", 0.0, 0.5, 0.5)]


def test_flags_file_edits_keep_what_a_person_wrote(tmp_path):
    text = ("# my review notes\n"
            "aaaa:\n"
            "  flag: ok\n"
            "  note: CLIP is wrong about the hair  # keep me\n"
            "\n"
            "# the next one is dubious\n"
            "bbbb: {flag: failed}\n")
    new = set_flags(text, {"aaaa": {"flag": "failed"}, "cccc": {"flag": "ok", "file": "c.png"}, "bbbb": None}, "t")
    assert new.startswith("# my review notes\n")
    assert "# the next one is dubious\n" in new and "bbbb" not in new
    data = yaml.safe_load(new)
    assert data == {"aaaa": {"flag": "failed", "note": "CLIP is wrong about the hair"},
                    "cccc": {"flag": "ok", "file": "c.png"}}
    fresh = set_flags("", {"dddd": {"flag": "failed", "file": "d.png"}}, "deck-q")
    assert fresh.startswith("# Hand flags for deck-q") and yaml.safe_load(fresh) == {"dddd": {"flag": "failed", "file": "d.png"}}
    p = tmp_path / "flags.yaml"
    p.write_text(new)
    assert load_flags(p, "flags.yaml") == {"aaaa": "failed", "cccc": "ok"}
    p.write_text("aaaa:\n  flag: maybe\n")
    with pytest.raises(FlagsError, match=r"flags.yaml:2:9: flag must be failed or ok"):
        load_flags(p, "flags.yaml")
    images = [AlbumImage(digest="aaaa", path="images/x.png", width=1, height=1, format="png", origin="t"),
              AlbumImage(digest="eeee", path="images/y.png", width=1, height=1, format="png", origin="t")]
    assert match_flags({"aaaa": "ok", "y.png": "failed", "zzzz": "ok"}, images) == ({"aaaa": "ok", "eeee": "failed"}, ["zzzz"])


def test_config_spec_checks_without_a_project():
    from imagineer_build.kinds.scores.config import check

    settings = {"root": "/nonexistent", "models": {"clip": {"base": "builtin:tiny-clip"}, "sd": {"base": "builtin:tiny-sd"}}}
    ok = ScoresConfig.model_validate({"of": "x", "model": "clip", "variations": ["Hair"], "options": {"Hair": ["a", "b"]}})
    assert check(ok, settings) == []
    bad = ScoresConfig.model_validate({"of": "x", "model": "sd", "variations": ["Hair", "Hair"], "template": "{colour}",
                                       "options": {"Hair": ["a"], "Cut": ["x", "y"]}})
    msgs = dict(check(bad, settings))
    assert "is a sd15 model" in msgs[("model",)]
    assert "unknown placeholder {colour}" in msgs[("template",)]
    assert "checked twice" in msgs[("variations", 1)]
    assert "a choice needs at least two" in msgs[("options", "Hair")]
    assert "not in variations or columns" in msgs[("options", "Cut")]


def test_long_prompts_are_split_into_pieces_clip_can_read(tmp_path):
    from imagineer_build.models import ModelSpec
    from imagineer_build.models.clip import MAX_TOKENS, load_scorer

    scorer = load_scorer(ModelSpec(base="builtin:tiny-clip", arch="clip"), tmp_path, tmp_path / "models")
    short = "a red star on a blue background"
    assert scorer.split(short) == [short]
    long = ", ".join(f"ornate steampunk border number {i} with gothic tarot symbols" for i in range(12))
    pieces = scorer.split(long)
    assert len(pieces) > 1 and ", ".join(pieces) == long  # nothing lost, order kept
    for p in pieces:
        assert len(scorer.tokenizer(p)["input_ids"]) <= MAX_TOKENS
