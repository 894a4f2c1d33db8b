"""Between the exact and the IVF thresholds an HNSW graph: efSearch tuned to HNSW_RECALL_TARGET when written,
recorded in the manifest, set again on load; rows added across the exact threshold turn a flat index into a graph."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from retrieval.ann import EXACT_THRESHOLD, HNSW_RECALL_TARGET, kind_for
from retrieval.build import add_rows, write_index
from retrieval.index import VectorIndex
from retrieval.payload import Row
from tests.retrieval.fakes import FakeEmbedder
from tests.retrieval.test_ann import DIM, clustered, recall_at_10


def test_the_size_picks_flat_then_hnsw_then_ivf() -> None:
    assert [kind_for(n, 50_000) for n in (10, EXACT_THRESHOLD, EXACT_THRESHOLD + 1, 50_000, 50_001)] == [
        "flat", "flat", "hnsw", "hnsw", "ivf"]
    assert kind_for(10_000, 50_000, exact_threshold=20_000) == "flat"  # a caller can keep search exact
    assert kind_for(10_000, 5_000, exact_threshold=20_000) == "ivf"


def test_6k_rows_make_a_graph_whose_recall_holds_on_unseen_queries(tmp_path: Path) -> None:
    fake = FakeEmbedder(dim=DIM)
    data = clustered(6_000, seed=11)
    rows = [Row(input=f"row {i}", output=f"label {i % 77}") for i in range(6_000)]
    manifest = write_index(tmp_path, "mid", "examples", fake, data, rows, [])

    assert (manifest.index_type, manifest.exact_threshold, manifest.hnsw_m) == ("hnsw", EXACT_THRESHOLD, 32)
    assert manifest.recall >= HNSW_RECALL_TARGET and manifest.hnsw_ef_search is not None
    index = VectorIndex.load(tmp_path / "mid", fake.model_id, fake.dim)
    assert index._ann.hnsw.efSearch == manifest.hnsw_ef_search  # FAISS files do not keep efSearch
    assert recall_at_10(index, data, clustered(500, seed=12)) >= 0.98
    hit = index.search(data[4_321], k=1)[0]
    assert (hit.id, hit.output) == ("mid:4321", "label 9")
    assert np.allclose(index.vectors([hit])[0], data[4_321])  # stored exactly, readable by row (MMR)


def test_rows_added_past_the_exact_threshold_turn_a_flat_index_into_a_graph(tmp_path: Path) -> None:
    fake = FakeEmbedder(dim=DIM)
    data = clustered(EXACT_THRESHOLD, seed=13)
    first = write_index(tmp_path, "grow", "examples", fake, data, [Row(input=f"row {i}") for i in range(len(data))], [])
    grown = add_rows("grow", [(f"added question {i}", "added") for i in range(100)], fake, tmp_path)
    again = add_rows("grow", [(f"more question {i}", "more") for i in range(100)], fake, tmp_path)

    assert (first.index_type, grown.index_type, again.index_type) == ("flat", "hnsw", "hnsw")
    assert again.rows == EXACT_THRESHOLD + 200 and again.recall >= HNSW_RECALL_TARGET
    index = VectorIndex.load(tmp_path / "grow", fake.model_id, fake.dim)
    assert isinstance(index._ann, faiss.IndexHNSWFlat)
    # bag-of-words fakes can tie ("7" and "60" may share a slot): the hit must be a row with the query's vector
    hit = index.search(fake.vector("more question 7"), k=1)[0]
    assert hit.output == "more" and hit.score > 0.999
    assert np.allclose(index.stored_vectors()[:EXACT_THRESHOLD], data)


def test_a_held_out_row_is_scored_on_its_neighbours_without_itself() -> None:
    from retrieval.ann import _others

    scores = np.array([[1.0, 0.9, 0.8], [0.95, 0.9, 0.7]], dtype=np.float32)
    ids = np.array([[5, 7, 9], [3, 4, 6]])
    # row 5 found itself first: its two neighbours are the rest; row 8 was not found: the last one goes
    assert _others(scores, ids, np.array([5, 8]), 2).tolist() == [[pytest.approx(0.9), pytest.approx(0.8)],
                                                                   [pytest.approx(0.95), pytest.approx(0.9)]]
