"""The patch tests' steps: build one target in this process, then see how `verify` judges it
(rebuilt from nothing in a scratch store) and the album.jsonl lines its out view holds."""

from __future__ import annotations

from pathlib import Path

from imagineer_build.core.engine import BuildOptions, Engine
from imagineer_build.core.project import Project
from imagineer_build.core.verify import verify


def build(root: Path, target: str, refresh: bool = False):
    """The target's Result, built or cached (an edit may undo the last one)."""
    events: list[dict] = []
    opts = BuildOptions(refresh={target} if refresh else set(), no_workers=True)
    result = Engine(Project.load(root), events.append).build(opts)[target]
    assert result.status in ("built", "cached"), (result.error, events)
    return result


def verdict(root: Path, target: str):
    """verify's verdict on one target of the project at root."""
    (one,) = verify(Project.load(root), [target])
    return one


def out_jsonl(root: Path, target: str) -> list[str]:
    return (root / "out" / target / "album.jsonl").read_text().splitlines()
