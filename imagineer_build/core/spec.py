"""YAML → plain data plus a position table, so every later error can name file:line:col."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import yaml


Path_ = tuple[Any, ...]
SETTINGS_FILE = "imagineer.yaml"


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


# Specs arrive in pull requests: caps that no real spec reaches, so a hostile one fails fast.
MAX_BYTES = 4 << 20
MAX_NODES = 200_000  # values after alias expansion ("billion laughs" stops here)
MAX_DEPTH = 64


def read_text(path: Path, display: str, max_bytes: int = MAX_BYTES, what: str = "spec file") -> str:
    """A YAML (or CSV) file's text: regular files only, size-capped, UTF-8; SpecErrors otherwise."""
    from .files import read_regular

    try:
        data = read_regular(path, max_bytes)
    except OSError as e:
        why = e.strerror or str(e)
        raise SpecErrors([SpecError(Pos(display, 1, 1), f"cannot read {what}: {why}")]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise SpecErrors([SpecError(Pos(display, line, 1), f"{what} is not UTF-8 text (byte {e.start})")]) from None


def load_yaml(path: Path, display: str | None = None, text: str | None = None) -> Doc:
    """Parse one YAML file (or `text` read from it); raise SpecErrors with the position of a
    syntax error, duplicate key, unknown tag, or a cap exceeded (size, values, depth)."""
    import yaml  # not at import: a fresh no-op (core/snapshot.py) reads no YAML

    display = display or str(path)
    if text is None:
        text = read_text(path, display)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        raise SpecErrors([SpecError(_error_pos(display, text, e), f"malformed YAML: {_error_text(e)}")]) from None
    except RecursionError:
        raise SpecErrors([SpecError(Pos(display, 1, 1), "malformed YAML: nested too deeply")]) from None
    positions: dict[Path_, Pos] = {}
    key_positions: dict[Path_, Pos] = {}
    errors: list[SpecError] = []
    if node is None:
        return Doc(display, {}, positions, key_positions)
    constructor = yaml.SafeLoader(text)
    count = 0

    def scalar(n: yaml.Node) -> Any:
        try:
            value = constructor.construct_object(n, deep=True)
        except yaml.YAMLError as e:
            raise SpecErrors([SpecError(_mark(display, n), f"malformed YAML: {_error_text(e)}")]) from None
        if isinstance(value, str) and "\x00" in value:  # an escaped "\0": no path, prompt or name holds one
            raise SpecErrors([SpecError(_mark(display, n), "a NUL character (\\0) is not allowed in a value")])
        return value

    def build(n: yaml.Node, path: Path_) -> Any:
        nonlocal count
        count += 1
        if count > MAX_NODES:
            raise SpecErrors([SpecError(_mark(display, n), f"more than {MAX_NODES:,} values once aliases are "
                                                           "expanded (an alias bomb?); write the values out")])
        if len(path) > MAX_DEPTH:
            raise SpecErrors([SpecError(_mark(display, n), f"nested deeper than {MAX_DEPTH} levels")])
        positions[path] = _mark(display, n)
        if isinstance(n, yaml.MappingNode):
            out: dict[Any, Any] = {}
            seen: dict[Any, Pos] = {}
            for k_node, v_node in n.value:
                if k_node.tag == "tag:yaml.org,2002:merge":
                    errors.append(SpecError(_mark(display, k_node), "YAML merge keys (<<) are not supported"))
                    continue
                if not isinstance(k_node, yaml.ScalarNode):
                    errors.append(SpecError(_mark(display, k_node), "mapping keys must be plain scalars"))
                    continue
                key = scalar(k_node)
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
        return scalar(n)

    data = build(node, ())
    if errors:
        raise SpecErrors(errors)
    return Doc(display, data, positions, key_positions)


def _error_pos(display: str, text: str, e: yaml.YAMLError) -> Pos:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    if mark is not None:
        return Pos(display, mark.line + 1, mark.column + 1)
    offset = getattr(e, "position", None)  # ReaderError: a character YAML does not allow
    if isinstance(offset, int):
        before = text[:offset]
        return Pos(display, before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1)
    return Pos(display, 1, 1)


def _error_text(e: yaml.YAMLError) -> str:
    import yaml

    if isinstance(e, yaml.reader.ReaderError):
        ch = e.character
        code = ord(ch) if isinstance(ch, str) else ch
        return f"character {code:#04x} is not allowed in YAML (a NUL or control character)"
    problem = str(getattr(e, "problem", "") or "")
    if problem.startswith("could not determine a constructor for the tag"):
        return "unknown YAML tag " + problem.rsplit(" ", 1)[-1] + " (specs use plain YAML: no tags)"
    parts = [getattr(e, "context", None), getattr(e, "problem", None)]
    msg = " ".join(str(x) for x in parts if x)
    return msg or str(e).splitlines()[0]


def did_you_mean(word: str, choices: list[str] | set[str]) -> str:
    """' (did you mean 'x'?)' when a close match exists, else ''."""
    match = difflib.get_close_matches(str(word), sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def find_root(start: Path) -> Path:
    """The nearest folder at or above start that holds imagineer.yaml."""
    start = start.resolve()
    for d in (start, *start.parents):
        if (d / SETTINGS_FILE).is_file():
            return d
    raise SpecErrors([SpecError(None, f"no {SETTINGS_FILE} in {start} or any parent folder")])
