"""Targets and their references as a networkx DiGraph (edge: upstream → dependent)."""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx


def build_graph(edges: dict[str, list[str]]) -> nx.DiGraph:
    """edges: target → its upstream targets."""
    g = nx.DiGraph()
    g.add_nodes_from(edges)
    for node, ups in edges.items():
        for up in ups:
            g.add_edge(up, node)
    return g


def find_cycles(g: nx.DiGraph) -> list[list[str]]:
    """One cycle per strongly connected knot, in reference order, starting at its smallest name."""
    cycles = []
    for comp in nx.strongly_connected_components(g):
        if len(comp) == 1:
            (n,) = comp
            if not g.has_edge(n, n):
                continue
        start = min(comp)
        cyc = [u for u, _ in nx.find_cycle(g.subgraph(comp), source=start)]
        i = cyc.index(min(cyc))
        cycles.append(cyc[i:] + cyc[:i])
    return sorted(cycles)


def closure(g: nx.DiGraph, targets: Iterable[str]) -> list[str]:
    """The targets and everything they need, in a deterministic topological order."""
    wanted: set[str] = set()
    for t in targets:
        wanted.add(t)
        wanted |= nx.ancestors(g, t)
    return [n for n in nx.lexicographical_topological_sort(g) if n in wanted]


def render_text(g: nx.DiGraph, kinds: dict[str, str]) -> str:
    """An indented tree from each final target down to its inputs."""
    lines: list[str] = []

    def walk(node: str, depth: int, seen: set[str]) -> None:
        mark = " (see above)" if node in seen and g.in_degree(node) else ""
        lines.append(f"{'  ' * depth}{node} [{kinds[node]}]{mark}")
        if mark:
            return
        seen.add(node)
        for up in sorted(g.predecessors(node)):
            walk(up, depth + 1, seen)

    seen: set[str] = set()
    for root in sorted(n for n in g if g.out_degree(n) == 0):
        walk(root, 0, seen)
    return "\n".join(lines)


def render_mermaid(g: nx.DiGraph, kinds: dict[str, str]) -> str:
    ids = {n: f"n{i}" for i, n in enumerate(sorted(g))}
    out = ["graph LR"]
    out += [f'  {ids[n]}["{n} ({kinds[n]})"]' for n in sorted(g)]
    out += [f"  {ids[a]} --> {ids[b]}" for a, b in sorted(g.edges)]
    return "\n".join(out)


def render_dot(g: nx.DiGraph, kinds: dict[str, str]) -> str:
    out = ["digraph imagineer {", "  rankdir=LR;"]
    out += [f'  "{n}" [label="{n}\\n{kinds[n]}"];' for n in sorted(g)]
    out += [f'  "{a}" -> "{b}";' for a, b in sorted(g.edges)]
    out.append("}")
    return "\n".join(out)
