"""IVF above the size threshold: nprobe tuned when written, recorded in the manifest, set again on load,
and recall@10 against exact search on queries the tuning never saw."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest

from retrieval.ann import RECALL_K, build_ivf, ivf_lists
from retrieval.build import add_rows, write_index
from retrieval.index import VectorIndex
from retrieval.manifest import FAISS_FILE, MANIFEST_FILE, checksum, read_manifest
from retrieval.payload import Row
from tests.retrieval.fakes import FakeEmbedder

DIM = 64
ROWS = 20_000


def clustered(n: int, seed: int, centres: int = 400) -> np.ndarray:
    """Unit vectors around a few hundred topics, as sentence embeddings are (uniform noise would be no test)."""
    topics = np.random.default_rng(7).standard_normal((centres, DIM)).astype(np.float32)
    rng = np.random.default_rng(seed)
    points = topics[rng.integers(0, centres, n)] + 0.6 * rng.standard_normal((n, DIM)).astype(np.float32)
    return np.ascontiguousarray(points / np.linalg.norm(points, axis=1, keepdims=True), dtype=np.float32)


def recall_at_10(index: VectorIndex, data: np.ndarray, queries: np.ndarray) -> float:
    _, exact = faiss.knn(queries, data, RECALL_K, metric=faiss.METRIC_INNER_PRODUCT)
    found = index.search_many(queries, RECALL_K)
    hits = [{int(h.id.split(":")[1]) for h in row} for row in found]
    return sum(len(h & set(e)) for h, e in zip(hits, exact.tolist(), strict=True)) / exact.size


def test_20k_rows_make_an_ivf_index_with_recall_against_exact_search(tmp_path: Path) -> None:
    fake = FakeEmbedder(dim=DIM)
    data = clustered(ROWS, seed=1)
    rows = [Row(input=f"row {i}", output=f"label {i % 77}") for i in range(ROWS)]
    manifest = write_index(tmp_path, "big", "examples", fake, data, rows, [], ann_threshold=10_000)

    assert manifest.index_type == "ivf" and manifest.ivf_nlist == ivf_lists(ROWS) == 512
    assert manifest.ivf_nprobe is not None and manifest.ivf_nprobe < manifest.ivf_nlist  # approximate, not a full scan
    assert manifest.recall_k == 10 and manifest.recall >= 0.95
    index = VectorIndex.load(tmp_path / "big", fake.model_id, fake.dim)
    assert faiss.extract_index_ivf(index._ann).nprobe == manifest.ivf_nprobe  # FAISS files do not keep nprobe
    assert recall_at_10(index, data, clustered(500, seed=2)) >= 0.95
    hit = index.search(data[12_345], k=1)[0]
    assert (hit.id, hit.output) == ("big:12345", "label 25")
    assert np.allclose(index.vectors([hit])[0], data[12_345])  # stored exactly, readable by row (MMR)


def test_rows_added_to_an_ivf_index_are_found_and_nprobe_is_tuned_again(tmp_path: Path) -> None:
    fake = FakeEmbedder(dim=DIM)
    data = clustered(5_000, seed=3)
    write_index(tmp_path, "big", "examples", fake, data, [Row(input=f"row {i}") for i in range(5_000)], [],
                ann_threshold=1_000)
    grown = add_rows("big", [(f"added question {i}", "added") for i in range(300)], fake, tmp_path)

    assert (grown.index_type, grown.rows, grown.ivf_nlist) == ("ivf", 5_300, ivf_lists(5_000))
    assert grown.recall >= 0.95 and grown.ivf_nprobe is not None
    index = VectorIndex.load(tmp_path / "big", fake.model_id, fake.dim)
    assert index.search(fake.vector("added question 17"), k=1)[0].id == "big:5017"
    assert np.allclose(index.stored_vectors()[:5_000], data)


def test_an_index_written_before_ivf_still_loads(tmp_path: Path) -> None:
    """A manifest naming hnsw_threshold and an HNSW graph, as indexes built before IVF have them."""
    fake = FakeEmbedder(dim=DIM)
    data = clustered(2_000, seed=4)
    write_index(tmp_path, "old", "examples", fake, data, [Row(input=f"row {i}") for i in range(2_000)], [],
                ann_threshold=1_000)
    folder = tmp_path / "old"
    hnsw = faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT)
    hnsw.add(data)
    faiss.write_index(hnsw, str(folder / FAISS_FILE))
    fields = json.loads((folder / MANIFEST_FILE).read_text())
    for key in ("ann_threshold", "ivf_nlist", "ivf_nprobe"):
        fields.pop(key)
    fields.update(hnsw_threshold=1_000, index_type="hnsw", hnsw_m=16, hnsw_ef_search=64, checksum=checksum(folder))
    (folder / MANIFEST_FILE).write_text(json.dumps(fields))

    assert read_manifest(folder).ann_threshold == 1_000
    index = VectorIndex.load(folder, fake.model_id, fake.dim)
    assert index._ann.hnsw.efSearch == 64
    assert index.search(data[77], k=1)[0].id == "old:77"


def test_ivf_lists_grow_with_the_rows_and_keep_enough_to_train_on() -> None:
    assert [ivf_lists(n) for n in (10, 1_000, 20_000, 50_001, 1_000_000)] == [1, 25, 512, 1024, 4096]
    small = build_ivf(clustered(100, seed=5))
    assert small.nlist == 2 and small.ntotal == 100


def test_searches_keep_answering_while_rows_are_added(tmp_path: Path) -> None:
    """A reader searching in a loop (as the gateway does) while `add_rows` grows the IVF index and swaps its folder:
    every search answers, from the old version until the new one is picked up, then from the new one."""
    import threading

    from retrieval.registry import IndexRegistry

    fake = FakeEmbedder(dim=DIM)
    data = clustered(5_000, seed=6)
    write_index(tmp_path, "big", "examples", fake, data, [Row(input=f"row {i}") for i in range(5_000)], [],
                ann_threshold=1_000)
    registry = IndexRegistry(tmp_path, fake.model_id, fake.dim)
    probe = fake.vector("added question 499")
    answers: list[int] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                answers.append(len(registry.get("big").search(probe, k=1)))
            except BaseException as exc:  # any failure is the finding
                failures.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        grown = add_rows("big", [(f"added question {i}", "added") for i in range(500)], fake, tmp_path)
        while len(answers) < 20:
            stop.wait(0.01)
    finally:
        stop.set()
        thread.join(30)
    assert not failures, failures[:3]
    assert answers and all(n == 1 for n in answers)
    assert registry.get("big").version == grown.version
    hit = registry.get("big").search(probe, k=1)[0]
    assert int(hit.id.split(":")[1]) >= 5_000 and hit.score > 0.99  # an added row (the fake embedder's words collide)


def test_a_served_index_reads_its_rows_lazily_and_equal_to_the_file(tmp_path: Path) -> None:
    from retrieval.errors import IndexCorrupt
    from retrieval.payload import RowFile, read_rows, write_rows

    rows = [Row(input=f"question {i} é", output=None if i % 3 else f"label {i}", source="s", position=i)
            for i in range(1_000)]
    path = tmp_path / "rows.jsonl"
    write_rows(path, rows)
    lazy = RowFile.read(path)
    assert len(lazy) == 1_000 and lazy[0] == rows[0] and lazy[-1] == rows[-1] and lazy[10:13] == rows[10:13]
    assert list(lazy) == read_rows(path) == rows
    path.write_bytes(path.read_bytes().replace(b'{"input": "question 7 ', b'{"inptu": "question 7 '))
    with pytest.raises(IndexCorrupt, match=r"rows\.jsonl:8: bad payload row"):
        RowFile.read(path)[7]
    path.write_bytes(path.read_bytes().replace(b'{"input": "question 9 ', b'{"input": question 9 '))
    with pytest.raises(IndexCorrupt, match=r"rows\.jsonl:10: bad payload row"):
        RowFile.read(path)[9]
    with pytest.raises(IndexCorrupt, match=r"rows\.jsonl:8: bad payload row"):
        read_rows(path)


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two renames"])
def test_a_swap_replaces_the_folder_whole_and_leaves_no_staging_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool
) -> None:
    from retrieval import build

    if not exchange:  # a kernel or file system without RENAME_EXCHANGE
        monkeypatch.setattr(build, "_exchange", lambda a, b: False)
    folder, staging = tmp_path / "big", tmp_path / ".big.staging-1"
    folder.mkdir()
    (folder / "old").write_text("old")
    staging.mkdir()
    (staging / "new").write_text("new")
    build._swap(staging, folder)
    assert [p.name for p in folder.iterdir()] == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["big"]


def test_an_exchange_swaps_two_folders_in_one_step(tmp_path: Path) -> None:
    from retrieval.build import _exchange

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "from-a").touch()
    if not _exchange(a, b):
        pytest.skip("this kernel or file system has no RENAME_EXCHANGE")
    assert [p.name for p in b.iterdir()] == ["from-a"] and not list(a.iterdir())
