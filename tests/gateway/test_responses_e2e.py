"""The Responses API and tool calls, called with the official openai client against real processes.

Plain and streamed `responses.create` run on the real local model (route chat). Tool calls run
against a recording stub that streams tool calls (tests/tool_stub.py): what matters there is
what the gateway forwards and how it relays the deltas, not what a model would say.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from openai import OpenAI

from tests.gateway.conftest import base_gateway
from tests.servers import REPO, free_port, start_gateway, stop, wait_http, write_config
from tests.tool_stub import ARGUMENTS, TEXT

pytestmark = pytest.mark.slow

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                   "required": ["city"]}}}
WEATHER_RESPONSES = {"type": "function", **WEATHER["function"]}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture(scope="module")
def tool_stub() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tests.tool_stub", "--port", str(port)], cwd=REPO)
    wait_http(f"http://127.0.0.1:{port}/v1/models", 30, process)
    yield f"http://127.0.0.1:{port}"
    stop(process)


@pytest.fixture(scope="module")
def tools_gateway(tool_stub: str, llama_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("tools")
    gateway = base_gateway(llama_url)
    gateway["models"]["tools"] = {"model": "openai/tools", "api_base": f"{tool_stub}/v1", "retries": 0}
    route = {"task": "generation", "system_prompt": "You can call tools.", "cache": {"enabled": False},
             "targets": {"large": {"model": "tools"}}, "policy": {"kind": "fixed", "target": "large"}}
    write_config(root, gateway, {"agent": route})
    port = free_port()
    process = start_gateway(root, port, log_path=root / "gateway.log")
    yield f"http://127.0.0.1:{port}"
    stop(process)


def forwarded(tool_stub: str) -> dict:
    return httpx.get(f"{tool_stub}/requests").json()[-1]


def test_responses_create_plain(gateway_url: str) -> None:
    client = OpenAI(base_url=f"{gateway_url}/v1", api_key="x", max_retries=0)
    response = client.responses.create(model="chat", instructions="Answer in one short sentence.",
                                       input="Name a colour.", max_output_tokens=12)
    assert response.object == "response" and response.status in ("completed", "incomplete")
    assert response.output_text.strip()
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert response.model_extra["ragway"]["route"] == "chat"


def test_responses_create_streamed(gateway_url: str) -> None:
    client = OpenAI(base_url=f"{gateway_url}/v1", api_key="x", max_retries=0)
    events = list(client.responses.create(model="chat", input=[{"role": "user", "content": "Say hello."}],
                                          max_output_tokens=12, stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] in ("response.completed", "response.incomplete")
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    final = events[-1].response
    assert deltas and final.output_text == deltas
    assert final.usage.output_tokens > 0


def test_streamed_tool_call_passes_through_chat(tools_gateway: str, tool_stub: str) -> None:
    client = OpenAI(base_url=f"{tools_gateway}/v1", api_key="x", max_retries=0)
    choice = {"type": "function", "function": {"name": "get_weather"}}
    stream = client.chat.completions.create(model="agent", messages=ASK, tools=[WEATHER], tool_choice=choice,
                                            stream=True)
    calls: dict[int, dict] = {}
    finish = None
    for chunk in stream:
        for c in chunk.choices:
            finish = c.finish_reason or finish
            for delta in c.delta.tool_calls or ():
                call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
                call["id"] = call["id"] or delta.id
                if delta.function:
                    call["name"] += delta.function.name or ""
                    call["arguments"] += delta.function.arguments or ""
    assert calls == {0: {"id": "call_stub_1", "name": "get_weather", "arguments": ARGUMENTS}}
    assert finish == "tool_calls"
    sent = forwarded(tool_stub)
    assert sent["tools"] == [WEATHER] and sent["tool_choice"] == choice


def test_tool_call_plain_and_the_answer_turn(tools_gateway: str, tool_stub: str) -> None:
    client = OpenAI(base_url=f"{tools_gateway}/v1", api_key="x", max_retries=0)
    first = client.chat.completions.create(model="agent", messages=ASK, tools=[WEATHER])
    call = first.choices[0].message.tool_calls[0]
    assert (call.function.name, call.function.arguments) == ("get_weather", ARGUMENTS)
    turn = [*ASK, first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "18C"}]
    second = client.chat.completions.create(model="agent", messages=turn, tools=[WEATHER])
    assert second.choices[0].message.content == TEXT
    assert forwarded(tool_stub)["messages"][-1] == {"role": "tool", "tool_call_id": call.id, "content": "18C"}


def test_responses_streamed_function_call(tools_gateway: str, tool_stub: str) -> None:
    client = OpenAI(base_url=f"{tools_gateway}/v1", api_key="x", max_retries=0)
    events = list(client.responses.create(model="agent", input="What is the weather in Paris?",
                                          tools=[WEATHER_RESPONSES], tool_choice="required", stream=True))
    deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert deltas == ARGUMENTS
    final = events[-1].response
    assert events[-1].type == "response.completed"
    [item] = final.output
    assert (item.type, item.name, item.arguments, item.call_id) == ("function_call", "get_weather", ARGUMENTS,
                                                                    "call_stub_1")
    sent = forwarded(tool_stub)
    assert sent["tools"] == [WEATHER] and sent["tool_choice"] == "required"

    answer = client.responses.create(model="agent", tools=[WEATHER_RESPONSES], input=[
        {"role": "user", "content": "What is the weather in Paris?"},
        {"type": "function_call", "call_id": item.call_id, "name": item.name, "arguments": item.arguments},
        {"type": "function_call_output", "call_id": item.call_id, "output": "18C"}])
    assert answer.output_text == TEXT
    assistant, tool = forwarded(tool_stub)["messages"][-2:]
    assert assistant["role"] == "assistant" and assistant["tool_calls"] == [
        {"id": "call_stub_1", "type": "function", "function": {"name": "get_weather", "arguments": ARGUMENTS}}]
    assert tool == {"role": "tool", "tool_call_id": "call_stub_1", "content": "18C"}


def test_responses_refuses_what_it_cannot_map(tools_gateway: str) -> None:
    client = OpenAI(base_url=f"{tools_gateway}/v1", api_key="x", max_retries=0)
    with pytest.raises(Exception) as refused:
        client.responses.create(model="agent", input="hi", previous_response_id="resp_1")
    assert refused.value.status_code == 400 and "previous_response_id" in str(refused.value)
    with pytest.raises(Exception) as tool:
        client.responses.create(model="agent", input="hi", tools=[{"type": "web_search"}])
    assert tool.value.status_code == 400


def test_completions_plain_and_streamed(gateway_url: str) -> None:
    client = OpenAI(base_url=f"{gateway_url}/v1", api_key="x", max_retries=0)
    plain = client.completions.create(model="chat", prompt="Name a fruit.", max_tokens=8, temperature=0)
    assert plain.object == "text_completion" and plain.choices[0].text.strip()
    assert plain.usage.completion_tokens > 0
    chunks = list(client.completions.create(model="chat", prompt="Name a fruit.", max_tokens=8, temperature=0,
                                            stream=True))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == plain.choices[0].text
