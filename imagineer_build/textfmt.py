"""Text people read: rounded numbers, plurals, mappings without Python reprs, cut lists that
say what was left out. `imagineer show` and build summaries go through these."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def num(x: Any) -> str:
    """A number as a person reads it: 1.0973, 0.0001, 12, 1.5e-06."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    if isinstance(x, int) or float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.5g}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 image', '2 images', '1 entry' / '3 entries' (given many='entries')."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def pairs(d: dict[str, Any] | None, skip_empty: bool = True) -> str:
    """{'batch_size': 1, 'lr': 0.0001} → 'batch_size 1, lr 0.0001' (None values left out)."""
    out = []
    for k, v in (d or {}).items():
        if skip_empty and v in (None, "", [], {}):
            continue
        if isinstance(v, dict):
            v = "{" + pairs(v, skip_empty) + "}"
        elif isinstance(v, (list, tuple)):
            v = " ".join(num(x) for x in v)
        out.append(f"{k} {num(v)}")
    return ", ".join(out)


def cut(items: Sequence[Any], limit: int | None) -> tuple[Sequence[Any], str | None]:
    """(the items to show, a '… N more' line or None); limit None shows everything."""
    if limit is None or len(items) <= limit:
        return items, None
    return items[:limit], f"  … {len(items) - limit} more (imagineer show TARGET --all lists every one)"


def lines_cut(lines: Iterable[str], limit: int | None) -> list[str]:
    shown, more = cut(list(lines), limit)
    return [*shown, *([more] if more else [])]
