"""The target graph as a small layered SVG: a column per depth, a box per target coloured by status."""

from __future__ import annotations

from html import escape
from urllib.parse import quote

W, H, GAP_X, GAP_Y, PAD = 170, 34, 60, 14, 10


def layers(preds: dict[str, list[str]]) -> dict[str, int]:
    """Each target's depth: the longest path from a target with no upstream."""
    depth: dict[str, int] = {}

    def d(n: str, stack: frozenset[str] = frozenset()) -> int:
        if n not in depth:
            ups = [u for u in preds.get(n, []) if u not in stack]
            depth[n] = 1 + max((d(u, stack | {n}) for u in ups), default=-1)
        return depth[n]

    for n in preds:
        d(n)
    return depth


def graph_svg(preds: dict[str, list[str]], status: dict[str, str], kinds: dict[str, str]) -> str:
    depth = layers(preds)
    cols: dict[int, list[str]] = {}
    for n in sorted(preds, key=lambda n: (depth[n], n)):
        cols.setdefault(depth[n], []).append(n)
    pos = {n: (PAD + c * (W + GAP_X), PAD + r * (H + GAP_Y)) for c, names in cols.items() for r, n in enumerate(names)}
    width = PAD * 2 + (max(cols, default=0) + 1) * (W + GAP_X) - GAP_X
    height = PAD * 2 + max((len(v) for v in cols.values()), default=1) * (H + GAP_Y) - GAP_Y
    out = [f'<svg class="graph" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="target graph">']
    for n, ups in preds.items():
        x2, y2 = pos[n]
        for u in ups:
            x1, y1 = pos[u]
            sx, sy, ex, ey = x1 + W, y1 + H / 2, x2, y2 + H / 2
            mid = (sx + ex) / 2
            out.append(f'<path class="edge" d="M{sx},{sy} C{mid},{sy} {mid},{ey} {ex},{ey}"/>')
    for n, (x, y) in pos.items():
        st = status.get(n, "unknown")
        label = n if len(n) <= 22 else n[:21] + "…"
        out.append(f'<a href="/t/{quote(n, safe="")}"><g class="node {escape(st)}" data-target="{escape(n)}">'
                   f'<rect x="{x}" y="{y}" width="{W}" height="{H}" rx="6"/>'
                   f'<text x="{x + 8}" y="{y + 15}">{escape(label)}</text>'
                   f'<text class="sub" x="{x + 8}" y="{y + 28}">{escape(kinds.get(n, ""))} · {escape(st)}</text>'
                   f'<title>{escape(n)} [{escape(kinds.get(n, ""))}]: {escape(st)}</title></g></a>')
    out.append("</svg>")
    return "".join(out)
