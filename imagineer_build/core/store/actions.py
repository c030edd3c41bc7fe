"""The action cache: key → action record (artifact digest, facts), plus each target's `last`.

A record is written last, after every blob it names: it is the commit point of a build.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..hashing import canonical_json
from .files import atomic_write


@dataclass
class ActionRecord:
    key: str
    target: str
    kind: str
    artifact: str
    created: float
    seconds: float
    facts: dict[str, Any]
    key_inputs: dict[str, Any]
    # folder input → blob holding its listing {relative path: digest}, so `explain` can say
    # which files changed since this build
    listings: dict[str, str] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)  # Artifact.run: timings, device, versions
    memo: str | None = None  # blob listing the memo entries the build used: {namespace: [keys]}

    def to_json(self) -> bytes:
        return canonical_json(self.__dict__)

    @classmethod
    def parse(cls, data: bytes) -> ActionRecord:
        """A record from bytes someone else may have written (a remote): ValueError unless every
        field has the type a record's field has and every digest is one."""
        from .cas import is_digest

        d = json.loads(data)
        if not isinstance(d, dict):
            raise ValueError("an action record is a JSON object")
        try:
            rec = cls(**d)
        except TypeError as e:
            raise ValueError(f"not an action record: {e}") from None
        digests = [rec.key, rec.artifact, *rec.listings.values(), *([rec.memo] if rec.memo else [])]
        if not all(isinstance(x, str) and is_digest(x) for x in digests) or not isinstance(rec.target, str):
            raise ValueError("an action record names something that is not a digest")
        return rec

    def blobs(self) -> set[str]:
        """What the record names besides its artifact's files: listings and the memo list."""
        return {*self.listings.values(), *([self.memo] if self.memo else [])}


class LocalActions:
    def __init__(self, root: Path):
        self.dir = root / "actions"
        self.last_dir = root / "last"

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> ActionRecord | None:
        return _read(self._path(key))

    def put(self, record: ActionRecord) -> None:
        """Write the record: from now on the key is built."""
        atomic_write(self._path(record.key), record.to_json(), fsync=True)
        atomic_write(self.last_dir / f"{record.target}.json", record.to_json())

    def last(self, target: str) -> ActionRecord | None:
        return _read(self.last_dir / f"{target}.json")

    def forget(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def forget_target(self, target: str) -> int:
        """Drop every record of a target; returns how many."""
        n = 0
        for rec in list(self):
            if rec.target == target:
                self.forget(rec.key)
                n += 1
        with contextlib.suppress(FileNotFoundError):
            (self.last_dir / f"{target}.json").unlink()
        return n

    def __iter__(self) -> Iterator[ActionRecord]:
        for p in self.dir.glob("*/*.json"):
            rec = _read(p)
            if rec is not None:
                yield rec


def _read(path: Path) -> ActionRecord | None:
    try:
        return ActionRecord.parse(path.read_bytes())
    except (OSError, ValueError):  # missing, torn or foreign: no record
        return None
