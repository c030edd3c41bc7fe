"""Hash the project files and folders a config names, through the stat cache."""

from __future__ import annotations

import errno
import os
import stat as stat_mod
from pathlib import Path

from .inputs import FileInput, FileListing
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


def is_regular(path: str | os.PathLike) -> bool:
    """A regular file (through links); False for anything else, including names the OS
    refuses (too long, NUL) that Path.is_file() would raise on."""
    try:
        return stat_mod.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def file_type(mode: int) -> str:
    for test, name in ((stat_mod.S_ISDIR, "a folder"), (stat_mod.S_ISFIFO, "a named pipe"),
                       (stat_mod.S_ISCHR, "a character device"), (stat_mod.S_ISBLK, "a block device"),
                       (stat_mod.S_ISSOCK, "a socket"), (stat_mod.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def walk_files(root: Path, suffixes: tuple[str, ...] | None = None,
               errors: dict[str, str] | None = None,
               follow_links: bool = False) -> list[tuple[str, str, os.stat_result]]:
    """(relative path, path, stat) of every regular file under root (dot files and dot folders
    skipped), sorted by relative path.

    What cannot be used is put in `errors` (relative path → why) instead of ending the walk or
    hanging it: folders that cannot be listed, names that are not UTF-8, named pipes, devices
    and sockets, broken links and link loops, and links that lead out of the folder (unless
    follow_links). A folder reached twice (a link back into the tree) is walked once.
    """
    errors = {} if errors is None else errors
    out: list[tuple[str, str, os.stat_result]] = []
    stack = [("", str(root))]
    real_root = os.path.realpath(root)
    st = os.stat(root)
    seen = {(st.st_dev, st.st_ino)}
    while stack:
        prefix, d = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError as err:
            errors[prefix or "."] = f"unreadable folder: {os.strerror(err.errno) if err.errno else err}"
            continue
        for e in entries:
            name = e.name
            if name[0] == ".":
                continue
            rel = prefix + name
            if not (name.isascii() or _utf8(name)):
                errors[_printable(rel)] = "file name is not UTF-8 text: skipped (rename it)"
                continue
            # The common case from the directory entry's type alone: a plain file (one stat,
            # which the stat cache needs anyway) or a plain folder (none: without links a
            # folder cannot be reached twice).
            try:
                if e.is_file(follow_symlinks=False):
                    if suffixes is None or name.lower().endswith(suffixes):
                        out.append((rel, e.path, e.stat(follow_symlinks=False)))
                    continue
                if e.is_dir(follow_symlinks=False):
                    stack.append((rel + "/", e.path))
                    continue
            except OSError as err:
                errors[rel] = f"unreadable: {os.strerror(err.errno or 0)}"
                continue
            try:
                is_link = e.is_symlink()
                target = e.stat(follow_symlinks=True)
            except OSError as err:
                errors[rel] = _link_error(err) if e.is_symlink() else f"unreadable: {os.strerror(err.errno or 0)}"
                continue
            special = not (stat_mod.S_ISDIR(target.st_mode) or stat_mod.S_ISREG(target.st_mode))
            if is_link and not special and not follow_links and not _inside(e.path, real_root):
                errors[rel] = "link out of the folder: not followed (set follow_links: true to follow it)"
                continue
            if stat_mod.S_ISDIR(target.st_mode):
                if (target.st_dev, target.st_ino) in seen:
                    errors[rel] = "folder link loop: not followed"
                    continue
                seen.add((target.st_dev, target.st_ino))
                stack.append((rel + "/", e.path))
            elif not stat_mod.S_ISREG(target.st_mode):
                errors[rel] = f"{file_type(target.st_mode)}, not a file: skipped"
            elif suffixes is None or name.lower().endswith(suffixes):
                out.append((rel, e.path, target))
    out.sort(key=lambda x: x[0])
    return out


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:  # os.scandir hands undecodable bytes over as lone surrogates
        return False


def _printable(name: str) -> str:
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _inside(path: str, real_root: str) -> bool:
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip("/") + "/")


def _link_error(err: OSError) -> str:
    if err.errno == errno.ELOOP:
        return "symbolic link loop: skipped"
    if err.errno == errno.ENOENT:
        return "broken link: skipped"
    return f"unreadable link: {os.strerror(err.errno or 0)}"


def list_input(project_root: Path, fi: FileInput, stat: StatCache) -> FileListing:
    """(relative path → (digest, size)) for a file ('' as its path) or every file of a folder;
    files of a folder that cannot be read are listed in .errors (no absolute paths: keys)."""
    path = project_root / fi.path
    if path.is_dir():
        errors: dict[str, str] = {}
        found = walk_files(path, fi.suffixes, errors, fi.follow_links)
        return FileListing(path, _digests(found, stat, errors), errors)
    return FileListing(path, {"": stat.digest(path)})


def _digests(found: list[tuple[str, str, os.stat_result]], stat: StatCache,
             errors: dict[str, str]) -> dict[str, tuple[str, int]]:
    """rel → (digest, size) of (rel, path, stat) files: from the stat cache, reading only the
    new or changed ones; a file that cannot be read goes to errors (the kind's to report)."""
    entries = {}
    for (rel, abs_path, st), known in zip(found, stat.known([f[1:] for f in found]), strict=True):
        if known is None:
            try:
                known = stat.digest(abs_path, st)
            except OSError as err:
                errors[rel] = f"unreadable: {os.strerror(err.errno) if err.errno else err}"
                continue
        entries[rel] = known
    return entries


def listing_key(fi: FileInput) -> tuple:
    """What a listing depends on besides the files: list_input of equal keys lists alike."""
    return fi.path, fi.suffixes, fi.follow_links


def still_as_listed(project_root: Path, fi: FileInput, stat: StatCache, listed: FileListing) -> bool:
    """Whether every file a listing named still holds the bytes it was listed with: what a kind
    read while building must be what its key says. One stat per listed file and no folder walk
    (the walk was half of relisting 100,000 files after every rebuild): a file added meanwhile
    was not read by the build, so the record stays true and the next build sees it."""
    if "" in listed.entries:  # a single file
        try:
            return list_input(project_root, fi, stat).digest == listed.digest
        except OSError:
            return False
    root = str(listed.root)
    found = []
    for rel in listed.entries:
        try:
            found.append((rel, f"{root}/{rel}", os.stat(f"{root}/{rel}")))
        except OSError:  # removed, or no longer readable
            return False
    errors: dict[str, str] = {}
    now = _digests(found, stat, errors)
    return not errors and all(now[rel][0] == d for rel, (d, _) in listed.entries.items())


def store_folder(root: Path, cache: str) -> Path:
    """The store: imagineer.yaml `cache:`, unless IMAGINEER_CACHE points at a shared one (CI)."""
    shared = os.environ.get("IMAGINEER_CACHE")
    return Path(shared).expanduser().resolve() if shared else (root / cache).resolve()


def out_folder(root: Path, out: str) -> Path:
    return (root / out).resolve()


def file_problem(path: Path, want: str) -> str | None:
    """Why a file or folder a spec names cannot be used as `want` (file | dir | any), or None."""
    try:
        st = path.stat()
    except OSError as e:
        if e.errno == errno.ENOENT:
            return "no such file or folder"
        if e.errno == errno.ELOOP:
            return "a symbolic link loop"
        return f"cannot be read ({e.strerror})"
    except ValueError:  # a NUL inside the name
        return "holds a NUL character"
    if stat_mod.S_ISDIR(st.st_mode):
        return "is a folder; expected a file" if want == "file" else None
    if not stat_mod.S_ISREG(st.st_mode):
        return f"is {file_type(st.st_mode)}; expected a regular file" + (" or a folder" if want != "file" else "")
    return "is a file; expected a folder" if want == "dir" else None
