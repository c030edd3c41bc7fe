"""YAML → plain data plus a position table, so every later error can name file:line:col."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[Any, ...]


@dataclass(frozen=True)
class Pos:
    file: str
    line: int  # 1-based
    col: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass
class SpecError(Exception):
    """One problem in a spec, with where it is."""

    pos: Pos | None
    message: str
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        where = f"{self.pos}: " if self.pos else ""
        extra = "".join(f"\n  {n}" for n in self.notes)
        return f"{where}{self.message}{extra}"


class SpecErrors(Exception):
    """Every problem found in the project's specs; nothing is built while any exist."""

    def __init__(self, errors: list[SpecError]):
        self.errors = sorted(
            errors, key=lambda e: (e.pos.file, e.pos.line, e.pos.col) if e.pos else ("", 0, 0)
        )
        super().__init__("\n".join(str(e) for e in self.errors))


@dataclass
class Doc:
    """A loaded YAML file: its data and the position of every mapping key and value."""

    file: str
    data: Any
    positions: dict[Path_, Pos]
    key_positions: dict[Path_, Pos]

    def pos(self, path: Path_) -> Pos:
        """Best position for a path: the value, else its key, else the nearest parent."""
        path = tuple(path)
        while True:
            if path in self.positions:
                return self.positions[path]
            if path in self.key_positions:
                return self.key_positions[path]
            if not path:
                return Pos(self.file, 1, 1)
            path = path[:-1]

    def key_pos(self, path: Path_) -> Pos:
        path = tuple(path)
        return self.key_positions.get(path) or self.pos(path)


def _mark(file: str, node: yaml.Node) -> Pos:
    return Pos(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Loader(yaml.SafeLoader):
    pass


def load_yaml(path: Path, display: str | None = None, text: str | None = None) -> Doc:
    """Parse one YAML file (or `text` read from it); raise SpecErrors with the position of a
    syntax error or duplicate key."""
    display = display or str(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise SpecErrors([SpecError(Pos(display, 1, 1), f"cannot read spec file: {e}")]) from e
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        pos = Pos(display, mark.line + 1, mark.column + 1) if mark else Pos(display, 1, 1)
        msg = " ".join(x for x in (e.context, e.problem) if x)
        raise SpecErrors([SpecError(pos, f"malformed YAML: {msg}")]) from e
    positions: dict[Path_, Pos] = {}
    key_positions: dict[Path_, Pos] = {}
    errors: list[SpecError] = []
    if node is None:
        return Doc(display, {}, positions, key_positions)
    constructor = _Loader(text)

    def build(n: yaml.Node, path: Path_) -> Any:
        positions[path] = _mark(display, n)
        if isinstance(n, yaml.MappingNode):
            out: dict[Any, Any] = {}
            seen: dict[Any, Pos] = {}
            for k_node, v_node in n.value:
                if k_node.tag == "tag:yaml.org,2002:merge":
                    errors.append(SpecError(_mark(display, k_node), "YAML merge keys (<<) are not supported"))
                    continue
                key = constructor.construct_object(k_node, deep=True)
                if not isinstance(key, (str, int, float, bool)):
                    errors.append(SpecError(_mark(display, k_node), "mapping keys must be plain scalars"))
                    continue
                kpos = _mark(display, k_node)
                if key in seen:
                    errors.append(
                        SpecError(kpos, f"duplicate key {key!r}", [f"first defined at {seen[key]}"])
                    )
                    continue
                seen[key] = kpos
                key_positions[path + (key,)] = kpos
                out[key] = build(v_node, path + (key,))
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(v, path + (i,)) for i, v in enumerate(n.value)]
        return constructor.construct_object(n, deep=True)

    data = build(node, ())
    if errors:
        raise SpecErrors(errors)
    return Doc(display, data, positions, key_positions)


def did_you_mean(word: str, choices: list[str] | set[str]) -> str:
    """' (did you mean 'x'?)' when a close match exists, else ''."""
    match = difflib.get_close_matches(str(word), sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""
