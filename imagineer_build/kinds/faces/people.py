"""The people file: what a person decided about a faces target, kept beside the specs.

    clusters:                  # cluster number → its name, pinned centroid, merges
      1: {name: Emma, centroid: "f16:…"}
      7: {merged_into: 1, centroid: "f16:…"}
    faces:                     # corrections keyed by face identity: image digest + box
      "3fa9…:175,76,91,91": {person: Jake, file: images/a.jpg}
      "77c0…:12,40,60,60": {nobody: true}

Numbers stay with the people they were given to: a build gives each new cluster the number of
the nearest pinned centroid, so adding photos renumbers nothing. The `imagineer faces`
commands write this file (pinning every current cluster); a person may edit names and notes.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator

from ...core.kind import KindConfig

FACE_ID_RE = re.compile(r"^([0-9a-f]+):(\d+),(\d+),(\d+),(\d+)$")
HEADER = ("# People of faces target {target}: cluster numbers, names and corrections.\n"
          "# Written by `imagineer faces name|move|merge|nobody|pin`; names and notes may be edited by hand.\n"
          "# `centroid` pins a cluster's number to where its faces are: keep it.\n")


class ClusterEntry(KindConfig):
    name: str | None = Field(None, description="who this cluster is")
    merged_into: int | None = Field(None, ge=1, description="this cluster is the same person as that one")
    centroid: str | None = Field(None, description="pinned embedding centroid (written by the commands)")
    note: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("a name cannot be empty")
        return v.strip() if v is not None else None

    @field_validator("centroid")
    @classmethod
    def _centroid(cls, v: str | None) -> str | None:
        if v is not None:
            decode_vector(v)
        return v


class FaceEntry(KindConfig):
    person: str | None = Field(None, description="this face is this person")
    cluster: int | None = Field(None, ge=1, description="this face belongs to this cluster")
    nobody: bool = Field(False, description="this face is nobody to track (a stranger, a poster)")
    file: str | None = Field(None, description="the image, for people reading the file; not used")
    note: str | None = None

    def chosen(self) -> list[str]:
        return [k for k in ("person", "cluster") if getattr(self, k) is not None] + (["nobody"] if self.nobody else [])


class People(KindConfig):
    clusters: dict[int, ClusterEntry] = Field(default_factory=dict)
    faces: dict[str, FaceEntry] = Field(default_factory=dict)


class PeopleError(ValueError):
    """A people file that cannot be applied; the message names file:line:col."""


def face_id(digest: str, box: list[int]) -> str:
    return f"{digest}:{box[0]},{box[1]},{box[2]},{box[3]}"


def parse_face_id(text: str) -> tuple[str, list[int]] | None:
    m = FACE_ID_RE.match(text)
    return (m.group(1), [int(g) for g in m.groups()[1:]]) if m else None


def encode_vector(vec) -> str:
    import numpy as np

    return "f16:" + base64.b64encode(np.asarray(vec, dtype="<f2").tobytes()).decode("ascii")


def decode_vector(text: str):
    import numpy as np

    if not text.startswith("f16:"):
        raise ValueError("a centroid is written as f16:BASE64 (by `imagineer faces pin`)")
    try:
        raw = base64.b64decode(text[4:], validate=True)
    except ValueError:
        raise ValueError("centroid: not valid base64") from None
    if len(raw) != 256:
        raise ValueError(f"centroid: {len(raw)} bytes, expected 256 (128 float16 values)")
    return np.frombuffer(raw, dtype="<f2").astype(np.float64)


def load_people(path: Path, shown: str) -> People:
    """Parse and check the file; every problem is reported at file:line:col."""
    from ...core.spec import SpecErrors, load_yaml

    try:
        doc = load_yaml(path, shown)
    except SpecErrors as e:
        raise PeopleError(str(e)) from None
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise PeopleError(f"{doc.pos(())}: a people file is a mapping with `clusters:` and `faces:`")
    try:
        people = People.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = tuple(err["loc"])
            lines.append(f"{doc.pos(loc)}: {'.'.join(map(str, loc)) or 'people'}: {err['msg']}")
        raise PeopleError("\n".join(lines)) from None
    problems = []
    for key, entry in people.faces.items():
        if parse_face_id(key) is None:
            problems.append(f"{doc.key_pos(('faces', key))}: {key!r} is not a face id (IMAGE_DIGEST:x,y,w,h)")
        if len(entry.chosen()) != 1:
            problems.append(f"{doc.pos(('faces', key))}: a face entry says exactly one of person, cluster, nobody "
                            f"(got {', '.join(entry.chosen()) or 'none'})")
    for n, entry in people.clusters.items():
        if n < 1:
            problems.append(f"{doc.key_pos(('clusters', n))}: cluster numbers start at 1")
        if entry.merged_into is not None:
            if entry.merged_into not in people.clusters:
                problems.append(f"{doc.pos(('clusters', n, 'merged_into'))}: cluster {entry.merged_into} "
                                "is not in this file")
            elif _chain(people, n) is None:
                problems.append(f"{doc.pos(('clusters', n, 'merged_into'))}: merged_into goes round in a circle")
    if problems:
        raise PeopleError("\n".join(problems))
    return people


def _chain(people: People, n: int) -> int | None:
    seen = set()
    while n in people.clusters and people.clusters[n].merged_into is not None:
        if n in seen:
            return None
        seen.add(n)
        n = people.clusters[n].merged_into
    return n


def resolve(people: People, n: int) -> int:
    """The cluster a number ends up in after merges."""
    return _chain(people, n) or n


def dump_people(people: People, target: str) -> str:
    """YAML text: clusters by number, faces by id; only what is set, so hand edits read back."""
    import yaml

    def entry(e: KindConfig) -> dict[str, Any]:
        return e.model_dump(exclude_none=True, exclude_defaults=True)

    data: dict[str, Any] = {}
    if people.clusters:
        data["clusters"] = {n: entry(people.clusters[n]) for n in sorted(people.clusters)}
    if people.faces:
        data["faces"] = {k: entry(people.faces[k]) for k in sorted(people.faces)}
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000) if data else "{}\n"
    return HEADER.format(target=target) + body
