"""What a person should know before spending hours training: metadata.json and its warnings.

The recommended settings are the old workflow's "smart defaults" (epochs and batch size by
dataset size); repeats are chosen so one run is about DEFAULT_STEPS optimizer steps, the old
trainer's default step count.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

SHOTS = ("close", "mid", "far")
DEFAULT_STEPS = 1500
MIN_IMAGES = 15
MAX_SHOT_SHARE = 0.6
MIN_PER_SHOT = 3
COMMON_WORDS = {
    "woman", "man", "girl", "boy", "person", "people", "face", "portrait", "photo", "style", "art",
    "image", "picture", "dog", "cat", "card", "tarot", "character", "model", "lora", "the",
    "a", "an", "painting", "drawing", "anime", "cartoon", "realistic", "beautiful",
}


def recommended(n: int, repeats: int | None = None) -> dict[str, int]:
    """Epochs and batch size by dataset size; repeats toward ~DEFAULT_STEPS steps in all."""
    epochs = 20 if n < 20 else 15 if n <= 50 else 10 if n <= 100 else 8
    batch = 1 if n < 30 else 2 if n <= 100 else 4
    if repeats is None:
        repeats = max(1, min(100, round(DEFAULT_STEPS * batch / (max(n, 1) * epochs))))
    return {"epochs": epochs, "batch_size": batch, "repeats": repeats,
            "steps": -(-n * repeats // batch) * epochs if n else 0}


def caption_stats(captions: list[str]) -> dict[str, Any]:
    if not captions:
        return {"count": 0}
    chars = [len(c) for c in captions]
    words = [len(c.split()) for c in captions]

    def stats(xs: list[int]) -> dict[str, float]:
        return {"min": min(xs), "max": max(xs), "mean": round(statistics.fmean(xs), 1),
                "median": statistics.median(xs)}

    return {"count": len(captions), "chars": stats(chars), "words": stats(words)}


def shot_distribution(shots: list[str]) -> dict[str, Any]:
    counts = Counter(shots)
    known = sum(counts[s] for s in SHOTS)
    return {
        "counts": {s: counts.get(s, 0) for s in (*SHOTS, "unknown")},
        "shares": {s: round(counts.get(s, 0) / known, 3) if known else 0.0 for s in SHOTS},
        "with_faces": known,
    }


def trigger_problem(trigger: str | None) -> str | None:
    if not trigger:
        return None
    words = trigger.split()
    if len(words) > 2:
        return f"trigger {trigger!r} has {len(words)} words: 1–2 short words train best"
    if any(w.lower() in COMMON_WORDS for w in words):
        return f"trigger {trigger!r} is a common word: pick a unique token (e.g. 'emma', not 'woman')"
    return None


def warnings(*, n: int, shots: dict[str, Any] | None, excluded: list[dict[str, Any]],
             uncaptioned: int, truncated: int, max_length: int, trigger: str | None,
             label_errors: int) -> list[str]:
    out: list[str] = []
    if n == 0:
        out.append("the dataset is empty: every image was excluded (see excluded)")
    elif n < MIN_IMAGES:
        out.append(f"only {n} images: at least {MIN_IMAGES}–20 are recommended, 30+ is better")
    if shots and shots["with_faces"]:
        known = shots["with_faces"]
        for s in SHOTS:
            c = shots["counts"][s]
            if c / known > MAX_SHOT_SHARE:
                out.append(f"{c / known:.0%} of the images with faces are {s} shots (over "
                           f"{MAX_SHOT_SHARE:.0%}): aim for ~30–40% close, 40–50% mid, 20–30% far")
            elif c < MIN_PER_SHOT:
                out.append(f"only {c} {s} shot{'s' if c != 1 else ''}: at least {MIN_PER_SHOT} of each type are recommended")
    missing = sum(1 for e in excluded if e["reason"].startswith("no caption"))
    if missing:
        out.append(f"{missing} image{'s' if missing != 1 else ''} left out for missing captions (see excluded)")
    if uncaptioned:
        out.append(f"{uncaptioned} image{'s' if uncaptioned != 1 else ''} have no caption and train on the "
                   "template alone (require_caption is off)")
    if truncated:
        out.append(f"{truncated} caption{'s were' if truncated != 1 else ' was'} cut to max_caption_length "
                   f"({max_length} characters)")
    if label_errors:
        out.append(f"{label_errors} image{'s' if label_errors != 1 else ''} failed labelling upstream")
    problem = trigger_problem(trigger)
    if problem:
        out.append(problem)
    return out
