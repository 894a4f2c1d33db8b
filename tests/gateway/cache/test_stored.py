"""The stored value: the provider's body with who answered beside it; older values still read."""

from __future__ import annotations

import orjson

from gateway.cache.stored import StoredAnswer, decode
from tests.gateway.cache.conftest import completion


def test_an_answer_reads_back_as_it_was_stored() -> None:
    answer = StoredAnswer(completion("balance"), "small", "classifier:banking77")
    assert decode(answer.encode()) == answer
    assert "ragway" not in orjson.loads(answer.encode())["body"]


def test_a_value_written_before_the_shape_reads_without_the_gateway_field() -> None:
    old = {**completion("balance"), "ragway": {"target": "backup", "model": "openai/backup"}}
    assert decode(orjson.dumps(old)) == StoredAnswer(completion("balance"), "backup", "openai/backup")
    assert decode(orjson.dumps(completion("balance"))) == StoredAnswer(completion("balance"))


def test_unreadable_values_are_no_answer() -> None:
    assert decode(None) is None
    assert decode(b"{not json") is None
    assert decode(b"[1, 2]") is None
