"""Filter, sort and page a catalog; count facet values. The URL's query string is the state.

Values of one facet are alternatives (OR), facets combine with AND; each facet's counts are
taken over the items that pass every *other* facet, so a person sees what choosing a value
would give. Results are memoised per (artifact, query): paging and going back cost nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from .catalog import FIXED_FACETS, Catalog

SORTS = {"order": "album order", "score": "score", "adherence": "adherence", "seed": "seed", "name": "file name"}
PER_PAGE = (50, 100, 200)


def _facet_param(key: str) -> bool:
    return key in FIXED_FACETS or key.startswith(("v.", "c."))


@dataclass(frozen=True)
class Query:
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    text: str = ""
    min_score: float | None = None
    max_score: float | None = None
    sort: str = "order"
    desc: bool = False
    page: int = 1
    per: int = 100

    @classmethod
    def parse(cls, params: list[tuple[str, str]]) -> Query:
        filters: dict[str, list[str]] = {}
        kw: dict[str, Any] = {}
        for k, v in params:
            if _facet_param(k):
                if v not in filters.setdefault(k, []):
                    filters[k].append(v)
            elif k == "q":
                kw["text"] = v.strip()
            elif k in ("min_score", "max_score"):
                kw[k] = _float(v)
            elif k == "sort" and v in SORTS:
                kw["sort"] = v
            elif k == "desc":
                kw["desc"] = v in ("1", "true", "yes")
            elif k == "page":
                kw["page"] = max(1, _int(v, 1))
            elif k == "per":
                kw["per"] = _int(v, 100) if _int(v, 100) in PER_PAGE else 100
        return cls(tuple((k, tuple(vs)) for k, vs in sorted(filters.items())), **kw)

    def selected(self, key: str) -> tuple[str, ...]:
        return dict(self.filters).get(key, ())

    def params(self) -> list[tuple[str, str]]:
        out = [(k, v) for k, vs in self.filters for v in vs]
        for name, value, default in (("q", self.text, ""), ("min_score", self.min_score, None),
                                     ("max_score", self.max_score, None), ("sort", self.sort, "order"),
                                     ("desc", "1" if self.desc else "", ""), ("per", self.per, 100),
                                     ("page", self.page, 1)):
            if value != default:
                out.append((name, str(value)))
        return out

    def url(self, **changes: Any) -> str:
        """This query with some parts changed, as a query string ("?…", or "?" when empty).
        `toggle=(key, value)` adds or removes one facet value; any change but `page` goes to page 1."""
        q = self
        toggle = changes.pop("toggle", None)
        if toggle is not None:
            key, value = toggle
            f = dict(q.filters)
            vals = f.get(key, ())
            vals = tuple(x for x in vals if x != value) if value in vals else (*vals, value)
            if vals:
                f[key] = vals
            else:
                f.pop(key, None)
            q = Query(tuple(sorted(f.items())), q.text, q.min_score, q.max_score, q.sort, q.desc, 1, q.per)
        if "clear" in changes:
            changes.pop("clear")
            q = Query(sort=q.sort, desc=q.desc, per=q.per)
        if changes:
            if "page" not in changes:
                changes["page"] = 1
            q = Query(**{**q.__dict__, **changes})
        return "?" + urlencode(q.params())

    def key(self) -> tuple:
        return (self.filters, self.text, self.min_score, self.max_score, self.sort, self.desc)


@dataclass
class Result:
    order: list[int]  # indices of every matching item, sorted
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # key → [(value, count)], by count

    def page(self, cat: Catalog, q: Query) -> list[dict[str, Any]]:
        start = (q.page - 1) * q.per
        return [cat.items[i] for i in self.order[start:start + q.per]]

    def pages(self, q: Query) -> int:
        return max(1, -(-len(self.order) // q.per))


def run(cat: Catalog, q: Query) -> Result:
    items = cat.items
    active = [(k, set(vs)) for k, vs in q.filters]
    base = [i for i, it in enumerate(items) if _other(it, q)]
    passes = {k: [bool(vs.intersection(items[i]["facets"].get(k, ()))) for i in base] for k, vs in active}
    every = [all(p[j] for p in passes.values()) for j in range(len(base))]
    facets: dict[str, list[tuple[str, int]]] = {}
    for key in cat.facets:
        if key in passes:
            others = [p for k, p in passes.items() if k != key]
            mask = [all(p[j] for p in others) for j in range(len(base))]
        else:
            mask = every
        counts: dict[str, int] = {}
        for j, i in enumerate(base):
            if mask[j]:
                for v in items[i]["facets"].get(key, ()):
                    counts[v] = counts.get(v, 0) + 1
        facets[key] = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    for key, _ in active:  # a chosen value stays listed even when nothing has it any more
        have = {v for v, _ in facets.get(key, [])}
        facets.setdefault(key, []).extend((v, 0) for v in q.selected(key) if v not in have)
    matched = [i for j, i in enumerate(base) if every[j]]
    return Result(_sorted(items, matched, q), facets)


def _other(it: dict[str, Any], q: Query) -> bool:
    """The conditions that are not facets: text and score range."""
    if q.text and q.text.lower() not in it["text"]:
        return False
    if q.min_score is not None or q.max_score is not None:
        s = (it.get("score") or {}).get("score")
        if s is None or (q.min_score is not None and s < q.min_score) or (q.max_score is not None and s > q.max_score):
            return False
    return True


def _sorted(items: list[dict[str, Any]], idx: list[int], q: Query) -> list[int]:
    if q.sort == "order":
        return idx[::-1] if q.desc else idx

    def value(i: int):
        it = items[i]
        v = {"score": (it.get("score") or {}).get("score"), "adherence": (it.get("score") or {}).get("adherence"),
             "seed": it.get("seed"), "name": it["name"]}[q.sort]
        return v

    present = [i for i in idx if value(i) is not None]
    missing = [i for i in idx if value(i) is None]  # items without the value go last either way
    return sorted(present, key=lambda i: (value(i), i), reverse=q.desc) + missing


class Results:
    """run() memoised per (artifact digest, query without its page)."""

    def __init__(self, size: int = 64):
        self._cache: OrderedDict[tuple, Result] = OrderedDict()
        self._lock = threading.Lock()
        self.size = size

    def get(self, cat: Catalog, q: Query) -> Result:
        key = (cat.artifact, q.key())
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        res = run(cat, q)
        with self._lock:
            self._cache[key] = res
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return res


def _float(v: str) -> float | None:
    try:
        return float(v)
    except ValueError:
        return None


def _int(v: str, default: int) -> int:
    try:
        return int(v)
    except ValueError:
        return default
