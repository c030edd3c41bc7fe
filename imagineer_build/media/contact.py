"""Contact sheets: a grid of thumbnails with captions, so a person can eyeball a set."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SHEET_VERSION = "1"  # bump when the picture a contact sheet draws changes
MAX_ITEMS = 120  # thumbnails on one sheet


def sheet_key(items: Sequence[tuple[Path, str]], **params) -> list:
    """What a contact sheet of these items depends on, for ctx.memo_blob: each shown image's
    bytes (its blob name, else its content digest), caption and mark, and the layout."""
    from ..core.hashing import digest_file
    from ..core.store import is_digest

    shown = list(items)[:params.get("max_items", MAX_ITEMS)]
    names = [Path(p).name if is_digest(Path(p).name) else digest_file(p)[0] for p, _ in shown]
    return [SHEET_VERSION, [[n, c] for n, (_, c) in zip(names, shown, strict=True)], params]


def contact_sheet(items: Sequence[tuple[Path, str]], thumb: int = 160, columns: int = 6,
                  max_items: int = MAX_ITEMS, marked: Sequence[bool] = ()) -> bytes:
    """PNG bytes: thumbnails (path, caption) in a grid, captions wrapped under each; a thumbnail
    whose `marked` entry is true gets a red frame (e.g. a failed image)."""
    items = list(items)[:max_items]
    font = ImageFont.load_default()
    line_h, lines = 11, 3
    cell_w, cell_h = thumb + 8, thumb + 8 + line_h * lines
    cols = max(1, min(columns, len(items) or 1))
    rows = max(1, -(-len(items) // cols))
    sheet = Image.new("RGB", (cols * cell_w, rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (path, caption) in enumerate(items):
        x, y = (i % cols) * cell_w + 4, (i // cols) * cell_h + 4
        try:
            with Image.open(path) as im:
                im.thumbnail((thumb, thumb))
                sheet.paste(im.convert("RGB"), (x + (thumb - im.width) // 2, y + (thumb - im.height) // 2))
        except Exception:
            draw.rectangle([x, y, x + thumb, y + thumb], outline="red")
        if i < len(marked) and marked[i]:
            draw.rectangle([x - 3, y - 3, x + thumb + 2, y + thumb + 2], outline="red", width=3)
        for j, text in enumerate(textwrap.wrap(caption or "", width=thumb // 6)[:lines]):
            draw.text((x, y + thumb + 2 + j * line_h), text, fill="black", font=font)
    out = io.BytesIO()
    sheet.save(out, "PNG", optimize=True)
    return out.getvalue()
