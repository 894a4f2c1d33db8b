"""The retrieval step: nearest examples and document chunks for one request vector."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gateway.config.route_sections import IndexUse, RetrievalSettings
from gateway.pipeline.resources import RouteResources
from retrieval.prompt import render_messages, select_context
from retrieval.types import Hit


@dataclass(frozen=True)
class Retrieved:
    examples: list[Hit] = field(default_factory=list)
    documents: list[Hit] = field(default_factory=list)
    example_vectors: np.ndarray | None = None

    def summary(self) -> list[dict[str, Any]]:
        """What the response says was retrieved: ids, scores and kinds."""
        return [
            {"id": hit.id, "score": round(hit.score, 4), "kind": kind}
            for kind, hits in (("document", self.documents), ("example", self.examples))
            for hit in hits
        ]


NOTHING = Retrieved()


def retrieve(settings: RetrievalSettings, vector: np.ndarray | None, resources: RouteResources) -> Retrieved:
    """Search the route's example and document indexes with the request vector."""
    if vector is None:
        return NOTHING
    examples, example_vectors = _search(settings.examples, vector, resources, with_vectors=True)
    documents, _ = _search(settings.documents, vector, resources, with_vectors=False)
    return Retrieved(examples=examples, documents=documents, example_vectors=example_vectors)


def _search(
    use: IndexUse | None, vector: np.ndarray, resources: RouteResources, *, with_vectors: bool
) -> tuple[list[Hit], np.ndarray | None]:
    if use is None:
        return [], None
    index = resources.index(use.index)
    k = use.candidates if use.mmr_lambda is not None and use.candidates else use.k
    hits = index.search(vector, k, use.min_score)
    vectors = index.vectors(hits) if with_vectors and use.mmr_lambda is not None else None
    return hits, vectors


def prompt_messages(
    system_prompt: str, settings: RetrievalSettings, found: Retrieved, messages: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], Retrieved]:
    """The upstream messages (route prompt, cited documents, few-shot examples, the client's turns)
    and the retrieved items that made it into them within the token budget."""
    use = settings.examples
    context = select_context(
        found.documents,
        found.examples,
        max_context_tokens=settings.max_context_tokens,
        mmr_lambda=use.mmr_lambda if use else None,
        example_vectors=found.example_vectors,
        max_examples=use.k if use else None,
    )
    kept = Retrieved(examples=context.examples, documents=context.documents)
    return render_messages(system_prompt, context, messages), kept
