"""The library's public face: open a project, its store, a target's last artifact.

The CLI and every kind command go through these functions; errors a person can fix are
`UserError`s with an exit code (2: the command or the specs are wrong, 1: the work failed).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core.artifact import ArtifactView
    from .core.project import Project, Target
    from .core.store import LocalStore


class UserError(Exception):
    """A problem the person running the command can fix; the message says how."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def open_project(path: Path | None = None, sets: list[str] | None = None,
                 targets: list[str] | None = None) -> Project:
    """The project at or above `path` (default: the working folder), with `--set` overrides.

    A bare KEY=VALUE override applies to every name in `targets`. Raises SpecErrors.
    """
    from .core.project import Override, Project
    from .core.spec import SpecError, SpecErrors, find_root

    root = find_root(path or Path.cwd())
    expanded = []
    for o in (Override.parse(s) for s in sets or []):
        if o.target is not None:
            expanded.append(o)
        elif targets:
            expanded += [Override(t, o.path, o.value) for t in targets]
        else:
            raise SpecErrors([SpecError(
                None, f"--set {'.'.join(o.path)}=…: name the target (TARGET:KEY=VALUE) or build named targets")])
    return Project.load(root, expanded)


def open_store(project: Project, remote: str | None = None, use_remote: bool = True) -> LocalStore:
    """The project's store (imagineer.yaml `cache:`, or IMAGINEER_CACHE), tiered over its remote
    (`--remote`, IMAGINEER_REMOTE, imagineer.yaml `remote:`) unless use_remote is False."""
    from .core.store import open_store as open_

    return open_(project, remote, use_remote)


def target(project: Project, name: str, kind: str | None = None) -> Target:
    """A target by name, optionally of one kind; a UserError lists the valid names."""
    from .core.spec import did_you_mean

    t = project.targets.get(name)
    if t is None:
        raise UserError(unknown_target(project, name, kind))
    if kind is not None and t.kind_name != kind:
        raise UserError(f"{name} is a {t.kind_name} target, not {kind}"
                        + _choices(project, kind) + did_you_mean(name, _names(project, kind)))
    return t


def unknown_target(project: Project, name: str, kind: str | None = None) -> str:
    from .core.spec import did_you_mean

    return f"unknown target {name!r}{did_you_mean(name, _names(project, kind))}" + _choices(project, kind)


def _names(project: Project, kind: str | None) -> list[str]:
    return sorted(n for n, t in project.targets.items() if kind is None or t.kind_name == kind)


def _choices(project: Project, kind: str | None) -> str:
    names = _names(project, kind)
    if not names:
        return f"; this project has no {kind} targets" if kind else "; this project has no targets"
    shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    return f"; {'the ' + kind if kind else 'the'} targets are: {shown}"


def last_artifact(project: Project, name: str, store: Any = None) -> ArtifactView:
    """The target's artifact as the lock names it (else as last built); UserError when none."""
    from .core.lockfile import read_lock
    from .core.store import StoreError

    target(project, name)
    store = store or open_store(project)
    entry = read_lock(project.lock_path).get(name) or {}
    rec = store.last_action(name)
    digest = entry.get("artifact") or (rec.artifact if rec else None)
    if not digest:
        raise UserError(f"{name} has not been built yet: imagineer build {name}", 1)
    try:
        return store.load_artifact(digest, verify=False)
    except (OSError, StoreError) as e:
        raise UserError(f"{name}: artifact {digest} is not in the store ({e}); build it again", 1) from None


def build_record(project: Project, name: str, store: Any = None):
    """The action record of the target's locked (else last) build: timings and machine facts
    live there, not in the artifact. None when this store has none."""
    from .core.lockfile import read_lock

    store = store or open_store(project)
    entry = read_lock(project.lock_path).get(name) or {}
    rec = store.get_action(entry["key"]) if entry.get("key") else None
    return rec or store.last_action(name)


def fresh_build(path: Path | None, targets: list[str], listed: dict | None = None):
    """A no-op `build` answered from the project snapshot without loading the project:
    (the targets' "cached" Results, the out folder), or None when a full build is needed
    (anything stale, changed, damaged, or no snapshot). The file inputs it listed go into
    `listed`, for the Engine of that full build. See core/snapshot.py."""
    from .core.snapshot import fresh_build as fresh

    root = _root(path)
    return fresh(root, targets, _snapshot_context(), listed) if root is not None else None


def fresh_status(path: Path | None, targets: list[str], listed: dict | None = None):
    """`status` from the project snapshot when every target is fresh, else None (`listed` as
    for fresh_build)."""
    from .core.snapshot import fresh_status as fresh

    root = _root(path)
    return fresh(root, targets, _snapshot_context(), listed) if root is not None else None


def snapshot_begin(path: Path | None) -> dict[str, Any] | None:
    """Taken before a full load whose build may save a snapshot (see prepare_snapshot)."""
    from .core.snapshot import begin

    root = _root(path)
    return begin(root) if root is not None else None


def prepare_snapshot(project: Project, store: Any, began: dict[str, Any] | None) -> dict[str, Any] | None:
    """The snapshot of a just-loaded project, to save once its build succeeded; None when the
    project has a remote cache, even one this command turned off (a snapshot answers from the
    local store only, so only projects without one get snapshots)."""
    from .core.snapshot import prepare
    from .core.store.tiered import remote_settings

    if began is None or getattr(store, "remote", None) is not None or remote_settings(project) is not None:
        return None
    try:
        return prepare(project, project.settings_dict(), began, _snapshot_context())
    except Exception:  # a kind whose key_extras fails here fails its build, not this shortcut
        return None


def save_snapshot(prepared: dict[str, Any] | None, project: Project) -> None:
    from .core.snapshot import save

    save(prepared, project.root)


def _snapshot_context() -> list[str]:
    """What keys depend on that only this package knows: the CPU kernels torch will use (a
    library caller that imported torch first gets the machine's own, and other model keys)."""
    from .kernels import cpu_kernels

    return [cpu_kernels()]


def _root(path: Path | None) -> Path | None:
    from .core.spec import SpecErrors, find_root

    try:
        return find_root(path or Path.cwd())
    except (SpecErrors, OSError):
        return None
