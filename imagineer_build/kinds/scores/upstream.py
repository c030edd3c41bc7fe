"""Spec-time knowledge of the album a scores target reads: what variations, columns and
prompts it will have, so a wrong name is a spec error at file:line:col, not a failed build.

`Kind.check` sees only its own config, so this reads the upstream target's entry from the
project's spec files (following `of:` through labels and scores targets to a generation or a
source). What cannot be known here (another kind of album) is checked at build time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...core.spec import SpecErrors, did_you_mean, load_yaml
from .config import ScoresConfig

PASS_THROUGH = ("labels", "scores")  # sections whose targets carry their `of:` album's images


@dataclass
class AlbumShape:
    """What an album will hold, as far as its spec says."""

    target: str
    prompts: bool
    variations: dict[str, list[str] | None] = field(default_factory=dict)  # None: values not readable now
    columns: dict[str, list[str]] = field(default_factory=dict)


def check_upstream(config: ScoresConfig, settings: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    root = Path(settings.get("root", "."))
    problems: list[tuple[tuple[Any, ...], str]] = []
    if config.baseline:
        section = _entries(root, _stamp(root)).get(config.baseline, (None, None))[0]
        if section not in (None, "scores"):
            problems.append((("baseline",), f"baseline {config.baseline} is a {section} target; it must be a "
                                            "scores target (an earlier round's)"))
    shape = album_shape(root, config.of)
    if shape is None:
        return problems
    if config.adherence and config.prompt is None and not shape.prompts:
        problems.append((("of",), f"{config.of} holds no prompts ({shape.target} is not a generation), so there is "
                                  "nothing to measure adherence against: set `prompt:` to a text to score every "
                                  "image against, or `adherence: false`"))
    for i, name in enumerate(config.variations or []):
        if name not in shape.variations:
            problems.append((("variations", i), _missing("variation", name, shape.target, shape.variations)))
        elif name not in config.options:
            problems += _one_option(("variations", i), name, shape.variations[name])
    for i, name in enumerate(config.columns):
        if name not in shape.columns:
            problems.append((("columns", i), _missing("column", name, shape.target, shape.columns)))
        elif name not in config.options:
            problems += _one_option(("columns", i), name, shape.columns[name])
    return problems


def _missing(what: str, name: str, target: str, have: dict[str, Any]) -> str:
    names = ", ".join(sorted(have)) or "none"
    return f"{target} has no {what} {name!r}{did_you_mean(name, list(have))} ({what}s: {names})"


def _one_option(path: tuple[Any, ...], name: str, values: list[str] | None) -> list[tuple[tuple[Any, ...], str]]:
    if values is None or len(set(values)) >= 2:
        return []
    return [(path, f"{name} has one value ({values[0]!r}): there is nothing to choose among; list the "
                   f"alternatives in options: {{{name}: [...]}}")]


def album_shape(root: Path, name: str) -> AlbumShape | None:
    """Follow `of:` from target `name` to the album's maker; None when it cannot be told here."""
    entries = _entries(root, _stamp(root))
    for _ in range(32):  # a cycle is the project loader's error to report
        section, raw = entries.get(name, (None, None))
        if section in PASS_THROUGH and isinstance(raw.get("of"), str):
            name = raw["of"]
            continue
        if section == "sources":
            return AlbumShape(name, prompts=False)
        if section == "generations":
            return _generation(root, name, raw)
        return None
    return None


def _generation(root: Path, name: str, raw: dict[str, Any]) -> AlbumShape | None:
    from pydantic import ValidationError

    from ..generation.config import GenerationConfig
    from ..generation.template import TemplateError, read_rows
    from ..generation.variations import VariationError, load_values

    try:
        cfg = GenerationConfig.model_validate(raw)
    except ValidationError:
        return None  # the generation's own errors are reported for it
    shape = AlbumShape(name, prompts=True)
    for vname, spec in cfg.variations.values.items():
        try:
            shape.variations[vname] = load_values(vname, spec, root)
        except VariationError:
            shape.variations[vname] = None
    if cfg.template:
        try:
            columns, rows = read_rows(root / cfg.template)
        except (OSError, TemplateError):
            return shape
        shape.columns = {c: list(dict.fromkeys(r[c] for r in rows)) for c in columns}
    return shape


def _stamp(root: Path) -> tuple[tuple[str, int, int], ...]:
    out = []
    for p in sorted((root / "specs").glob("*.y*ml")):
        try:
            st = p.stat()
        except OSError:
            continue
        out.append((p.name, st.st_mtime_ns, st.st_size))
    return tuple(out)


@functools.lru_cache(maxsize=4)
def _entries(root: Path, stamp: tuple[tuple[str, int, int], ...]) -> dict[str, tuple[str, dict[str, Any]]]:
    """target name → (section, raw entry) over the project's spec files (read once per change)."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for fname, _, _ in stamp:
        try:
            data = load_yaml(root / "specs" / fname).data
        except SpecErrors:
            continue
        if not isinstance(data, dict):
            continue
        for section, targets in data.items():
            if isinstance(targets, dict):
                for tname, raw in targets.items():
                    if isinstance(raw, dict):
                        out.setdefault(str(tname), (str(section), raw))
    return out
