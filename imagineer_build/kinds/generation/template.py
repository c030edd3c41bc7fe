"""CSV rows and prompt assembly, in the original app's order: base, theme, row, style."""

from __future__ import annotations

import csv
import difflib
import functools
import io
import re
import string
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

ASSEMBLED = ("base", "theme", "style")  # placed by position unless the template places them
MAX_BYTES = 64 << 20  # a CSV template this large is a mistake (or /dev/zero), not a deck


class TemplateError(ValueError):
    pass


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Columns and rows of a UTF-8 CSV (BOM tolerated, quoted commas kept, blank lines skipped)."""
    reader, columns = _open(path)
    rows: list[dict[str, str]] = []
    for n, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(columns):
            raise TemplateError(f"{path.name}:{n}: {len(cells)} cells but {len(columns)} columns "
                                "(quote values that contain commas)")
        cells = cells + [""] * (len(columns) - len(cells))
        rows.append({c: v.strip() for c, v in zip(columns, cells, strict=True)})
    return columns, rows


def read_columns(path: Path) -> list[str]:
    """The columns of a CSV template, the file checked as read_rows checks it but its rows left
    unparsed: the project check runs on every build that is not a no-op, and parsing 20,000 rows
    there was a tenth of one-image rebuilds of a project with a large deck (a bad row is
    reported by the build that expands it, with its line)."""
    return _open(path)[1]


def _open(path: Path) -> tuple[Iterator[list[str]], list[str]]:
    """(a csv reader past the header, the columns) of a UTF-8 CSV template."""
    from ...core.spec import SpecErrors, read_text

    try:
        text = read_text(path, path.name, MAX_BYTES, "CSV template").removeprefix("\ufeff")
    except SpecErrors as e:
        raise TemplateError(str(e.errors[0])) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise TemplateError(f"{path.name}: empty CSV (needs a header row)") from None
    columns = [c.strip() for c in header]
    seen: set[str] = set()
    for c in columns:
        if not c:
            raise TemplateError(f"{path.name}: a header cell is empty")
        if c in seen:
            raise TemplateError(f"{path.name}: column {c!r} appears twice in the header")
        seen.add(c)
    return reader, columns


def placeholders(fmt: str) -> list[str]:
    """The {names} a format string uses, in order; raises TemplateError on bad syntax."""
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError as e:
        raise TemplateError(f"{fmt!r}: {e}") from None
    out: list[str] = []
    for _, name, _, _ in parsed:
        if name is None:
            continue
        if not name or name.isdigit():
            raise TemplateError(f"{fmt!r}: use named placeholders like {{suit}}, not {{{name}}}")
        root = re.split(r"[.\[]", name, maxsplit=1)[0]
        if root not in out:
            out.append(root)
    return out


def missing_message(what: str, name: str, available: Iterable[str], source: str) -> str:
    names = sorted(set(available))
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean {{{close[0]}}}?" if close else ""
    return (f"{what} uses {{{name}}} but {source} has no such column, variation or value "
            f"(available: {', '.join(names) or 'none'}){hint}")


SPACES, EMPTY_ITEMS, SPACE_COMMA = re.compile(r"\s+"), re.compile(r"\s*,(\s*,)+"), re.compile(r"\s+,")


def tidy(text: str) -> str:
    """Collapse what empty placeholders leave behind: double spaces, empty comma items."""
    if text.isprintable() and "  " not in text and ",," not in text and " ," not in text:
        return text.strip(" ,")  # nothing to collapse (printable: no whitespace but " ")
    text = SPACES.sub(" ", text)
    text = EMPTY_ITEMS.sub(",", text)  # ", ," left by an empty value
    text = SPACE_COMMA.sub(",", text)
    return text.strip(" ,")


@functools.lru_cache(maxsize=64)
def _used(prompt: str) -> frozenset[str]:
    """placeholders() once per template, not once per image (20,000 of them in a deck)."""
    return frozenset(placeholders(prompt))


def assemble(prompt: str, values: dict[str, Any]) -> str:
    """base, theme, the template over values, style — skipping the ones the template places."""
    used = _used(prompt)
    body = prompt.format_map(values)
    parts = [values.get("base", "") if "base" not in used else "",
             values.get("theme", "") if "theme" not in used else "",
             body,
             values.get("style", "") if "style" not in used else ""]
    return tidy(", ".join(str(p) for p in parts))


def render(fmt: str, values: dict[str, Any]) -> str:
    return tidy(fmt.format_map(values))
