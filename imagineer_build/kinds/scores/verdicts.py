"""Vectors → numbers: adherence, zero-shot choices, verdicts, and the per-target summary.

Pure arithmetic on memoised vectors (numpy, float64), so it is cheap to redo whenever
thresholds, options or flags change. Recorded numbers are rounded (adherence to 2 decimals,
probabilities to 4) and everything downstream (selections, summaries) reads the recorded ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...media.scoreset import VERDICTS, ImageScore


@dataclass
class Check:
    """One checked variation or column: its options and their texts."""

    name: str
    source: str  # "variation" | "column"
    options: list[str]
    texts: list[str]

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "options": self.options, "texts": self.texts}


def unit(v):
    import numpy as np

    v = np.asarray(v, dtype=np.float64)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n == 0, 1.0, n)


def clip_score(image, pieces) -> float:
    """CLIPScore, max(100·cos, 0), averaged over the pieces a long prompt was split into."""
    cos = unit(pieces) @ unit(image)
    return round(float((100.0 * cos).clip(min=0).mean()), 2)


def choice(image, option_vectors, logit_scale: float) -> list[float]:
    """P(option) for each option: softmax over logit_scale · cos, as CLIP's zero-shot classifier."""
    import numpy as np

    logits = logit_scale * (unit(option_vectors) @ unit(image))
    e = np.exp(logits - logits.max())
    return [float(x) for x in e / e.sum()]


def verdict(matched: int, checked: int, success: float, partial: float) -> str:
    if checked == 0:
        return "unchecked"
    share = matched / checked
    if share >= success - 1e-12:
        return "success"
    return "partial" if share >= partial - 1e-12 else "failed"


def score_image(image, prompt_pieces, intended: dict[str, str], checks: list[Check],
                option_vectors: dict[str, Any], logit_scale: float | None, flag: str | None,
                thresholds: Any) -> ImageScore:
    """One image's record: adherence (when prompt pieces are given), each check it has an
    intended value for, the verdict (a hand flag wins), and the ranking score."""
    adherence = clip_score(image, prompt_pieces) if prompt_pieces is not None else None
    results: dict[str, dict[str, Any]] = {}
    for c in checks:
        if c.name not in intended:
            continue
        probs = choice(image, option_vectors[c.name], logit_scale or 1.0)
        best = max(range(len(probs)), key=lambda k: (probs[k], -k))
        want = c.options.index(intended[c.name])
        results[c.name] = {"intended": intended[c.name], "chosen": c.options[best],
                           "p": round(probs[want], 4), "match": best == want}
    matched = sum(1 for r in results.values() if r["match"])
    if results:
        score = round(sum(r["p"] for r in results.values()) / len(results), 4)
    else:
        score = round(adherence / 100, 4) if adherence is not None else 0.0
    v = verdict(matched, len(results), thresholds.success, thresholds.partial)
    if flag is not None:
        v = "failed" if flag == "failed" else "success"
    return ImageScore(adherence=adherence, chunks=len(prompt_pieces) if prompt_pieces is not None else 0,
                      checks=results, matched=matched, checked=len(results), score=score, verdict=v, flag=flag)


def summarize(scores: dict[str, ImageScore], checks: list[Check]) -> dict[str, Any]:
    """Verdict counts, mean adherence, per-value success rates and the values failing most."""
    verdicts = {v: 0 for v in VERDICTS}
    for s in scores.values():
        verdicts[s.verdict] += 1
    adh = [s.adherence for s in scores.values() if s.adherence is not None]
    per_value: list[dict[str, Any]] = []
    for c in checks:
        for opt in c.options:
            rows = [s.checks[c.name] for s in scores.values() if c.name in s.checks and s.checks[c.name]["intended"] == opt]
            if not rows:
                continue
            hit = sum(1 for r in rows if r["match"])
            per_value.append({"name": c.name, "value": opt, "images": len(rows), "matched": hit,
                              "rate": round(hit / len(rows), 4),
                              "mean_p": round(sum(r["p"] for r in rows) / len(rows), 4)})
    failing = sorted((r for r in per_value if r["rate"] < 1), key=lambda r: (r["rate"], -r["images"], r["name"], r["value"]))
    return {
        "images": len(scores),
        "verdicts": verdicts,
        "flagged": {f: sum(1 for s in scores.values() if s.flag == f) for f in ("failed", "ok")},
        "mean_adherence": round(sum(adh) / len(adh), 2) if adh else None,
        "split_prompts": sum(1 for s in scores.values() if s.chunks > 1),
        "per_value": per_value,
        "top_failing": failing[:10],
    }


def compare(now: dict[str, Any], before: dict[str, Any], baseline: str) -> dict[str, Any]:
    """Deltas against a baseline summary: verdict shares (percentage points), mean adherence,
    and the success rate of every value both have checked."""
    def share(s: dict[str, Any], v: str) -> float:
        return round(100 * s["verdicts"].get(v, 0) / s["images"], 2) if s.get("images") else 0.0

    old = {(r["name"], r["value"]): r for r in before.get("per_value", [])}
    per_value = []
    for r in now["per_value"]:
        b = old.get((r["name"], r["value"]))
        if b is not None:
            per_value.append({"name": r["name"], "value": r["value"], "before": b["rate"], "now": r["rate"],
                              "delta": round(r["rate"] - b["rate"], 4)})
    adh = None
    if now.get("mean_adherence") is not None and before.get("mean_adherence") is not None:
        adh = {"before": before["mean_adherence"], "now": now["mean_adherence"],
               "delta": round(now["mean_adherence"] - before["mean_adherence"], 2)}
    return {"target": baseline, "images": {"before": before.get("images", 0), "now": now["images"]},
            "verdicts": {v: {"before": share(before, v), "now": share(now, v),
                             "delta": round(share(now, v) - share(before, v), 2)} for v in VERDICTS},
            "mean_adherence": adh, "per_value": per_value}
