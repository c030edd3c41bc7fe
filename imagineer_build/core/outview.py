"""out/<target>/: the artifact's files as reflinks, else hard links, else copies."""

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


def materialize(view: ArtifactView, dest: Path, linker: Linker, force: bool = False,
                before: ArtifactView | None = None) -> bool:
    """Make dest hold exactly the artifact's files; returns False when it already did.

    A view that is mostly right (a rebuild that changed a few files) is patched in place, file
    by file with os.replace; otherwise a new folder is filled and swapped in whole. `before`,
    the artifact dest's marker names, lets the patch touch only the files whose digest changed
    (plus any missing), with no stat of the 10,000 others; without it, every file is compared
    by inode with its blob. The marker is removed first and written last, so an interrupted
    update is redone by the next build.
    """
    marked = current_digest(dest)
    if not force and marked == view.digest:
        return False
    if dest.is_dir() and not dest.is_symlink():
        if before is not None and marked == before.digest:
            existing = _names(str(dest))
            stale = [rel for rel, d in view.files.items() if before.files.get(rel) != d or rel not in existing]
        else:
            inodes = _inodes(str(dest))
            existing = set(inodes)
            stale = [rel for rel, d in view.files.items() if inodes.get(rel) != _inode(str(view.locate(d)))]
        if len(stale) * 2 <= len(view.files):
            _patch(dest, existing - view.files.keys(), {rel: str(view.locate(view.files[rel])) for rel in stale},
                   linker)
            (dest / MARKER).write_text(view.digest + "\n")
            return True
    _swap_in(view, dest, {rel: str(view.locate(d)) for rel, d in view.files.items()}, linker)
    return True


def _inode(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
        return st.st_dev, st.st_ino
    except OSError:
        return None


def _inodes(root: str) -> dict[str, tuple[int, int]]:
    """rel path → (device, inode) of every file under root (the marker excluded)."""
    out: dict[str, tuple[int, int]] = {}
    for rel, e in _files(root):
        st = e.stat(follow_symlinks=False)
        out[rel] = (st.st_dev, st.st_ino)
    return out


def _names(root: str) -> set[str]:
    """rel path of every file under root (the marker excluded); no stat."""
    return {rel for rel, _ in _files(root)}


def _files(root: str):
    stack = [("", root)]
    while stack:
        prefix, d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                rel = prefix + e.name
                if e.is_dir(follow_symlinks=False):
                    stack.append((rel + "/", e.path))
                elif rel != MARKER:
                    yield rel, e


def _patch(dest: Path, extra: set[str], stale: dict[str, str], linker: Linker) -> None:
    """Remove the extra files, then put each stale one (rel → blob path) in place."""
    with contextlib.suppress(FileNotFoundError):
        (dest / MARKER).unlink()
    root = str(dest)
    for rel in extra:
        os.unlink(f"{root}/{rel}")
    for rel, src in stale.items():
        target = f"{root}/{rel}"
        folder = os.path.dirname(target)
        os.makedirs(folder, exist_ok=True)
        tmp = f"{folder}/.{os.path.basename(rel)}.new-{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        linker.place(src, tmp)
        os.replace(tmp, target)


def _swap_in(view: ArtifactView, dest: Path, wanted: dict[str, str], linker: Linker) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.new-"))
    try:
        made: set[str] = {""}
        for rel, src in wanted.items():  # plain strings: pathlib cost more than the links
            folder = rel.rpartition("/")[0]
            if folder not in made:
                os.makedirs(f"{tmp}/{folder}", exist_ok=True)
                made.add(folder)
            linker.place(src, f"{tmp}/{rel}")
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


def unmark_showing(out_root: Path, damaged: set[str], blobs_of) -> None:
    """Out views that showed a damaged blob (through a hard link: the same damaged bytes) lose
    their marker, so the next build compares each of their files with the store again."""
    if not damaged or not out_root.is_dir():
        return
    for marker in out_root.glob(f"*/{MARKER}"):
        digest = current_digest(marker.parent)
        if digest and blobs_of(digest) & damaged:
            marker.unlink(missing_ok=True)


def remove(dest: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(dest)
