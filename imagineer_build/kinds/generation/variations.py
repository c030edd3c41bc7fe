"""Variation values (lists or YAML files) and their combinations per row."""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

from ...core.hashing import digest_json
from .config import VariationsConfig


class VariationError(ValueError):
    pass


def load_values(name: str, spec: list[Any] | str, root: Path) -> list[str]:
    """A variation's values: the list itself, or a YAML file holding a list (or {name: list})."""
    if isinstance(spec, list):
        return [_text(name, v) for v in spec]
    from ...core.spec import SpecErrors, load_yaml

    try:
        data = load_yaml(root / spec, spec).data
    except SpecErrors as e:
        raise VariationError(f"variation {name}: {e.errors[0]}") from None
    if isinstance(data, dict):
        if name in data:
            data = data[name]
        elif len(data) == 1 and isinstance(next(iter(data.values())), list):
            data = next(iter(data.values()))
        elif "values" in data:
            data = data["values"]
    if not isinstance(data, list) or not data:
        raise VariationError(f"variation {name}: {spec} must hold a non-empty YAML list of values "
                             f"(or a mapping {{{name}: [...]}})")
    return [_text(name, v) for v in data]


def _text(name: str, v: Any) -> str:
    if isinstance(v, (dict, list)) or v is None:
        raise VariationError(f"variation {name}: values must be text or numbers, got {v!r}")
    return str(v).strip()


def load_all(cfg: VariationsConfig, root: Path) -> dict[str, list[str]]:
    return {name: load_values(name, spec, root) for name, spec in cfg.values.items()}


def combinations(values: dict[str, list[str]], cfg: VariationsConfig, row: dict[str, Any]) -> list[dict[str, str]]:
    """The variation values each image of one row gets, in a stable order.

    random: `limit` distinct combinations drawn with a seed that depends on the row's content,
    so reordering rows changes nothing and a row's draw survives edits to other rows.
    """
    if not values:
        return [{}]
    names = list(values)
    sizes = [len(values[n]) for n in names]
    total = 1
    for s in sizes:
        total *= s
    limit = min(cfg.limit or total, total)
    if cfg.mode == "combinatorial":
        combos = itertools.islice(itertools.product(*(values[n] for n in names)), limit)
        return [dict(zip(names, c, strict=True)) for c in combos]
    rng = random.Random(digest_json([cfg.seed, sorted(row.items())]))
    picks = sorted(rng.sample(range(total), limit))
    out = []
    for idx in picks:
        combo = {}
        for n, s in zip(reversed(names), reversed(sizes), strict=True):
            idx, r = divmod(idx, s)
            combo[n] = values[n][r]
        out.append({n: combo[n] for n in names})
    return out
