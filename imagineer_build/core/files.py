"""Hash the project files and folders a config names, through the stat cache."""

from __future__ import annotations

import errno
import os
import stat as stat_mod
from pathlib import Path

from .kind import FileInput, FileListing
from .statcache import StatCache


def read_regular(path: str | os.PathLike, max_bytes: int) -> bytes:
    """The bytes of a regular file (through symlinks), refusing what would hang or exhaust
    memory: a named pipe, a device, a socket, a folder, or a file over max_bytes."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat_mod.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, f"not a regular file ({file_type(st.st_mode)})", str(path))
        if st.st_size > max_bytes:
            raise OSError(errno.EFBIG, f"larger than the {max_bytes >> 20} MB this file may be", str(path))
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            size += len(chunk)
            if size > max_bytes:  # a file that grows while read (or lies about its size)
                raise OSError(errno.EFBIG, f"larger than the {max_bytes >> 20} MB this file may be", str(path))
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def file_type(mode: int) -> str:
    for test, name in ((stat_mod.S_ISDIR, "a folder"), (stat_mod.S_ISFIFO, "a named pipe"),
                       (stat_mod.S_ISCHR, "a character device"), (stat_mod.S_ISBLK, "a block device"),
                       (stat_mod.S_ISSOCK, "a socket"), (stat_mod.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def walk_files(root: Path, suffixes: tuple[str, ...] | None = None,
               errors: dict[str, str] | None = None) -> list[tuple[str, os.DirEntry]]:
    """Every regular file under root (dot files and dot folders skipped), sorted by relative path.

    Folder symlinks are followed once: a link back into the tree is not walked again. Folders
    that cannot be listed go into `errors` (relative path → why) instead of ending the walk.
    """
    out: list[tuple[str, os.DirEntry]] = []
    stack = [("", str(root))]
    st = os.stat(root)
    seen = {(st.st_dev, st.st_ino)}
    while stack:
        prefix, d = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError as err:
            if errors is not None:
                errors[prefix or "."] = f"unreadable folder: {os.strerror(err.errno) if err.errno else err}"
            continue
        for e in entries:
            if e.name.startswith("."):
                continue
            rel = prefix + e.name
            if e.is_dir(follow_symlinks=True):
                try:
                    dst = e.stat(follow_symlinks=True)
                except OSError:
                    continue
                if (dst.st_dev, dst.st_ino) in seen:
                    if errors is not None:
                        errors[rel] = "folder link loop: not followed"
                    continue
                seen.add((dst.st_dev, dst.st_ino))
                stack.append((rel + "/", e.path))
            elif e.is_file(follow_symlinks=True) or e.is_symlink():  # dangling: reported, not lost
                if suffixes is None or e.name.lower().endswith(suffixes):
                    out.append((rel, e))
    out.sort(key=lambda x: x[0])
    return out


def list_input(project_root: Path, fi: FileInput, stat: StatCache) -> FileListing:
    """(relative path → (digest, size)) for a file ('' as its path) or every file of a folder;
    files of a folder that cannot be read are listed in .errors (no absolute paths: keys)."""
    path = project_root / fi.path
    if path.is_dir():
        entries = {}
        errors = {}
        for rel, e in walk_files(path, fi.suffixes, errors):
            try:
                entries[rel] = stat.digest(e.path, e.stat(follow_symlinks=True))
            except OSError as err:  # one unreadable file is the kind's to report, not a crash
                errors[rel] = f"unreadable: {os.strerror(err.errno) if err.errno else err}"
        return FileListing(path, entries, errors)
    return FileListing(path, {"": stat.digest(path)})
