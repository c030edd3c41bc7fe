"""imagineer.yaml + specs/*.yaml → validated targets and their graph, or every error at once."""

from __future__ import annotations

import copy
import math
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .files import file_problem, out_folder, store_folder
from .graph import Dag, build_graph, find_cycles
from .kind import FileInput, Kind, Ref
from .registry import load_kinds
from .spec import SETTINGS_FILE, Doc, Pos, SpecError, SpecErrors, did_you_mean, load_yaml

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAX_NAME = 100  # a target name becomes a file name (out/NAME/, NAME.safetensors)
INT_LIMIT = 2**63 - 1  # what JSON keys, SQLite and torch generators hold


class ExecutorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    kind: Literal["local", "ray"] = Field("local", description="local: this machine | ray: a Ray cluster")
    address: str = Field("auto", description="ray: `auto` (a running cluster), `local` (start one here), or "
                                             "ray://host:10001")
    shards: int | Literal["auto"] = Field(
        "auto", description="ray: spread one target's independent items (generation images) over N workers; "
                            "auto: the cluster's GPUs. Never part of a key: the result is byte-identical")
    cpu: int | None = Field(None, ge=1, le=4096, description="CPU slots (default: number of cores)")
    gpu: int = Field(1, ge=0, le=1024, description="GPU slots")
    net: int = Field(4, ge=1, le=4096, description="network slots (scrapes, API labelers)")
    workers: bool = Field(True, description="local: run model-heavy targets in warm worker processes that outlive "
                                             "the build and keep models loaded (`imagineer workers` lists them)")
    worker_idle: float = Field(600.0, gt=0, le=7 * 24 * 3600,
                               description="seconds a warm worker waits for work before it leaves")


class RemoteSettings(BaseModel):
    """imagineer.yaml `remote:`: a shared cache. Credentials come from the environment (AWS
    profile, GCP ADC, IMAGINEER_REMOTE_TOKEN), never from this file."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    url: str = Field(..., description="s3://bucket/prefix | gs://bucket/prefix | file:///shared/cache | "
                                      "https://cache.example/prefix (or IMAGINEER_REMOTE, --remote)")
    push: bool = Field(False, description="push each target this machine builds (else: `imagineer push`)")
    jobs: int = Field(16, ge=1, le=256, description="transfers at once")
    download: Literal["all", "minimal"] = Field(
        "all", description="all: what out views need | minimal: only what a build reads (out views of remote hits "
                           "are not written)")
    options: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="fsspec options that are not secrets, e.g. {endpoint_url: …, "
                                          "client_kwargs: …}")


class Settings(BaseModel):
    """imagineer.yaml."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: str | None = None
    cache: str = Field("cache", description="local store folder (relative to the project)")
    out: str = Field("out", description="folder for out views")
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)
    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)
    remote: RemoteSettings | None = None
    defaults: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-section default settings, e.g. defaults: {loras: {rank: 8}}"
    )
    allow_paths: list[str] = Field(default_factory=list, description=(
        "folders outside the project that specs, models, `cache:` and `out:` may name (e.g. a photo "
        "library or a models folder); anything else outside the project is refused"))
    threads: int = Field(2, ge=1, le=1024, description=(
        "torch CPU threads for model work. CPU results depend on the thread count, so it is part of "
        "the keys of model targets; the default is the same on every machine (2), not its core count"))


@dataclass
class Target:
    name: str
    section: str
    kind: Kind
    config: Any
    raw: dict[str, Any]
    doc: Doc
    path: tuple[Any, ...]  # where the target is declared in doc
    refs: list[Ref] = field(default_factory=list)
    files: list[FileInput] = field(default_factory=list)

    @property
    def pos(self) -> Pos:
        return self.doc.key_pos(self.path)

    @property
    def kind_name(self) -> str:
        return self.kind.name


@dataclass
class Override:
    """`--set [TARGET:]KEY.SUB=VALUE` from the command line; the value is parsed as YAML."""

    target: str | None
    path: tuple[str, ...]
    value: Any

    @classmethod
    def parse(cls, text: str) -> Override:
        if "=" not in text:
            raise SpecErrors([SpecError(Pos("--set", 1, 1), f"expected KEY=VALUE, got {text!r}")])
        lhs, rhs = text.split("=", 1)
        target = None
        if ":" in lhs:
            target, lhs = lhs.split(":", 1)
        try:
            value = yaml.safe_load(rhs) if rhs else ""
        except yaml.YAMLError as e:
            raise SpecErrors([SpecError(Pos("--set", 1, 1), f"--set {lhs}: the value is not valid YAML ({e.problem if hasattr(e, 'problem') else e}); quote it")]) from None
        return cls(target, tuple(lhs.split(".")), value)


@dataclass
class Project:
    root: Path
    settings: Settings
    targets: dict[str, Target]
    graph: Dag
    settings_doc: Doc

    @property
    def store_root(self) -> Path:
        return store_folder(self.root, self.settings.cache)

    @property
    def out_root(self) -> Path:
        return out_folder(self.root, self.settings.out)

    @property
    def lock_path(self) -> Path:
        return self.root / "imagineer.lock"

    def settings_dict(self) -> dict[str, Any]:
        d = self.settings.model_dump(mode="json")
        d["root"] = str(self.root)
        return d

    @classmethod
    def load(cls, root: Path, overrides: list[Override] | None = None) -> Project:
        return _Loader(Path(root).resolve(), overrides or []).load()


class _Loader:
    def __init__(self, root: Path, overrides: list[Override]):
        self.root = root
        self.overrides = overrides
        self.errors: list[SpecError] = []
        self.kinds = load_kinds()
        self.allowed: list[str] = []  # imagineer.yaml allow_paths, resolved

    def err(self, pos: Pos | None, msg: str, notes: list[str] | None = None) -> None:
        self.errors.append(SpecError(pos, msg, notes or []))

    def load(self) -> Project:
        sdoc = self._read(self.root / SETTINGS_FILE)
        settings = Settings()
        if sdoc is not None:
            data = sdoc.data if isinstance(sdoc.data, dict) else {}
            if not isinstance(sdoc.data, dict) and sdoc.data not in (None, {}):
                self.err(sdoc.pos(()), "imagineer.yaml must be a mapping of settings")
            if self._numbers(sdoc, (), data):
                try:
                    settings = Settings.model_validate(data)
                except ValidationError as e:
                    self._pydantic_errors(e, sdoc, (), Settings)
                else:
                    self._check_folders(settings, sdoc)
                    self._check_defaults(settings, sdoc)
        if self.errors:  # targets cannot be checked against settings that do not load
            raise SpecErrors(self.errors)
        targets: dict[str, Target] = {}
        for f in self._spec_files():
            doc = self._read(f)
            if doc is not None:
                self._collect(doc, targets)
        self._apply_overrides(targets)
        settings_d = settings.model_dump(mode="json")
        settings_d["root"] = str(self.root)
        for t in targets.values():
            self._validate(t, settings_d)
        edges = self._check_refs(targets)
        graph = build_graph(edges)
        for cyc in find_cycles(graph):
            path = cyc + [cyc[0]]
            notes = []
            for a, b in zip(path, path[1:], strict=False):
                ref = next(r for r in targets[b].refs if r.target == a)
                notes.append(f"{targets[b].doc.pos(targets[b].path + ref.path)}: {b} uses {a}")
            self.err(targets[cyc[0]].pos, "dependency cycle: " + " → ".join(path), notes)
        if self.errors:
            raise SpecErrors(self.errors)
        return Project(self.root, settings, targets, graph, sdoc or Doc(SETTINGS_FILE, {}, {}, {}))

    def _read(self, path: Path) -> Doc | None:
        try:
            return load_yaml(path, str(path.relative_to(self.root)))
        except SpecErrors as e:
            self.errors.extend(e.errors)
            return None

    def _collect(self, doc: Doc, targets: dict[str, Target]) -> None:
        if doc.data in (None, {}):
            return
        if not isinstance(doc.data, dict):
            self.err(doc.pos(()), "a spec file must be a mapping of sections (" + ", ".join(sorted(self.kinds)) + ")")
            return
        for section, entries in doc.data.items():
            if section not in self.kinds:
                self.err(
                    doc.key_pos((section,)),
                    f"unknown section {section!r}{did_you_mean(section, self.kinds)}; "
                    f"expected one of: {', '.join(sorted(self.kinds))}",
                )
                continue
            if entries is None:
                continue
            if not isinstance(entries, dict):
                self.err(doc.pos((section,)), f"{section} must be a mapping of target names to settings")
                continue
            for name, raw in entries.items():
                path = (section, name)
                if not isinstance(name, str) or not NAME_RE.match(name):
                    self.err(doc.key_pos(path), f"bad target name {str(name)[:60]!r}: use letters, digits, _ . - "
                                                "(starting with a letter or digit)")
                    continue
                if len(name) > MAX_NAME:
                    self.err(doc.key_pos(path), f"target name is {len(name)} characters long; at most {MAX_NAME}")
                    continue
                if name in targets:
                    other = targets[name]
                    self.err(
                        doc.key_pos(path),
                        f"duplicate target name {name!r}",
                        [f"also declared at {other.pos}"],
                    )
                    self.err(other.pos, f"duplicate target name {name!r}", [f"also declared at {doc.key_pos(path)}"])
                    continue
                if not isinstance(raw, dict):
                    self.err(doc.pos(path), f"target {name!r} must be a mapping of settings, got {type(raw).__name__}")
                    continue
                targets[name] = Target(name, section, self.kinds[section], None, raw, doc, path)

    def _apply_overrides(self, targets: dict[str, Target]) -> None:
        for o in self.overrides:
            if o.target is None:
                continue
            t = targets.get(o.target)
            if t is None:
                self.err(Pos("--set", 1, 1), f"--set names unknown target {o.target!r}{did_you_mean(o.target, targets)}")
                continue
            t.raw = copy.deepcopy(t.raw)
            node = t.raw
            for k in o.path[:-1]:
                node = node.setdefault(k, {})
                if not isinstance(node, dict):
                    self.err(Pos("--set", 1, 1), f"--set {'.'.join(o.path)}: {k} is not a mapping")
                    break
            else:
                node[o.path[-1]] = o.value

    def _validate(self, t: Target, settings: dict[str, Any]) -> None:
        model = t.kind.Config
        if not self._numbers(t.doc, t.path, t.raw):
            return
        try:
            t.config = model.model_validate(t.raw)
        except ValidationError as e:
            self._pydantic_errors(e, t.doc, t.path, model, t.raw)
            return
        for path, msg in t.kind.check(t.config, settings):
            self.err(t.doc.pos(t.path + tuple(path)), msg)
        t.refs = t.kind.refs(t.config)
        t.files = t.kind.files(t.config) + t.kind.settings_files(t.config, settings)
        for fi in t.files:
            problem = file_problem(self.root / fi.path, fi.want)
            if problem is None and not self._inside(self.root / fi.path):
                problem = ("is outside the project (or links out of it); list the folder under `allow_paths:` "
                           "in imagineer.yaml to read it")
            if problem:
                where = t.doc.pos(t.path + tuple(fi.spec_path))
                self.err(where, f"{fi.path or repr(fi.path)}: {problem}" + (
                    f" (relative to {self.root})" if problem.startswith("no such") else ""))

    def _inside(self, path: Path) -> bool:
        """Inside the project or an allowed folder, once every link is resolved."""
        real = os.path.realpath(path)
        return any(real == r or real.startswith(r.rstrip("/") + "/") for r in [str(self.root), *self.allowed])

    def _spec_files(self) -> list[Path]:
        """specs/*.yaml; a missing or empty specs/ is an error (reported alone: it is often the
        consequence of a broken imagineer.yaml being fixed first)."""
        spec_dir = self.root / "specs"
        files = sorted(spec_dir.glob("*.yaml")) + sorted(spec_dir.glob("*.yml")) if spec_dir.is_dir() else []
        if not files and not self.errors:
            what = ("holds no .yaml files" if spec_dir.is_dir() else
                    "is not a folder" if spec_dir.exists() else "does not exist")
            self.err(Pos("specs/", 1, 1), f"specs/ {what}: targets are declared in specs/NAME.yaml "
                                          "(e.g. specs/main.yaml with a `sources:` section)")
        return files

    def _numbers(self, doc: Doc, base: tuple[Any, ...], data: Any) -> bool:
        """Every number must be one a key, a database and a library can hold; False if not."""
        ok = True
        for path, problem in number_problems(data):
            self.err(doc.pos(base + path), problem)
            ok = False
        return ok

    def _check_folders(self, settings: Settings, sdoc: Doc) -> None:
        self.allowed = [os.path.realpath(self.root / os.path.expanduser(p)) for p in settings.allow_paths]
        for name in ("cache", "out"):
            value = getattr(settings, name)
            path = self.root / value
            if name == "cache" and os.environ.get("IMAGINEER_CACHE"):
                continue
            problem = file_problem(path, "dir")
            if not value.strip():
                self.err(sdoc.pos((name,)), f"{name}: must name a folder")
            elif problem and problem != "no such file or folder":
                self.err(sdoc.pos((name,)), f"{name}: {value[:100]} {problem}")
            elif not self._inside(path):
                self.err(sdoc.pos((name,)), f"{name}: {value[:100]} is outside the project; list it under "
                                            "`allow_paths:` to use it")

    def _check_defaults(self, settings: Settings, sdoc: Doc) -> None:
        """defaults: {section: {key: value}}: every section a kind's, every key a setting of that
        kind (or one it takes only as a default), every value valid for it."""
        for section, values in settings.defaults.items():
            if section not in self.kinds:
                self.err(sdoc.key_pos(("defaults", section)), f"defaults: unknown section {section!r}"
                         f"{did_you_mean(section, self.kinds)}; expected one of: {', '.join(sorted(self.kinds))}")
                continue
            kind = self.kinds[section]
            fields = {(f.alias or n): f for n, f in kind.Config.model_fields.items()}
            extra = dict(kind.default_only)
            for key, value in (values or {}).items():
                where = ("defaults", section, key)
                if key in extra:
                    annotation = extra[key]
                elif key in fields:
                    f = fields[key]
                    annotation = Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation
                else:
                    names = sorted(set(fields) | set(extra))
                    self.err(sdoc.key_pos(where), f"defaults.{section}: unknown key {key!r}"
                                                  f"{did_you_mean(str(key), names)}; {section} take: {', '.join(names)}")
                    continue
                try:
                    TypeAdapter(annotation).validate_python(value)
                except ValidationError as e:
                    first = e.errors()[0]
                    self.err(sdoc.pos(where), f"defaults.{section}.{key}: {first['msg']}")

    def _check_refs(self, targets: dict[str, Target]) -> dict[str, list[str]]:
        edges: dict[str, list[str]] = {}
        for t in targets.values():
            ups = []
            for r in t.refs:
                if r.target not in targets:
                    self.err(
                        t.doc.pos(t.path + r.path),
                        f"unknown target {r.target!r}{did_you_mean(r.target, targets)}",
                    )
                else:
                    ups.append(r.target)
            edges[t.name] = ups
        return edges

    def _pydantic_errors(self, exc: ValidationError, doc: Doc, base: tuple[Any, ...], model: type[BaseModel],
                         raw: Any = None) -> None:
        """raw: the validated data when it is not doc's (after --set), so paths name every key."""
        for e in exc.errors():
            loc = _data_path(doc, base, e["loc"], raw)
            pos = doc.pos(base + loc)
            where = ".".join(str(x) for x in loc) or "(top level)"
            typ = e["type"]
            if typ == "extra_forbidden":
                key = loc[-1] if loc else "?"
                choices = _field_names_at(model, e["loc"][:-1])
                exp = f"; expected one of: {', '.join(sorted(choices))}" if choices else ""
                self.err(doc.key_pos(base + loc), f"unknown key {key!r}{did_you_mean(str(key), choices)}{exp}")
            elif typ == "missing":
                self.err(pos, f"missing required field {str(e['loc'][-1])!r} in {'.'.join(map(str, loc)) or 'target'}")
            else:
                got = e.get("input")
                got_s = f" (got {got!r})" if not isinstance(got, (dict, list)) else ""
                self.err(pos, f"{where}: {e['msg']}{got_s}")


def _data_path(doc: Doc, base: tuple[Any, ...], loc: tuple[Any, ...], raw: Any = None) -> tuple[Any, ...]:
    """Pydantic locations include union member tags; keep only the parts that exist in the data."""
    out: list[Any] = []
    data: Any = _get(doc.data, base) if raw is None else raw
    for part in loc:
        if isinstance(data, dict) and part in data:
            out.append(part)
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            out.append(part)
            data = data[part]
        elif part == loc[-1] and isinstance(data, dict):
            out.append(part)  # a missing or unknown key: point at its parent mapping
    return tuple(out)


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        data = data[p] if isinstance(data, (dict, list)) else None
    return data


def _models_in(tp: Any) -> list[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return [m for a in typing.get_args(tp) for m in _models_in(a)]
    return []


def _field_names_at(model: type[BaseModel], loc: tuple[Any, ...]) -> set[str]:
    """Keys accepted at a pydantic location, for 'did you mean'."""
    current: list[Any] = [model]
    for part in loc:
        nxt: list[Any] = []
        for tp in current:
            for m in _models_in(tp):
                for name, f in m.model_fields.items():
                    if part in (name, f.alias):
                        nxt.append(f.annotation)
                if part == m.__name__:
                    nxt.append(m)
            origin = typing.get_origin(tp)
            if origin in (list, dict, tuple):
                args = typing.get_args(tp)
                if args:
                    nxt.append(args[-1])
            if origin in (typing.Union, types.UnionType):
                for a in typing.get_args(tp):
                    if typing.get_origin(a) in (list, dict):
                        nxt.append(typing.get_args(a)[-1])
        current = nxt or current
    names: set[str] = set()
    for tp in current:
        for m in _models_in(tp):
            names |= {f.alias or n for n, f in m.model_fields.items()}
    return names


def number_problems(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    """(path, problem) for numbers no key or library can hold: non-finite floats, integers
    beyond 64 bits. Field-specific ranges are the kinds' (pydantic ge/le)."""
    if isinstance(data, bool):
        return []
    name = f"{path[-1]}: " if path else ""
    if isinstance(data, int):
        return [] if -INT_LIMIT <= data <= INT_LIMIT else [(path, f"{name}number {str(data)[:30]} is out of "
                                                                  "range (at most 2**63 - 1 in size)")]
    if isinstance(data, float):
        return [] if math.isfinite(data) else [(path, f"{name}{data} is not a finite number")]
    out: list[tuple[tuple[Any, ...], str]] = []
    if isinstance(data, dict):
        for k, v in data.items():
            out += number_problems(v, path + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += number_problems(v, path + (i,))
    return out
