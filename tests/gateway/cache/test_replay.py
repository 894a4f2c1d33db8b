from __future__ import annotations

from gateway.cache import collect_stream, replay_as_stream, storable
from tests.gateway.cache.conftest import completion


def test_replay_round_trip() -> None:
    response = completion("  Your balance is\n 42 euros.  ")
    response["system_fingerprint"] = "fp"
    chunks = list(replay_as_stream(response))
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert len(chunks) > 4
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(chunk["choices"][0]["finish_reason"] is None for chunk in chunks[:-1])
    collected = collect_stream(chunks)
    expected = {key: value for key, value in response.items() if key != "usage"}
    assert collected == expected


def test_usage_chunk_comes_last_when_asked() -> None:
    response = completion("ok")
    chunks = list(replay_as_stream(response, include_usage=True))
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == response["usage"]
    assert collect_stream(chunks) == response


def test_tool_calls_and_several_choices_round_trip() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"id": 3}'}}
    response = completion("first")
    response["choices"].append(
        {"index": 1, "message": {"role": "assistant", "content": None, "tool_calls": [call]},
         "logprobs": None, "finish_reason": "tool_calls"}
    )
    assert collect_stream(replay_as_stream(response, include_usage=True)) == response


def test_a_stream_cut_off_before_its_finish_is_not_storable() -> None:
    chunks = list(replay_as_stream(completion("a long answer that was cut")))
    assert storable(collect_stream(chunks))
    assert not storable(collect_stream(chunks[:-1]))
