"""The retrieval step: nearest examples and document chunks for request vectors, and the prompt they make."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from gateway.config.route_sections import IndexUse, RetrievalSettings
from gateway.pipeline.resources import RouteResources
from retrieval.index import VectorIndex
from retrieval.prompt import Context, render_messages, select_context
from retrieval.types import Hit


@dataclass(frozen=True)
class Retrieved:
    examples: list[Hit] = field(default_factory=list)
    documents: list[Hit] = field(default_factory=list)
    example_vectors: np.ndarray | None = None

    def summary(self) -> list[dict[str, Any]]:
        """What the response says was retrieved: ids, scores and kinds."""
        return list(self._summary)

    @cached_property
    def _summary(self) -> tuple[dict[str, Any], ...]:
        # the body, the headers and the log record each read it: made once per request, not three times
        return tuple(
            {"id": hit.id, "score": round(hit.score, 4), "kind": kind}
            for kind, hits in (("document", self.documents), ("example", self.examples))
            for hit in hits
        )


NOTHING = Retrieved()
NO_CONTEXT = Context(documents=[], examples=[])


@dataclass(frozen=True)
class RetrievalJob:
    """One request's retrieval: its route's settings and resources, its vector, its prompt parts."""

    settings: RetrievalSettings
    vector: np.ndarray
    resources: RouteResources
    system_prompt: str
    messages: list[dict[str, Any]]


@dataclass(frozen=True)
class Assembled:
    found: Retrieved
    """Every hit the searches returned: the routing signals read them."""
    kept: Retrieved
    """The hits that made it into the prompt within its token budget."""
    messages: list[dict[str, Any]]


def assemble_many(jobs: Sequence[RetrievalJob]) -> list[Assembled]:
    """Retrieve and assemble each job's prompt; the jobs share one FAISS search per index they read."""
    assembled = []
    for job, found in zip(jobs, search_many(jobs), strict=True):
        messages, kept = prompt_messages(job.system_prompt, job.settings, found, job.messages)
        assembled.append(Assembled(found=found, kept=kept, messages=messages))
    return assembled


def retrieve(settings: RetrievalSettings, vector: np.ndarray | None, resources: RouteResources) -> Retrieved:
    """Search the route's example and document indexes with the request vector."""
    if vector is None:
        return NOTHING
    return search_many([RetrievalJob(settings, vector, resources, "", [])])[0]


_Search = tuple[int, int, float]
"""(id of the loaded index, k, min_score): searches sharing these run as one FAISS call."""


def search_many(jobs: Sequence[RetrievalJob]) -> list[Retrieved]:
    """Each job's examples and documents, searched with one call per distinct (index, k, min_score)."""
    groups: dict[_Search, list[tuple[int, str]]] = {}
    indexes: dict[_Search, VectorIndex] = {}
    for number, job in enumerate(jobs):
        for kind, use in (("examples", job.settings.examples), ("documents", job.settings.documents)):
            if use is not None:
                index = job.resources.index(use.index)
                key = (id(index), _candidates(use), use.min_score)
                indexes[key] = index
                groups.setdefault(key, []).append((number, kind))
    found: list[dict[str, list[Hit]]] = [{"examples": [], "documents": []} for _ in jobs]
    for key, members in groups.items():
        queries = np.stack([jobs[number].vector for number, _ in members])
        for (number, kind), hits in zip(members, indexes[key].search_many(queries, key[1], key[2]), strict=True):
            found[number][kind] = hits
    return [_retrieved(job, hits) for job, hits in zip(jobs, found, strict=True)]


def _candidates(use: IndexUse) -> int:
    """How many rows to fetch: MMR chooses its k among more candidates."""
    return use.candidates if use.mmr_lambda is not None and use.candidates else use.k


def _retrieved(job: RetrievalJob, hits: dict[str, list[Hit]]) -> Retrieved:
    use = job.settings.examples
    mmr = use is not None and use.mmr_lambda is not None
    vectors = job.resources.index(use.index).vectors(hits["examples"]) if use is not None and mmr else None
    return Retrieved(examples=hits["examples"], documents=hits["documents"], example_vectors=vectors)


def prompt_messages(
    system_prompt: str, settings: RetrievalSettings, found: Retrieved, messages: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], Retrieved]:
    """The upstream messages (route prompt, cited documents, few-shot examples, the client's turns)
    and the retrieved items that made it into them within the token budget."""
    if not (found.documents or found.examples):
        # nothing to choose from (a route that retrieves nothing): the prompt is the route's and the client's
        return render_messages(system_prompt, NO_CONTEXT, messages), NOTHING
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
