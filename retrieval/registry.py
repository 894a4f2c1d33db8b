"""The indexes under one folder, loaded on first use and loaded again when their folder is replaced.

`ragway index build` and `index add` swap a whole new folder in (retrieval/build.py), so a
changed manifest version is the one sign a reader needs; replicas sharing the folder each
pick it up on their next `get`.
"""

from __future__ import annotations

from pathlib import Path

from retrieval.errors import IndexNotFound
from retrieval.index import VectorIndex
from retrieval.manifest import MANIFEST_FILE, read_manifest
from retrieval.names import check_name

Stamp = tuple[int, int, int] | None
"""(inode, mtime_ns, size) of a manifest file; None when it is missing."""


class IndexRegistry:
    """Hands out loaded indexes by name; every index must match the registry's embedder."""

    def __init__(self, indexes_dir: Path, embedder_id: str, dim: int) -> None:
        self.indexes_dir = Path(indexes_dir)
        self.embedder_id = embedder_id
        self.dim = dim
        self._loaded: dict[str, VectorIndex] = {}

    def names(self) -> list[str]:
        """Names of the built indexes, sorted."""
        return index_names(self.indexes_dir)

    def get(self, name: str) -> VectorIndex:
        """The index *name* as its folder holds it now, loaded again only when its version changed.

        IndexNotFound names the folder and what exists.
        """
        folder = require_index(self.indexes_dir, name)
        loaded = self._loaded.get(name)
        if loaded is None or read_manifest(folder).version != loaded.version:
            self._loaded[name] = VectorIndex.load(folder, self.embedder_id, self.dim)
        return self._loaded[name]

    def stamp(self, name: str) -> Stamp:
        """A cheap fingerprint of index *name*'s manifest: it changes whenever the folder is swapped."""
        return file_stamp(self.indexes_dir / name / MANIFEST_FILE)


def file_stamp(path: Path) -> Stamp:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def require_index(indexes_dir: Path, name: str) -> Path:
    """The folder of index *name*; IndexNotFound (listing the built ones) when it has no manifest."""
    folder = Path(indexes_dir) / check_name(name)
    if not (folder / MANIFEST_FILE).is_file():
        known = ", ".join(index_names(Path(indexes_dir))) or "none"
        raise IndexNotFound(
            f"index '{name}' not found in {indexes_dir} (built: {known}); "
            f"build it with `ragway index build --name {name}`"
        )
    return folder


def index_names(indexes_dir: Path) -> list[str]:
    """Names of the built indexes in *indexes_dir* (folders holding a manifest), sorted.

    Dot-folders are builds in progress or being retired, never indexes to serve.
    """
    if not indexes_dir.is_dir():
        return []
    return sorted(p.parent.name for p in indexes_dir.glob(f"*/{MANIFEST_FILE}") if not p.parent.name.startswith("."))
