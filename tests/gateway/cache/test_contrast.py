"""The contrast guard: what makes two near-identical questions ask different things."""

from __future__ import annotations

import pytest

from gateway.cache.contrast import differs, signature


@pytest.mark.parametrize(("a", "b", "reason"), [
    ("Why was my card declined?", "Why wasn't my card declined?", "negation"),
    ("I can't top up", "I can top up", "negation"),
    ("My transfer did not arrive", "My transfer did arrive", "negation"),
    ("I sent 20 pounds to my friend", "I sent 30 pounds to my friend", "number"),
    ("Can I have two cards?", "Can I have three cards?", "number"),
    ("Can I use Apple Pay?", "Can I use Google Pay?", "entity"),
    ("Can I pay in EUR?", "Can I pay in USD?", "entity"),
    ("How do I increase my limit?", "How do I decrease my limit?", "antonym"),
    ("I sent money to my sister", "I received money from my sister", "antonym"),
    ("How do I freeze my card?", "How do I unfreeze my card?", "antonym"),
])
def test_differences_that_change_the_question(a: str, b: str, reason: str) -> None:
    assert differs(signature(a), signature(b)) == reason
    assert differs(signature(b), signature(a)) == reason


@pytest.mark.parametrize(("a", "b"), [
    ("How do I reset my PIN?", "How can I reset my PIN?"),
    ("It has been two weeks and my card is not here", "It has been 2 weeks and my card is not here"),
    ("Why am I not able to verify my id?", "Why am I unable to verify my id?"),
    ("I tried to send money but it was not received.", "I sent money, it still has not been received."),
    ("My card hasn't arrived. What can I do?", "My card hasn't arrived. what do I do?"),
    ("Does Apple Pay work?", "does apple pay work"),
])
def test_paraphrases_pass(a: str, b: str) -> None:
    assert differs(signature(a), signature(b)) is None


def test_curly_apostrophes_count_as_negations() -> None:
    assert signature("I can\u2019t log in").negations == 1
