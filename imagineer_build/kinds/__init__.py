"""Kinds: the domain. Each registers through the imagineer_build.kinds entry-point group."""

from pathlib import Path

from ..core.kind import Kind, Tolerance


class MediaKind(Kind):
    """A kind whose outputs are images, tensors and JSON: `verify` says how two versions differ
    (pixels, tensor elements, keys) instead of "bytes differ"."""

    def compare_file(self, rel: str, old: Path, new: Path, tol: Tolerance) -> tuple[bool, str]:
        from ..media.compare import compare_file

        return compare_file(rel, old, new, tol)
