"""Prompt assembly: message order, merged system text, token budget, MMR."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.prompt import approx_tokens, example_tokens, mmr_select, render_messages, select_context
from retrieval.types import Hit


def doc(n: int, score: float, text: str = "Cards arrive in 3 to 5 days.") -> Hit:
    return Hit(index="docs", id=f"docs:{n}", score=score, text=text, source="card.md", position=n)


def example(n: int, score: float, text: str | None = None, label: str = "card_arrival") -> Hit:
    return Hit(index="ex", id=f"ex:{n}", score=score, text=text or f"question {n}", output=label, position=n)


USER = [{"role": "user", "content": "Where is my card?"}]


def test_layout_system_then_context_then_examples_then_user() -> None:
    context = select_context([doc(0, 0.8), doc(4, 0.6)], [example(1, 0.9), example(2, 0.7, label="lost")])
    messages = render_messages("Classify the intent.", context, USER)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    system = messages[0]["content"]
    assert system.startswith("Classify the intent.\n\nContext documents.")
    assert "[docs:0] (card.md, part 0)\nCards arrive" in system
    assert system.index("[docs:0]") < system.index("[docs:4]")
    # least similar example first, so the nearest sits right before the question
    assert [m["content"] for m in messages[1:5]] == ["question 2", "lost", "question 1", "card_arrival"]
    assert messages[-1] == USER[0]


def test_client_system_text_is_merged_after_the_route_prompt() -> None:
    client = [
        {"role": "system", "content": [{"type": "text", "text": "Answer in French."}]},
        *USER,
        {"role": "system", "content": "a later system turn stays where it is"},
    ]
    messages = render_messages("Route prompt.", select_context([doc(0, 0.5)], []), client)
    system = messages[0]["content"]
    assert system.index("Route prompt.") < system.index("Answer in French.") < system.index("[docs:0]")
    assert messages[1:] == client[1:]


def test_no_system_message_without_prompt_or_context() -> None:
    assert render_messages("", select_context([], []), USER) == USER


def test_budget_drops_the_lowest_scores_first_across_kinds() -> None:
    documents = [doc(0, 0.9, "a" * 400), doc(1, 0.3, "b" * 400)]
    examples = [example(2, 0.8, "c" * 400), example(3, 0.5, "d" * 400)]
    costs = [approx_tokens("[docs:0] (card.md, part 0)\n" + "a" * 400) + 1, example_tokens(examples[0])]
    context = select_context(documents, examples, max_context_tokens=sum(costs) + 10)
    assert [h.id for h in context.documents] == ["docs:0"]
    assert [h.id for h in context.examples] == ["ex:2"]
    unlimited = select_context(documents, examples)
    assert len(unlimited.documents) + len(unlimited.examples) == 4
    assert select_context(documents, examples, max_context_tokens=5) == select_context([], [])


def test_nothing_kept_scores_below_something_dropped() -> None:
    hits = [example(0, 0.9, "x" * 2000), example(1, 0.8, "short")]
    context = select_context([], hits, max_context_tokens=100)
    assert context.examples == []


def test_mmr_prefers_a_diverse_example_over_a_near_duplicate() -> None:
    hits = [example(0, 0.95), example(1, 0.94), example(2, 0.80)]
    vectors = np.array([[1.0, 0.0], [0.999, 0.045], [0.0, 1.0]], dtype=np.float32)
    assert [h.id for h in mmr_select(hits, vectors, mmr_lambda=0.5, limit=2)] == ["ex:0", "ex:2"]
    assert [h.id for h in mmr_select(hits, vectors, mmr_lambda=1.0, limit=2)] == ["ex:0", "ex:1"]
    context = select_context([], hits, mmr_lambda=0.5, example_vectors=vectors, max_examples=2)
    assert [h.id for h in context.examples] == ["ex:2", "ex:0"]


def test_max_examples_keeps_the_best_without_mmr() -> None:
    context = select_context([], [example(0, 0.2), example(1, 0.9), example(2, 0.5)], max_examples=2)
    assert [h.id for h in context.examples] == ["ex:2", "ex:1"]


def test_mmr_needs_one_vector_per_hit() -> None:
    with pytest.raises(ValueError, match="one vector per hit"):
        mmr_select([example(0, 0.9)], np.zeros((2, 2), dtype=np.float32), 0.5, 1)
