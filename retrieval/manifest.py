"""manifest.json: what an index folder holds, what built it, and the checksum of its artifacts.

An index folder is immutable once written: building or adding rows writes a new folder and
swaps it in, so the checksum (and the version derived from it) names one exact content.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from retrieval.errors import IndexCorrupt, IndexNotFound

FORMAT = 1
MANIFEST_FILE = "manifest.json"
FAISS_FILE = "index.faiss"
ROWS_FILE = "rows.jsonl"

Kind = Literal["examples", "documents"]
IndexType = Literal["flat", "ivf", "hnsw"]


@dataclass(frozen=True)
class AnnShape:
    """The FAISS structure of an index and the search parameters a reader sets again on load."""

    index_type: IndexType
    nlist: int | None = None
    nprobe: int | None = None
    hnsw_m: int | None = None
    hnsw_ef_search: int | None = None


@dataclass(frozen=True)
class Manifest:
    name: str
    kind: Kind
    embedder_id: str
    dim: int
    rows: int
    checksum: str
    index_type: IndexType
    ann_threshold: int
    recall_k: int
    recall: float
    built_at: str
    updated_at: str
    sources: list[str] = field(default_factory=list)
    ivf_nlist: int | None = None
    ivf_nprobe: int | None = None
    hnsw_m: int | None = None
    hnsw_ef_search: int | None = None
    exact_threshold: int | None = None
    """Up to this many rows the search is exact; None in manifests written before the HNSW tier."""
    format: int = FORMAT

    @property
    def version(self) -> str:
        return self.checksum[:12]

    @property
    def ann(self) -> AnnShape:
        """The FAISS structure and the search parameters it was tuned to."""
        return AnnShape(self.index_type, self.ivf_nlist, self.ivf_nprobe, self.hnsw_m, self.hnsw_ef_search)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, ensure_ascii=False) + "\n"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_manifest(folder: Path) -> Manifest:
    """The manifest of the index in *folder*; IndexNotFound without one, IndexCorrupt if unreadable."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise IndexNotFound(f"index '{folder.name}': no {MANIFEST_FILE} in {folder}")
    try:
        fields = json.loads(path.read_text(encoding="utf-8"))
        # manifests written before IVF named the flat/approximate size threshold after HNSW
        if isinstance(fields, dict) and "hnsw_threshold" in fields:
            fields.setdefault("ann_threshold", fields.pop("hnsw_threshold"))
        return Manifest(**fields)
    except (ValueError, TypeError) as exc:
        raise IndexCorrupt(f"index '{folder.name}': unreadable {path}: {exc}") from exc


def write_manifest(folder: Path, manifest: Manifest) -> None:
    (folder / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")


def checksum(folder: Path) -> str:
    """sha256 over the FAISS file and the payload rows, in that order."""
    digest = hashlib.sha256()
    for name in (FAISS_FILE, ROWS_FILE):
        path = folder / name
        if not path.is_file():
            raise IndexCorrupt(f"index '{folder.name}': missing {name} in {folder}")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def verify(folder: Path, manifest: Manifest) -> None:
    """Raise IndexCorrupt when the artifacts are not the ones the manifest describes."""
    actual = checksum(folder)
    if actual != manifest.checksum:
        raise IndexCorrupt(
            f"index '{manifest.name}': artifacts in {folder} do not match the manifest checksum "
            f"({actual[:12]} != {manifest.version}); rebuild it"
        )
