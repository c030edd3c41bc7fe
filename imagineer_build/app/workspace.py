"""The project as the app sees it: reloaded when its specs change, artifacts read through the
library API and memoised by what could change them.

Artifacts are immutable, so a target's view and catalog are kept per artifact digest; which
digest a target has is re-read only when imagineer.lock or the store's last-build record of
that target changes. The blobs the app may serve are exactly the files of these artifacts.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ..api import UserError, last_artifact, open_project, open_store
from .catalog import Catalog, catalog


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class Workspace:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self._lock = threading.RLock()
        self._project = None
        self._project_sig: Any = None
        self._store = None
        self._heads: dict[str, tuple[Any, Any]] = {}  # target → (signature, view or None)
        self._catalogs: OrderedDict[str, Catalog | None] = OrderedDict()
        self._allowed: tuple[tuple, frozenset[str]] = ((), frozenset())
        self._yaml: dict[Path, tuple[Any, Any]] = {}

    # ---- the project -----------------------------------------------------------------------

    def _project_signature(self) -> tuple:
        specs = self.root / "specs"
        names = sorted(p for p in specs.iterdir() if p.suffix in (".yaml", ".yml")) if specs.is_dir() else []
        return (_stat(self.root / "imagineer.yaml"), tuple((p.name, _stat(p)) for p in names),
                os.environ.get("IMAGINEER_CACHE"))

    def project(self):
        """The project, loaded again when imagineer.yaml or a spec changed (SpecErrors propagate)."""
        sig = self._project_signature()
        with self._lock:
            if self._project is None or sig != self._project_sig:
                self._project = open_project(self.root)
                self._project_sig = sig
                self._heads.clear()
                if self._store is None or self._store.root != self._project.store_root:
                    self._store = open_store(self._project)
            return self._project

    def store(self):
        self.project()
        return self._store

    # ---- artifacts -------------------------------------------------------------------------

    def view(self, name: str):
        """The target's artifact (as the lock names it, else as last built), or None if never built."""
        proj = self.project()
        store = self.store()
        sig = (_stat(proj.lock_path), _stat(store.root / "last" / f"{name}.json"))
        with self._lock:
            hit = self._heads.get(name)
            if hit is not None and hit[0] == sig:
                return hit[1]
        try:
            view = last_artifact(proj, name, store)
        except UserError:
            view = None
        with self._lock:
            self._heads[name] = (sig, view)
        return view

    def catalog(self, name: str) -> Catalog | None:
        view = self.view(name)
        if view is None:
            return None
        with self._lock:
            if view.digest in self._catalogs:
                self._catalogs.move_to_end(view.digest)
                return self._catalogs[view.digest]
        cat = catalog(name, self.project().targets[name].kind_name, view)
        with self._lock:
            self._catalogs[view.digest] = cat
            while len(self._catalogs) > 16:
                self._catalogs.popitem(last=False)
        return cat

    def views(self) -> dict[str, Any]:
        return {name: v for name in self.project().targets if (v := self.view(name)) is not None}

    def allowed(self) -> frozenset[str]:
        """Blob digests the app may serve: the files of every target's current artifact."""
        views = self.views()
        sig = tuple(sorted((n, v.digest) for n, v in views.items()))
        with self._lock:
            if self._allowed[0] == sig:
                return self._allowed[1]
        blobs = frozenset(d for v in views.values() for d in v.files.values())
        with self._lock:
            self._allowed = (sig, blobs)
        return blobs

    def containing(self, digest: str) -> list[str]:
        """Targets whose current album holds this image."""
        out = []
        for name in self.project().targets:
            cat = self.catalog(name)
            if cat is not None and digest in cat.by_digest:
                out.append(name)
        return out

    # ---- files people edit -----------------------------------------------------------------

    def read_yaml(self, rel: str) -> Any:
        """A project YAML file's data (None when missing or unreadable), re-parsed only when it changed."""
        import yaml

        path = self.root / rel
        sig = _stat(path)
        with self._lock:
            hit = self._yaml.get(path)
            if hit is not None and hit[0] == sig:
                return hit[1]
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) if sig else None
        except (OSError, ValueError, yaml.YAMLError):
            data = None
        with self._lock:
            self._yaml[path] = (sig, data)
        return data
