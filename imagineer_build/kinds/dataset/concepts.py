"""Concepts: taxonomy terms found in captions and tags, per image and as dataset frequencies.

A concept seen in over 70% of a dataset is learned strongly (it becomes part of the trigger);
one under 20% is learned weakly. The report says which is which so a person can rebalance
before training.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_TAXONOMY = Path(__file__).with_name("taxonomy.yaml")
STRONG, WEAK = 0.7, 0.2


class TaxonomyError(ValueError):
    """A taxonomy file that is not category → list of terms."""


@dataclass(frozen=True)
class Term:
    category: str
    name: str
    pattern: re.Pattern


def load_taxonomy(path: Path | None = None, text: str | None = None) -> dict[str, Any]:
    """Parse a YAML or JSON taxonomy file (the shipped one when no path is given)."""
    from ...core.spec import SpecErrors, load_yaml, read_text

    path = path or DEFAULT_TAXONOMY
    try:
        raw = text if text is not None else read_text(path, path.name, what="taxonomy")
        data = json.loads(raw) if path.suffix.lower() == ".json" else load_yaml(path, path.name, raw).data
    except SpecErrors as e:
        raise TaxonomyError(str(e.errors[0])) from None
    except ValueError as e:
        raise TaxonomyError(f"{path.name}: cannot parse: {e}") from None
    if not isinstance(data, dict):
        raise TaxonomyError(f"{path}: expected a mapping of category → list of terms")
    return data


def compile_terms(taxonomy: dict[str, Any], source: str = "taxonomy") -> list[Term]:
    """Terms with their matching patterns; entries are 'term' or {term: [alias, ...]}."""
    terms = []
    for category, entries in taxonomy.items():
        if not isinstance(entries, list):
            raise TaxonomyError(f"{source}: category {category!r} must be a list of terms")
        for entry in entries:
            if isinstance(entry, str):
                name, aliases = entry, []
            elif isinstance(entry, dict) and len(entry) == 1:
                name, aliases = next(iter(entry.items()))
                aliases = aliases or []
                if not isinstance(aliases, list) or not all(isinstance(a, str | int | float) for a in aliases):
                    raise TaxonomyError(f"{source}: aliases of {name!r} must be a list of words")
                aliases = [str(a) for a in aliases]  # YAML reads `2` as a number
            else:
                raise TaxonomyError(f"{source}: in {category!r}, {entry!r} is neither a term nor {{term: [aliases]}}")
            terms.append(Term(str(category), str(name), _pattern([str(name), *aliases])))
    return terms


def _pattern(phrases: list[str]) -> re.Pattern:
    alts = []
    # longest first, ties alphabetical: the pattern text is part of memo keys, so it must not
    # follow a set's hash order
    for p in sorted({p.strip().lower() for p in phrases if p.strip()}, key=lambda p: (-len(p), p)):
        words = [re.escape(w) for w in p.split()]
        alts.append(r"[\s_-]+".join(words) + "(?:e?s)?")
    return re.compile(r"(?<![\w])(?:" + "|".join(alts) + r")(?![\w])", re.IGNORECASE)


def find(terms: list[Term], text: str) -> dict[str, list[str]]:
    """category → terms present in text (taxonomy order)."""
    out: dict[str, list[str]] = {}
    for t in terms:
        if t.pattern.search(text):
            out.setdefault(t.category, []).append(t.name)
    return out


def frequencies(per_image: list[dict[str, list[str]]], top: int = 20) -> dict[str, Any]:
    """Counts, frequencies and strengths over a dataset; `top` lists the most common first."""
    n = len(per_image)
    counts: Counter[tuple[str, str]] = Counter(
        (cat, term) for found in per_image for cat, ts in found.items() for term in ts)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))

    def row(cat: str, term: str, c: int) -> dict[str, Any]:
        f = c / n if n else 0.0
        return {"category": cat, "term": term, "count": c, "frequency": round(f, 3),
                "strength": "strong" if f > STRONG else "weak" if f < WEAK else "moderate"}

    by_category: dict[str, dict[str, int]] = {}
    for (cat, term), c in ranked:
        by_category.setdefault(cat, {})[term] = c
    return {"images": n, "top": [row(cat, term, c) for (cat, term), c in ranked[:top]],
            "by_category": by_category}
