"""Targets and their references as a directed graph (edge: upstream → dependent).

The hot path (topological order, closure) is a few lines over plain dicts, because every
command walks it and importing networkx costs ~0.14 s of a 0.3 s no-op budget. networkx is
imported only when a cycle exists, to find and report it.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Dag:
    """node → upstream nodes and node → dependents, insertion-ordered."""

    preds: dict[str, list[str]] = field(default_factory=dict)
    succs: dict[str, list[str]] = field(default_factory=dict)

    def __iter__(self):
        return iter(self.preds)

    @property
    def edges(self) -> list[tuple[str, str]]:
        return [(up, n) for n, ups in self.preds.items() for up in ups]

    def ancestors(self, node: str) -> set[str]:
        seen: set[str] = set()
        stack = list(self.preds[node])
        while stack:
            x = stack.pop()
            if x not in seen:
                seen.add(x)
                stack.extend(self.preds[x])
        seen.discard(node)
        return seen


def build_graph(edges: dict[str, list[str]]) -> Dag:
    """edges: target → its upstream targets (every upstream must be a key too)."""
    g = Dag({n: list(dict.fromkeys(ups)) for n, ups in edges.items()}, {n: [] for n in edges})
    for n, ups in g.preds.items():
        for up in ups:
            g.succs[up].append(n)
    return g


def topological_order(g: Dag) -> list[str] | None:
    """Kahn's algorithm, smallest name first among the ready ones; None when there is a cycle."""
    indeg = {n: len(ups) for n, ups in g.preds.items()}
    ready = [n for n, d in indeg.items() if d == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        n = heapq.heappop(ready)
        out.append(n)
        for m in g.succs[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                heapq.heappush(ready, m)
    return out if len(out) == len(g.preds) else None


def find_cycles(g: Dag) -> list[list[str]]:
    """One cycle per strongly connected knot, in reference order, starting at its smallest name."""
    if topological_order(g) is not None:
        return []
    import networkx as nx

    dg = nx.DiGraph(g.edges)
    cycles = []
    for comp in nx.strongly_connected_components(dg):
        if len(comp) == 1 and not dg.has_edge(next(iter(comp)), next(iter(comp))):
            continue
        start = min(comp)
        cyc = [u for u, _ in nx.find_cycle(dg.subgraph(comp), source=start)]
        i = cyc.index(min(cyc))
        cycles.append(cyc[i:] + cyc[:i])
    return sorted(cycles)


def closure(g: Dag, targets: Iterable[str]) -> list[str]:
    """The targets and everything they need, in a deterministic topological order."""
    wanted: set[str] = set()
    for t in targets:
        wanted.add(t)
        wanted |= g.ancestors(t)
    return [n for n in topological_order(g) or [] if n in wanted]


def render_text(g: Dag, kinds: dict[str, str]) -> str:
    """An indented tree from each final target down to its inputs."""
    lines: list[str] = []

    def walk(node: str, depth: int, seen: set[str]) -> None:
        mark = " (see above)" if node in seen and g.preds[node] else ""
        lines.append(f"{'  ' * depth}{node} [{kinds[node]}]{mark}")
        if mark:
            return
        seen.add(node)
        for up in sorted(g.preds[node]):
            walk(up, depth + 1, seen)

    seen: set[str] = set()
    for root in sorted(n for n in g if not g.succs[n]):
        walk(root, 0, seen)
    return "\n".join(lines)


def render_mermaid(g: Dag, kinds: dict[str, str]) -> str:
    ids = {n: f"n{i}" for i, n in enumerate(sorted(g))}
    out = ["graph LR"]
    out += [f'  {ids[n]}["{n} ({kinds[n]})"]' for n in sorted(g)]
    out += [f"  {ids[a]} --> {ids[b]}" for a, b in sorted(g.edges)]
    return "\n".join(out)


def render_dot(g: Dag, kinds: dict[str, str]) -> str:
    out = ["digraph imagineer {", "  rankdir=LR;"]
    out += [f'  "{n}" [label="{n}\\n{kinds[n]}"];' for n in sorted(g)]
    out += [f'  "{a}" -> "{b}";' for a, b in sorted(g.edges)]
    out.append("}")
    return "\n".join(out)
