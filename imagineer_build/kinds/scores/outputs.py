"""What people open: scores.csv (one row per image) and a contact sheet grouped by verdict."""

from __future__ import annotations

import csv
import io
import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...media.album import AlbumImage
from ...media.scoreset import ImageScore
from .verdicts import Check

ORDER = {"failed": 0, "partial": 1, "success": 2, "unchecked": 3}


def scores_csv(images: list[AlbumImage], scores: dict[str, ImageScore], checks: list[Check],
               unscored: list[dict[str, Any]]) -> bytes:
    """file, seed, row columns, variations, adherence, each check, verdict: sort it in a spreadsheet."""
    errors = {u["digest"]: u["error"] for u in unscored}
    rows: list[dict[str, Any]] = []
    for im in images:
        rec: dict[str, Any] = {"file": im.path, "seed": im.extra.get("seed", "")}
        for part in ("row", "variations"):
            if isinstance(im.extra.get(part), dict):
                rec.update({str(k): v for k, v in im.extra[part].items()})
        s = scores.get(im.digest)
        if s is not None:
            rec.update({"adherence": "" if s.adherence is None else s.adherence, "prompt_pieces": s.chunks})
            for c in checks:
                r = s.checks.get(c.name)
                rec.update({f"{c.name}:chosen": r["chosen"] if r else "", f"{c.name}:p": r["p"] if r else "",
                            f"{c.name}:match": ("yes" if r["match"] else "no") if r else ""})
            rec.update({"matched": s.matched, "checked": s.checked, "score": s.score, "verdict": s.verdict,
                        "flag": s.flag or ""})
        else:
            rec.update({"verdict": "unscored", "error": errors.get(im.digest, "")})
        rows.append(rec)
    columns: list[str] = []
    for rec in rows:
        columns += [k for k in rec if k not in columns]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", restval="")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def contact(images: list[AlbumImage], scores: dict[str, ImageScore], locate: Callable[[AlbumImage], Path]) -> bytes:
    """Failed first (worst first, framed red), then partial, success (best first), unchecked."""
    from ...media.contact import contact_sheet

    scored = [im for im in images if im.digest in scores]

    def order(im: AlbumImage):
        s = scores[im.digest]
        return ORDER[s.verdict], (s.score if s.verdict in ("failed", "partial") else -s.score), im.path

    ranked = sorted(scored, key=order)
    items = [(locate(im), _caption(im, scores[im.digest])) for im in ranked]
    return contact_sheet(items, thumb=128, marked=[scores[im.digest].verdict == "failed" for im in ranked])


def _caption(im: AlbumImage, s: ImageScore) -> str:
    head = s.verdict.upper() + (f" (flag {s.flag})" if s.flag else "")
    if s.checked:
        head += f" {s.matched}/{s.checked}"
    if s.adherence is not None:
        head += f" adh {s.adherence:g}"
    return f"{head} {posixpath.basename(im.path)}"
