"""Reading the start/end journal the test kinds write: who ran, and who ran at the same time."""

from __future__ import annotations


def intervals(journal) -> dict[str, tuple[float, float]]:
    spans: dict[str, list[float]] = {}
    for line in journal.read_text().splitlines():
        what, name, t = line.split()
        spans.setdefault(name, [0.0, 0.0])[0 if what == "start" else 1] = float(t)
    return {k: (v[0], v[1]) for k, v in spans.items()}


def overlaps(spans: dict[str, tuple[float, float]]) -> list[tuple[str, str]]:
    names = sorted(spans)
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]
            if spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]]
