"""Index build, load, search, growth and refusal, on a fake embedder (fast) and the real one (round trip)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from retrieval.build import add_rows, build_documents_index, build_examples_index
from retrieval.embedder import SentenceEmbedder
from retrieval.errors import IndexCorrupt, IndexMismatch, IndexNotFound, SourceError
from retrieval.index import VectorIndex
from retrieval.registry import IndexRegistry
from tests.retrieval.fakes import FakeEmbedder

PAIRS = [
    ("my card has not arrived yet", "card_arrival"),
    ("how do I top up with a bank transfer", "top_up_by_bank_transfer"),
    ("what exchange rate do you use", "exchange_rate"),
    ("I lost my card on the train", "lost_or_stolen_card"),
    ("my pin is blocked after three tries", "pin_blocked"),
]


def load(indexes: Path, name: str, embedder: FakeEmbedder | SentenceEmbedder) -> VectorIndex:
    return VectorIndex.load(indexes / name, embedder.model_id, embedder.dim)


def test_build_load_search_round_trip(tmp_path: Path) -> None:
    fake = FakeEmbedder()
    manifest = build_examples_index("pairs", PAIRS, fake, tmp_path)
    index = load(tmp_path, "pairs", fake)
    assert (manifest.name, manifest.kind, manifest.rows, manifest.index_type) == ("pairs", "examples", 5, "flat")
    assert (manifest.embedder_id, manifest.dim, manifest.sources) == ("fake-embedder", fake.dim, ["inline"])
    assert index.version == manifest.checksum[:12] and len(index) == 5
    hits = index.search(fake.vector("I lost my card on the train"), k=3)
    assert hits[0].id == "pairs:3" and hits[0].output == "lost_or_stolen_card"
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len(index.search(fake.vector("zzz qqq"), k=10)) == 5


def test_min_score_and_search_many(tmp_path: Path) -> None:
    fake = FakeEmbedder()
    build_examples_index("pairs", PAIRS, fake, tmp_path)
    index = load(tmp_path, "pairs", fake)
    queries = fake.encode(["what exchange rate do you use", "my card has not arrived yet"])
    results = index.search_many(queries, k=5, min_score=0.99)
    assert [[h.output for h in hits] for hits in results] == [["exchange_rate"], ["card_arrival"]]
    np.testing.assert_allclose(index.vectors(results[0]), queries[:1], atol=1e-6)


def test_csv_examples_record_source_and_row(tmp_path: Path) -> None:
    csv_path = tmp_path / "train.csv"
    csv_path.write_text("text,category,extra\nhello there,greeting,x\n ,blank,x\nsend money,transfer,y\n")
    fake = FakeEmbedder()
    manifest = build_examples_index("csv", csv_path, fake, tmp_path / "ix")
    index = load(tmp_path / "ix", "csv", fake)
    hit = index.search(fake.vector("send money"), k=1)[0]
    assert (manifest.rows, manifest.sources) == (2, ["train.csv"])
    assert (hit.source, hit.position, hit.output) == ("train.csv", 2, "transfer")


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), ("text,label\na,b\n", "no column category"), ("text,category\n", "no data rows")],
)
def test_bad_csv_inputs_are_refused(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "in.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SourceError, match=message):
        build_examples_index("bad", path, FakeEmbedder(), tmp_path / "ix")
    assert not (tmp_path / "ix" / "bad").exists()


def test_a_bad_index_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="index name"):
        build_examples_index("../escape", PAIRS, FakeEmbedder(), tmp_path)


def test_another_embedder_or_dimension_is_refused_naming_both(tmp_path: Path) -> None:
    build_examples_index("pairs", PAIRS, FakeEmbedder(), tmp_path)
    with pytest.raises(IndexMismatch, match=r"'fake-embedder'.*'other-model'"):
        VectorIndex.load(tmp_path / "pairs", "other-model", 64)
    with pytest.raises(IndexMismatch, match=r"dim 64.*dim 384"):
        VectorIndex.load(tmp_path / "pairs", "fake-embedder", 384)
    with pytest.raises(IndexMismatch):
        add_rows("pairs", PAIRS, FakeEmbedder(model_id="other-model"), tmp_path)


def test_tampered_or_missing_artifacts_are_reported(tmp_path: Path) -> None:
    fake = FakeEmbedder()
    build_examples_index("pairs", PAIRS, fake, tmp_path)
    folder = tmp_path / "pairs"
    with (folder / "rows.jsonl").open("a") as handle:
        handle.write(json.dumps({"input": "sneaked in"}) + "\n")
    with pytest.raises(IndexCorrupt, match="checksum"):
        load(tmp_path, "pairs", fake)
    (folder / "index.faiss").unlink()
    with pytest.raises(IndexCorrupt, match=r"missing index\.faiss"):
        load(tmp_path, "pairs", fake)
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(IndexCorrupt, match="unreadable"):
        load(tmp_path, "pairs", fake)


def test_registry_loads_once_and_names_what_exists(tmp_path: Path) -> None:
    fake = FakeEmbedder()
    build_examples_index("pairs", PAIRS, fake, tmp_path)
    (tmp_path / ".pairs.staging-1").mkdir()
    registry = IndexRegistry(tmp_path, fake.model_id, fake.dim)
    assert registry.names() == ["pairs"]
    assert registry.get("pairs") is registry.get("pairs")
    with pytest.raises(IndexNotFound, match=r"index 'nope' not found .*\(built: pairs\)") as caught:
        registry.get("nope")
    assert isinstance(caught.value, KeyError)
    assert str(caught.value).startswith("index 'nope'")


def test_add_rows_appends_without_reembedding_old_rows(tmp_path: Path) -> None:
    fake = FakeEmbedder()
    before = build_examples_index("pairs", PAIRS, fake, tmp_path)
    fake.calls.clear()
    after = add_rows("pairs", [("can I get a virtual card", "get_disposable_virtual_card")], fake, tmp_path)
    assert fake.calls == [["can I get a virtual card"]]
    assert after.rows == 6 and after.version != before.version and after.built_at == before.built_at
    index = load(tmp_path, "pairs", fake)
    assert index.search(fake.vector("can I get a virtual card"), k=1)[0].id == "pairs:5"
    assert index.search(fake.vector("what exchange rate do you use"), k=1)[0].id == "pairs:2"


def test_add_rows_past_the_threshold_switches_to_ivf(tmp_path: Path) -> None:
    fake = FakeEmbedder()
    build_examples_index("pairs", PAIRS, fake, tmp_path, ann_threshold=6)
    grown = add_rows("pairs", [(f"extra question {i}", "extra") for i in range(5)], fake, tmp_path)
    assert (grown.index_type, grown.rows, grown.ivf_nlist) == ("ivf", 10, 1)
    assert load(tmp_path, "pairs", fake).search(fake.vector("I lost my card on the train"), k=1)[0].id == "pairs:3"


def test_documents_index_keeps_source_and_position(tmp_path: Path, docs_dir: Path) -> None:
    fake = FakeEmbedder()
    manifest = build_documents_index("docs", docs_dir, fake, tmp_path, chunk_size=400, overlap=50)
    assert manifest.kind == "documents"
    assert set(manifest.sources) == {p.name for p in docs_dir.iterdir()}
    index = load(tmp_path, "docs", fake)
    hits = index.search(fake.vector("PIN blocked after three wrong attempts unblock ATM"), k=3)
    assert hits[0].source == "pin-and-security.md" and hits[0].output is None
    assert isinstance(hits[0].position, int)


def test_real_embedder_round_trip(tmp_path: Path, embedder: SentenceEmbedder, docs_dir: Path) -> None:
    build_examples_index("pairs", PAIRS, embedder, tmp_path)
    build_documents_index("docs", docs_dir, embedder, tmp_path)
    registry = IndexRegistry(tmp_path, embedder.model_id, embedder.dim)
    [query] = embedder.encode(["I still haven't received my new card, where is it?"])
    assert registry.get("pairs").search(query, k=1)[0].output == "card_arrival"
    [query] = embedder.encode(["someone stole my wallet with my debit card in it"])
    assert registry.get("docs").search(query, k=1)[0].source == "lost-or-stolen-card.md"


def test_rows_cannot_be_added_to_a_documents_index(tmp_path: Path, docs_dir: Path) -> None:
    fake = FakeEmbedder()
    build_documents_index("docs", docs_dir, fake, tmp_path)
    with pytest.raises(SourceError, match="holds documents"):
        add_rows("docs", PAIRS, fake, tmp_path)
