"""Prompt assembly: the route's system prompt, cited document context, few-shot turns, then the user.

    system:     route prompt, the client's own system text, then the documents as [id] blocks
    user/assistant pairs: the examples, least similar first so the nearest sits beside the question
    the client's remaining messages, unchanged

Retrieved items compete for one token budget; the lowest-scoring go first, whichever kind
they are. Examples may be chosen for diversity with maximal marginal relevance (MMR).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from retrieval.types import Hit

Message = dict[str, Any]
CONTEXT_HEADER = "Context documents. Cite the ones you use by their [id]."
# Role markers and separators cost a few tokens per message beyond the text itself.
MESSAGE_OVERHEAD_TOKENS = 4


@dataclass(frozen=True)
class Context:
    """The retrieved items that made it into the prompt, in the order they appear."""

    documents: list[Hit]
    examples: list[Hit]


def select_context(
    documents: list[Hit],
    examples: list[Hit],
    max_context_tokens: int | None = None,
    mmr_lambda: float | None = None,
    example_vectors: np.ndarray | None = None,
    max_examples: int | None = None,
) -> Context:
    """Pick examples (by MMR when asked), then drop the lowest-scoring items beyond the budget."""
    limit = len(examples) if max_examples is None else max_examples
    if mmr_lambda is not None and example_vectors is not None:
        chosen = mmr_select(examples, example_vectors, mmr_lambda, limit)
    else:
        chosen = sorted(examples, key=lambda hit: hit.score, reverse=True)[:limit]
    costed = [(hit, document_tokens(hit)) for hit in documents] + [(hit, example_tokens(hit)) for hit in chosen]
    kept = fit_budget(costed, max_context_tokens)
    return Context(
        documents=[hit for hit in documents if hit.id in kept],
        examples=sorted((hit for hit in chosen if hit.id in kept), key=lambda hit: hit.score),
    )


def render_messages(system_prompt: str, context: Context, messages: list[Message]) -> list[Message]:
    """The final message list for an already selected context."""
    client_system, rest = _split_leading_system(messages)
    parts = [system_prompt.strip(), *client_system]
    if context.documents:
        parts.append("\n\n".join([CONTEXT_HEADER, *(document_block(hit) for hit in context.documents)]))
    system = "\n\n".join(part for part in parts if part)
    turns: list[Message] = [{"role": "system", "content": system}] if system else []
    for hit in context.examples:
        turns.append({"role": "user", "content": hit.text})
        turns.append({"role": "assistant", "content": hit.output or ""})
    return turns + rest


def document_block(hit: Hit) -> str:
    """One document chunk as the model sees it: its id, where it came from, its text."""
    where = f" ({hit.source}, part {hit.position})" if hit.source is not None else ""
    return f"[{hit.id}]{where}\n{hit.text}"


def mmr_select(hits: Sequence[Hit], vectors: np.ndarray, mmr_lambda: float, limit: int) -> list[Hit]:
    """Up to *limit* hits, each maximising lambda*relevance - (1-lambda)*similarity to those already taken."""
    if len(hits) != len(vectors):
        raise ValueError(f"MMR needs one vector per hit ({len(hits)} hits, {len(vectors)} vectors)")
    similarity = vectors @ vectors.T
    chosen: list[int] = []
    remaining = list(range(len(hits)))
    while remaining and len(chosen) < limit:
        best = max(remaining, key=lambda i: _mmr_score(i, hits, similarity, chosen, mmr_lambda))
        chosen.append(best)
        remaining.remove(best)
    return [hits[i] for i in chosen]


def fit_budget(costed: list[tuple[Hit, int]], max_tokens: int | None) -> set[str]:
    """Ids of the best-scoring hits whose (hit, cost) pairs fit in *max_tokens* together.

    Items go lowest score first, so nothing kept ever scores below something dropped.
    """
    ranked = sorted(costed, key=lambda pair: pair[0].score, reverse=True)
    if max_tokens is not None:
        used = 0
        for count, (_, cost) in enumerate(ranked):
            used += cost
            if used > max_tokens:
                ranked = ranked[:count]
                break
    return {hit.id for hit, _ in ranked}


def document_tokens(hit: Hit) -> int:
    """Approximate prompt tokens of a document block and its separator."""
    return approx_tokens(document_block(hit)) + 1


def example_tokens(hit: Hit) -> int:
    """Approximate prompt tokens of an example's user/assistant pair."""
    return approx_tokens(hit.text) + approx_tokens(hit.output or "") + 2 * MESSAGE_OVERHEAD_TOKENS


def approx_tokens(text: str) -> int:
    """About four characters per token for English under common BPE vocabularies."""
    return math.ceil(len(text) / 4)


def _mmr_score(i: int, hits: Sequence[Hit], similarity: np.ndarray, chosen: list[int], mmr_lambda: float) -> float:
    redundancy = max((float(similarity[i, j]) for j in chosen), default=0.0)
    return mmr_lambda * hits[i].score - (1 - mmr_lambda) * redundancy


def _split_leading_system(messages: list[Message]) -> tuple[list[str], list[Message]]:
    """The text of the client's leading system messages, and the messages after them."""
    texts: list[str] = []
    start = 0
    while start < len(messages) and messages[start].get("role") in ("system", "developer"):
        texts.append(_text(messages[start].get("content")).strip())
        start += 1
    return [text for text in texts if text], messages[start:]


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return "" if content is None else str(content)
