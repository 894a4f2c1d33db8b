"""Build index folders from labelled examples (CSV or pairs) or a folder of documents, and grow them.

Every write goes to a fresh sibling folder that is swapped in whole, so a reader never sees
half an index and the manifest checksum always describes the files beside it.
"""

from __future__ import annotations

import csv
import ctypes
import errno
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import faiss
import numpy as np

from retrieval.ann import EXACT_THRESHOLD, all_vectors, build_ann, index_type, kind_for, shape, tune_and_measure
from retrieval.chunking import DOCUMENT_SUFFIXES, chunk_file
from retrieval.errors import IndexMismatch, SourceError
from retrieval.manifest import (
    FAISS_FILE,
    ROWS_FILE,
    Kind,
    Manifest,
    checksum,
    now,
    read_manifest,
    verify,
    write_manifest,
)
from retrieval.names import check_name
from retrieval.payload import Row, read_rows, write_rows
from retrieval.types import Embedder

Progress = Callable[[int, int], None]
Examples = Sequence[tuple[str, str]] | Path
DEFAULT_ANN_THRESHOLD = 50_000
DEFAULT_CHUNK_SIZE = 800
DEFAULT_OVERLAP = 100
EMBED_SLICE = 256


def build_examples_index(
    name: str,
    rows: Examples,
    embedder: Embedder,
    indexes_dir: Path,
    *,
    input_col: str = "text",
    output_col: str = "category",
    ann_threshold: int = DEFAULT_ANN_THRESHOLD,
    exact_threshold: int = EXACT_THRESHOLD,
    progress: Progress | None = None,
) -> Manifest:
    """Index labelled pairs: (input, output) tuples, or a CSV file read by column names."""
    check_name(name)
    payload = example_rows(rows, input_col, output_col)
    vectors = embed_rows(embedder, payload, progress)
    sources = sorted({row.source for row in payload if row.source})
    return write_index(Path(indexes_dir), name, "examples", embedder, vectors, payload, sources, ann_threshold,
                       exact_threshold)


def build_documents_index(
    name: str,
    docs_dir: Path,
    embedder: Embedder,
    indexes_dir: Path,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    overlap: int = DEFAULT_OVERLAP,
    *,
    ann_threshold: int = DEFAULT_ANN_THRESHOLD,
    exact_threshold: int = EXACT_THRESHOLD,
    progress: Progress | None = None,
) -> Manifest:
    """Index the chunks of every markdown, text and HTML file under *docs_dir*."""
    check_name(name)
    payload, sources = document_rows(Path(docs_dir), chunk_size, overlap)
    vectors = embed_rows(embedder, payload, progress)
    return write_index(Path(indexes_dir), name, "documents", embedder, vectors, payload, sources, ann_threshold,
                       exact_threshold)


def add_rows(
    name: str,
    rows: Examples,
    embedder: Embedder,
    indexes_dir: Path,
    *,
    input_col: str = "text",
    output_col: str = "category",
    progress: Progress | None = None,
) -> Manifest:
    """Append labelled pairs to an existing index: only the new rows are embedded."""
    folder = Path(indexes_dir) / check_name(name)
    manifest = read_manifest(folder)
    if manifest.embedder_id != embedder.model_id or manifest.dim != embedder.dim:
        raise IndexMismatch(
            f"index '{name}' was built with '{manifest.embedder_id}' (dim {manifest.dim}); "
            f"cannot add rows embedded with '{embedder.model_id}' (dim {embedder.dim})"
        )
    if manifest.kind != "examples":
        raise SourceError(f"index '{name}' holds {manifest.kind}; rebuild it to change its documents")
    verify(folder, manifest)
    payload = example_rows(rows, input_col, output_col)
    ann = faiss.read_index(str(folder / FAISS_FILE))
    new_vectors = embed_rows(embedder, payload, progress)
    vectors = np.concatenate([all_vectors(ann), new_vectors])
    exact = manifest.exact_threshold if manifest.exact_threshold is not None else EXACT_THRESHOLD
    if index_type(ann) != kind_for(len(vectors), manifest.ann_threshold, exact):
        ann = build_ann(vectors, manifest.ann_threshold, exact)
    else:
        # new rows join the graph or the trained lists; efSearch or nprobe is tuned again when it is published
        ann.add(new_vectors)
    sources = sorted({*manifest.sources, *(row.source for row in payload if row.source)})
    return _publish(folder, manifest, ann, vectors, read_rows(folder / ROWS_FILE) + payload, sources)


def example_rows(rows: Examples, input_col: str = "text", output_col: str = "category") -> list[Row]:
    """Payload rows from a CSV path or from (input, output) pairs; SourceError when there are none."""
    if isinstance(rows, Path):
        return read_examples_csv(rows, input_col, output_col)
    payload = [Row(input=i, output=o, source="inline", position=n) for n, (i, o) in enumerate(rows)]
    if not payload:
        raise SourceError("no example rows given")
    return payload


def read_examples_csv(path: Path, input_col: str, output_col: str) -> list[Row]:
    """The rows of a CSV with a header; blank inputs are skipped, position is the data row number."""
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        missing = [col for col in (input_col, output_col) if col not in columns]
        if missing:
            raise SourceError(f"{path}: no column {', '.join(missing)} (columns: {', '.join(columns) or 'none'})")
        payload = [
            Row(input=record[input_col].strip(), output=record[output_col], source=path.name, position=n)
            for n, record in enumerate(reader)
            if (record[input_col] or "").strip()
        ]
    if not payload:
        raise SourceError(f"{path}: no data rows")
    return payload


def document_rows(
    docs_dir: Path, chunk_size: int = DEFAULT_CHUNK_SIZE, overlap: int = DEFAULT_OVERLAP
) -> tuple[list[Row], list[str]]:
    """Chunk rows of every supported file under *docs_dir*, and the files' relative paths."""
    if not docs_dir.is_dir():
        raise SourceError(f"{docs_dir}: no such directory")
    files = sorted(p for p in docs_dir.rglob("*") if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES)
    sources = [p.relative_to(docs_dir).as_posix() for p in files]
    payload = [
        Row(input=chunk.text, source=chunk.source, position=chunk.position)
        for path, source in zip(files, sources, strict=True)
        for chunk in chunk_file(path, source, chunk_size, overlap)
    ]
    if not payload:
        raise SourceError(f"{docs_dir}: no text in any {', '.join(sorted(DOCUMENT_SUFFIXES))} file")
    return payload, sources


def embed_rows(embedder: Embedder, rows: Sequence[Row], progress: Progress | None = None) -> np.ndarray:
    """Vectors of every row's input, embedded in slices so *progress* sees (done, total)."""
    parts = [np.zeros((0, embedder.dim), dtype=np.float32)]
    for start in range(0, len(rows), EMBED_SLICE):
        texts = [row.input for row in rows[start : start + EMBED_SLICE]]
        parts.append(embedder.encode(texts))
        if progress is not None:
            progress(start + len(texts), len(rows))
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


def write_index(
    indexes_dir: Path,
    name: str,
    kind: Kind,
    embedder: Embedder,
    vectors: np.ndarray,
    rows: list[Row],
    sources: list[str],
    ann_threshold: int = DEFAULT_ANN_THRESHOLD,
    exact_threshold: int = EXACT_THRESHOLD,
) -> Manifest:
    """Write a whole new index folder *indexes_dir*/*name* from vectors and their rows."""
    check_name(name)
    stamp = now()
    draft = Manifest(
        name=name,
        kind=kind,
        embedder_id=embedder.model_id,
        dim=embedder.dim,
        rows=len(rows),
        checksum="",
        index_type="flat",
        ann_threshold=ann_threshold,
        exact_threshold=exact_threshold,
        recall_k=0,
        recall=1.0,
        built_at=stamp,
        updated_at=stamp,
    )
    return _publish(indexes_dir / name, draft, build_ann(vectors, ann_threshold, exact_threshold), vectors, rows,
                    sources)


def _publish(
    folder: Path, base: Manifest, ann: faiss.Index, vectors: np.ndarray, rows: list[Row], sources: list[str]
) -> Manifest:
    """Tune and measure *ann* against exact search over *vectors* (its contents), write it, its rows and a
    completed manifest to a fresh folder, and swap that in for *folder*."""
    recall = tune_and_measure(ann, vectors)
    staging = folder.with_name(f".{folder.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    faiss.write_index(ann, str(staging / FAISS_FILE))
    write_rows(staging / ROWS_FILE, rows)
    found = shape(ann)
    manifest = replace(
        base,
        rows=len(rows),
        checksum=checksum(staging),
        index_type=found.index_type,
        sources=sources,
        recall_k=recall.k,
        recall=recall.recall,
        updated_at=now(),
        ivf_nlist=found.nlist,
        ivf_nprobe=found.nprobe,
        hnsw_m=found.hnsw_m,
        hnsw_ef_search=found.hnsw_ef_search,
    )
    write_manifest(staging, manifest)
    _swap(staging, folder)
    return manifest


def _swap(staging: Path, folder: Path) -> None:
    """Put *staging* in *folder*'s place. Readers see the old folder or the new one, never no folder:
    the two are exchanged in one step where the system can (two renames left a moment with no manifest,
    and a search in that moment failed with IndexNotFound)."""
    if folder.exists() and _exchange(staging, folder):
        shutil.rmtree(staging, ignore_errors=True)  # the old folder, now under the staging name
        return
    retired = folder.with_name(f".{folder.name}.retired-{os.getpid()}")
    if folder.exists():
        folder.rename(retired)
    staging.rename(folder)
    shutil.rmtree(retired, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap the paths *a* and *b* atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    exchange = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if exchange is None:
        return False
    at_cwd, rename_exchange = -100, 2
    if exchange(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EXDEV, errno.EOPNOTSUPP):
        return False  # an older kernel or a file system without it: the two renames instead
    raise OSError(code, os.strerror(code), str(a), None, str(b))
