"""Text for `imagineer show` on a scores target: verdicts, per-value rates, deltas, images."""

from __future__ import annotations

from typing import Any

from ...core.artifact import ArtifactView
from ...media.scoreset import VERDICTS, ScoreSet
from ...textfmt import lines_cut


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """Plain aligned columns: text left, numbers right."""
    cells = [[str(c) for c in r] for r in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    numeric = [all(_isnum(r[i]) for r in rows) and bool(rows) for i in range(len(header))]
    return ["  " + "  ".join(c.rjust(w) if numeric[i] else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
            for r in cells]


def _isnum(v: Any) -> bool:
    return isinstance(v, (int, float)) or (isinstance(v, str) and v.lstrip("+-").replace(".", "", 1).rstrip("%").isdigit())


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def describe(view: ArtifactView, limit: int | None = 30) -> str:
    ss = ScoreSet.from_meta(view.meta)
    s = ss.info["summary"]
    checked = ", ".join(f"{c['name']} ({len(c['options'])} options)" for c in ss.info["checked"]) or "none"
    unscored = view.meta.get("report", {}).get("unscored", [])
    lines = [f"{s['images']} images scored by {ss.info['model']}" + (f", {len(unscored)} unscored" if unscored else "")
             + f"; checked: {checked}",
             "verdicts: " + ", ".join(f"{v} {s['verdicts'][v]}" for v in VERDICTS)
             + f" (success: ≥ {pct(ss.info['thresholds']['success'])} of checks match, partial: ≥ "
               f"{pct(ss.info['thresholds']['partial'])})"
             + (f" (hand flags: {s['flagged']['failed']} failed, {s['flagged']['ok']} ok)" if any(s["flagged"].values()) else "")]
    if s["mean_adherence"] is not None:
        lines.append(f"mean adherence {s['mean_adherence']:g}"
                     + (f"; {s['split_prompts']} prompt(s) over 77 tokens scored in pieces" if s["split_prompts"] else ""))
    if s["per_value"]:
        lines += ["", "per value:"]
        lines += table(["name", "value", "images", "matched", "rate", "mean P"],
                       [[r["name"], r["value"], r["images"], r["matched"], pct(r["rate"]), f"{r['mean_p']:.2f}"]
                        for r in s["per_value"]])
    if s["top_failing"]:
        lines.append("top failing: " + ", ".join(f"{r['name']}={r['value']} {pct(r['rate'])}" for r in s["top_failing"][:5]))
    base = s.get("baseline")
    if base:
        lines += ["", f"against {base['target']} ({base['images']['before']} → {base['images']['now']} images):"]
        rows = [[v, f"{base['verdicts'][v]['before']:g}%", f"{base['verdicts'][v]['now']:g}%",
                 f"{base['verdicts'][v]['delta']:+g}"] for v in VERDICTS]
        if base["mean_adherence"]:
            a = base["mean_adherence"]
            rows.append(["mean adherence", f"{a['before']:g}", f"{a['now']:g}", f"{a['delta']:+g}"])
        lines += table(["", "before", "now", "delta (pp)"], rows)
        if base["per_value"]:
            lines += table(["name", "value", "before", "now", "delta (pp)"],
                           [[r["name"], r["value"], pct(r["before"]), pct(r["now"]), f"{100 * r['delta']:+.0f}"]
                            for r in base["per_value"]])
    lines += ["", "images (verdict, checks matched / checked, adherence, what was wrong):"]
    rows = []
    for im in ss.album.images:
        sc = ss.images.get(im.digest)
        if sc is None:
            continue
        wrong = ", ".join(f"{n}: {r['intended']}→{r['chosen']}" for n, r in sc.checks.items() if not r["match"])
        adh = f"  adherence {sc.adherence:g}" if sc.adherence is not None else ""
        flag = f" (flag {sc.flag})" if sc.flag else ""
        rows.append(f"  {im.path}  {sc.verdict}{flag} {sc.matched}/{sc.checked}{adh}" + (f"  wrong: {wrong}" if wrong else ""))
    lines += lines_cut(rows, limit)
    lines += lines_cut([f"  NOT SCORED {u['path']}: {u['error']}" for u in unscored], limit)
    return "\n".join(lines)
