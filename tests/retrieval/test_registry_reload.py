"""An index folder swapped by `index add` is loaded again by a registry that already served it."""

from __future__ import annotations

from pathlib import Path

from retrieval.build import add_rows, build_examples_index
from retrieval.registry import IndexRegistry
from tests.retrieval.fakes import FakeEmbedder


def test_get_loads_the_new_version_after_add(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    build_examples_index("faq", [("card lost", "lost_card"), ("top up failed", "top_up")], embedder, tmp_path)
    registry = IndexRegistry(tmp_path, embedder.model_id, embedder.dim)
    before = registry.get("faq")
    stamp = registry.stamp("faq")
    assert registry.get("faq") is before  # unchanged folder: no second load

    add_rows("faq", [("exchange rate wrong", "exchange_rate")], embedder, tmp_path)

    assert registry.stamp("faq") != stamp
    after = registry.get("faq")
    assert after.version != before.version and len(after) == 3
    assert after.search(embedder.vector("exchange rate wrong"), 1)[0].output == "exchange_rate"
    assert len(before) == 2  # requests still holding the old index keep reading it whole


def test_stamp_of_a_missing_index_is_none(tmp_path: Path) -> None:
    assert IndexRegistry(tmp_path, "fake-embedder", 64).stamp("nope") is None
