"""out/<target>/: the artifact's files as reflinks, else hard links, else copies; swapped in whole."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
from pathlib import Path

from .artifact import ArtifactView

MARKER = ".imagineer-artifact"
FICLONE = 0x40049409


def _reflink(src: str | Path, dst: str | Path) -> bool:
    with open(src, "rb") as s, open(dst, "wb") as d:
        try:
            fcntl.ioctl(d.fileno(), FICLONE, s.fileno())
            return True
        except OSError:
            pass
    os.unlink(dst)
    return False


class Linker:
    """Remembers which method works, so a failing one is tried once per build, not per file."""

    def __init__(self) -> None:
        self.can_reflink = True
        self.can_hardlink = True
        self.used: dict[str, int] = {"reflink": 0, "hardlink": 0, "copy": 0}

    def place(self, src: str | Path, dst: str | Path) -> None:
        if self.can_reflink:
            if _reflink(src, dst):
                self.used["reflink"] += 1
                return
            self.can_reflink = False
        if self.can_hardlink:
            try:
                os.link(src, dst)
                self.used["hardlink"] += 1
                return
            except OSError as e:
                if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                    raise
                self.can_hardlink = False
        shutil.copyfile(src, dst)
        self.used["copy"] += 1


def current_digest(dest: Path) -> str | None:
    try:
        return (dest / MARKER).read_text().strip()
    except OSError:
        return None


def materialize(view: ArtifactView, dest: Path, linker: Linker, force: bool = False) -> bool:
    """Make dest hold exactly the artifact's files; returns False when it already did."""
    if not force and current_digest(dest) == view.digest:
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.new-"))
    try:
        made: set[str] = {""}
        blobs = str(view.blob_dir)
        for rel, digest in view.files.items():  # plain strings: pathlib cost more than the links
            folder = rel.rpartition("/")[0]
            if folder not in made:
                os.makedirs(f"{tmp}/{folder}", exist_ok=True)
                made.add(folder)
            linker.place(f"{blobs}/{digest[:2]}/{digest}", f"{tmp}/{rel}")
        (tmp / MARKER).write_text(view.digest + "\n")
        old = None
        if dest.exists():
            old = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.old-"))
            os.replace(dest, old / "x")
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return True


def remove(dest: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(dest)
