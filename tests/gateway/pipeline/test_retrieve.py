"""The batched retrieval step: one FAISS call per index for a batch of requests, the same hits as one by one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gateway.config.route_sections import IndexUse, RetrievalSettings
from gateway.pipeline.resources import RouteResources
from gateway.pipeline.retrieve import NOTHING, RetrievalJob, Retrieved, assemble_many, prompt_messages, retrieve
from retrieval.build import build_examples_index
from retrieval.index import VectorIndex
from retrieval.prompt import render_messages, select_context
from retrieval.types import Hit
from tests.retrieval.fakes import FakeEmbedder

ROWS = [
    ("my card has not arrived", "card_arrival"),
    ("where is my new card", "card_arrival"),
    ("what is the exchange rate", "exchange_rate"),
    ("my top up failed", "top_up_failed"),
    ("close my account please", "terminate_account"),
    ("I lost my card", "lost_or_stolen_card"),
]
QUESTIONS = ["has my card arrived yet", "exchange rate for euros", "top up did not work", "I want to close it"]


class CountingIndex:
    """A loaded index that counts its search calls and the queries in each."""

    def __init__(self, inner: VectorIndex) -> None:
        self.inner = inner
        self.calls: list[int] = []

    def search_many(self, vectors: np.ndarray, k: int, min_score: float = -1.0) -> list[list[Hit]]:
        self.calls.append(len(vectors))
        return self.inner.search_many(vectors, k, min_score)

    def vectors(self, hits: list[Hit]) -> np.ndarray:
        return self.inner.vectors(hits)


@pytest.fixture
def index(tmp_path: Path) -> CountingIndex:
    embedder = FakeEmbedder()
    build_examples_index("examples", ROWS, embedder, tmp_path)
    return CountingIndex(VectorIndex.load(tmp_path / "examples", embedder.model_id, embedder.dim))


def jobs(index: CountingIndex, settings: RetrievalSettings) -> list[RetrievalJob]:
    resources = RouteResources(indexes={"examples": index})  # type: ignore[dict-item]
    embedder = FakeEmbedder()
    return [RetrievalJob(settings, embedder.vector(q), resources, "Classify.", [{"role": "user", "content": q}])
            for q in QUESTIONS]


def test_a_batch_of_requests_searches_each_index_once(index: CountingIndex) -> None:
    settings = RetrievalSettings(examples=IndexUse(index="examples", k=2, min_score=-1))
    batch = jobs(index, settings)
    assembled = assemble_many(batch)
    assert index.calls == [len(QUESTIONS)]
    one_by_one = [retrieve(job.settings, job.vector, job.resources) for job in batch]
    assert [a.found.examples for a in assembled] == [r.examples for r in one_by_one]
    assert index.calls == [len(QUESTIONS), 1, 1, 1, 1]
    first = assembled[0]
    assert first.messages[0] == {"role": "system", "content": "Classify."}
    assert first.messages[-1] == {"role": "user", "content": QUESTIONS[0]}
    assert [m["content"] for m in first.messages[1:-1:2]] == [hit.text for hit in first.kept.examples]


def test_different_k_on_one_index_are_separate_searches(index: CountingIndex) -> None:
    few = jobs(index, RetrievalSettings(examples=IndexUse(index="examples", k=1, min_score=-1)))[:2]
    many = jobs(index, RetrievalSettings(examples=IndexUse(index="examples", k=3, min_score=-1)))[2:]
    assembled = assemble_many([*few, *many])
    assert sorted(index.calls) == [2, 2]
    assert [len(a.found.examples) for a in assembled] == [1, 1, 3, 3]


def test_mmr_routes_get_their_candidates_vectors(index: CountingIndex) -> None:
    settings = RetrievalSettings(examples=IndexUse(index="examples", k=2, min_score=-1, mmr_lambda=0.5, candidates=4))
    found = assemble_many(jobs(index, settings)[:1])[0]
    assert len(found.found.examples) == 4 and found.found.example_vectors is not None
    assert found.found.example_vectors.shape == (4, FakeEmbedder().dim)
    assert len(found.kept.examples) == 2


async def test_the_retrieval_thread_searches_on_one_openmp_thread() -> None:
    """OpenMP settings are per thread; with every core a one-query search spins on all of them."""
    import faiss

    from gateway.pipeline.prepare import retrieval_worker

    worker = retrieval_worker()
    worker.run = lambda items: [faiss.omp_get_max_threads() for _ in items]
    try:
        assert await worker.submit(None) == 1  # type: ignore[arg-type]
    finally:
        await worker.aclose()


@pytest.mark.parametrize("system_prompt", ["", "Answer with the label only."])
def test_a_prompt_with_nothing_retrieved_is_the_routes_and_the_clients(system_prompt: str) -> None:
    messages = [{"role": "system", "content": "be brief"}, {"role": "developer", "content": "in English"},
                {"role": "user", "content": "hi"}]
    settings = RetrievalSettings(examples=IndexUse(index="ex", k=2))

    assembled, kept = prompt_messages(system_prompt, settings, NOTHING, messages)

    assert assembled == render_messages(system_prompt, select_context([], []), messages)
    joined = "\n\n".join(part for part in (system_prompt, "be brief", "in English") if part)
    assert assembled == [{"role": "system", "content": joined}, {"role": "user", "content": "hi"}]
    assert kept.summary() == []


def test_summary_is_made_once_and_handed_out_as_a_fresh_list() -> None:
    found = Retrieved(examples=[Hit(index="ex", id="ex:1", score=0.912345, text="t", output="o")],
                      documents=[Hit(index="docs", id="docs:3", score=0.5, text="d")])

    first, second = found.summary(), found.summary()

    assert first == [{"id": "docs:3", "score": 0.5, "kind": "document"},
                     {"id": "ex:1", "score": 0.9123, "kind": "example"}]
    assert second == first and second is not first
    first.clear()
    assert found.summary() == second
