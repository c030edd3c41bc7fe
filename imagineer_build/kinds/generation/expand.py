"""Rows × variation combinations × copies → the list of images, each with its prompt and seed.

An image's seed derives from the base seed and its content (row, variation values, copy), not
its position, so reordering rows regenerates nothing; a `seed` column pins a row's seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import xxhash

from ...core.hashing import canonical_json
from .config import GenerationConfig
from .naming import image_stem, index_width
from .render import ImageJob
from .template import TemplateError, assemble, missing_message, placeholders, read_rows, render
from .variations import combinations, load_all

FIXED = ("base", "theme", "style")


def load_rows(cfg: GenerationConfig, root: Path) -> tuple[list[str], list[dict[str, str]]]:
    if cfg.template is None:
        return [], [{}]
    return read_rows(root / cfg.template)


def known_names(cfg: GenerationConfig, columns: list[str]) -> set[str]:
    return set(columns) | set(cfg.variations.values) | set(cfg.vars) | set(FIXED)


def derive_seed(base: int, row: dict[str, str], variations: dict[str, str], copy: int) -> int:
    if "seed" in row and row["seed"].strip():
        return int(row["seed"]) + copy
    data = canonical_json([base, sorted(row.items()), sorted(variations.items()), copy])
    return xxhash.xxh3_64_intdigest(data) & 0xFFFFFFFF


def default_name(columns: list[str]) -> str:
    cols = [c for c in columns if c != "seed"][:2]
    return " of ".join("{" + c + "}" for c in cols)


def expand(cfg: GenerationConfig, root: Path) -> list[ImageJob]:
    columns, rows = load_rows(cfg, root)
    values = load_all(cfg.variations, root)
    name_fmt = cfg.name if cfg.name is not None else default_name(columns)
    fixed: dict[str, Any] = {"base": cfg.base, "theme": cfg.theme, "style": cfg.style, **cfg.vars}
    planned: list[tuple[int, dict[str, str], dict[str, str], int]] = []
    for r, row in enumerate(rows):
        if "seed" in row and row["seed"].strip():
            try:
                int(row["seed"])
            except ValueError:
                raise TemplateError(f"{cfg.template}: row {r + 2}: seed {row['seed']!r} is not a whole number") from None
        for combo in combinations(values, cfg.variations, row):
            for copy in range(cfg.images_per_prompt):
                planned.append((r, row, combo, copy))
    width = index_width(len(planned))
    jobs = []
    for i, (r, row, combo, copy) in enumerate(planned, start=1):
        vals = {**fixed, **row, **combo}
        prompt = assemble(cfg.prompt, vals)
        negative = render(cfg.negative, vals)
        stem = image_stem(i, width, render(name_fmt, vals) if name_fmt else "", combo.values(),
                          copy + 1 if cfg.images_per_prompt > 1 else None)
        jobs.append(ImageJob(index=i, stem=stem, row_index=r, row=row, variations=combo, copy=copy,
                             prompt=prompt, negative=negative,
                             seed=derive_seed(cfg.seed, row, combo, copy)))
    return jobs


def check_placeholders(cfg: GenerationConfig, columns: list[str]) -> list[tuple[tuple[Any, ...], str]]:
    """Spec errors for {names} no column, variation or value provides."""
    errors: list[tuple[tuple[Any, ...], str]] = []
    known = known_names(cfg, columns)
    source = cfg.template or "this generation (no template CSV)"
    for field, fmt in (("prompt", cfg.prompt), ("negative", cfg.negative), ("name", cfg.name)):
        if fmt is None:
            continue
        try:
            names = placeholders(fmt)
        except TemplateError as e:
            errors.append(((field,), str(e)))
            continue
        for n in names:
            if n not in known:
                errors.append(((field,), missing_message(field, n, known, source)))
    for n in cfg.variations.values:
        if n in columns:
            errors.append((("variations",), f"variation {n!r} has the name of a column of {cfg.template}; rename one"))
    return errors
