"""Aspect-ratio buckets: the sizes training resizes images to, planned once, here.

Every bucket has sides that are multiples of `step` and an area of at most resolution²; an
image goes to the bucket whose aspect ratio is nearest its own (compared as logarithms, so
2:1 and 1:2 are equally far from square). Training reads the plan from the artifact instead of
recomputing it, so the dataset report and the trainer can never disagree.
"""

from __future__ import annotations

import math


def plan(resolution: int, step: int = 64, min_side: int = 256, max_side: int = 1024) -> list[tuple[int, int]]:
    """All candidate buckets, widest first."""
    max_area = resolution * resolution
    side = max(step, resolution // step * step)
    found = {(side, side)}
    w = max(step, -(-min_side // step) * step)
    while w <= max_side:
        h = min(max_side, max_area // w // step * step)
        if h >= min_side:
            found.add((w, h))
            found.add((h, w))
        w += step
    return sorted(found, key=lambda b: (-b[0] / b[1], -b[0] * b[1]))


def nearest(width: int, height: int, buckets: list[tuple[int, int]]) -> tuple[int, int]:
    """The bucket with the closest aspect ratio; among equals, the largest."""
    target = math.log(width / height)
    return min(buckets, key=lambda b: (round(abs(math.log(b[0] / b[1]) - target), 9), -b[0] * b[1]))


def assign(sizes: list[tuple[int, int]], resolution: int, enabled: bool = True, step: int = 64,
           min_side: int = 256, max_side: int = 1024) -> tuple[list[tuple[int, int]], list[list[int]]]:
    """(bucket per image, the buckets in use sorted widest first)."""
    if not enabled:
        side = max(step, resolution // step * step)
        chosen = [(side, side)] * len(sizes)
    else:
        candidates = plan(resolution, step, min_side, max_side)
        by_size: dict[tuple[int, int], tuple[int, int]] = {}  # a dataset has few distinct sizes
        chosen = [by_size.get(s) or by_size.setdefault(s, nearest(*s, candidates)) for s in sizes]
    used = sorted(set(chosen), key=lambda b: (-b[0] / b[1], -b[0] * b[1]))
    return chosen, [list(b) for b in used]
