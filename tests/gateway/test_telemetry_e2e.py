"""Traces of a RAG request, as a real OTLP/HTTP receiver process gets them from a real gateway."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from tests.gateway.conftest import base_gateway
from tests.otlp_receiver import tree
from tests.servers import REPO, free_port, start_gateway, stop, wait_for, wait_http, write_config

pytestmark = pytest.mark.slow

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
STEPS = {"ragway.embed", "ragway.cache.lookup", "ragway.retrieve", "ragway.route", "chat openai/smollm2"}


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tests.otlp_receiver", "--port", str(port)], cwd=REPO)
    wait_http(f"http://127.0.0.1:{port}/spans", 30, process)
    yield f"http://127.0.0.1:{port}"
    stop(process)


@pytest.fixture(scope="module")
def traced_gateway(llama_url: str, receiver: str, banking77_dir: Path,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("traced")
    with (banking77_dir / "train.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:300]
    with (root / "examples.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "category"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    gateway = base_gateway(llama_url, indexes_dir=str(root / "indexes"),
                           telemetry={"otlp_endpoint": receiver, "export_delay_ms": 100})
    route = {"task": "classification", "system_prompt": "Answer with the intent label only.",
             "targets": {"large": {"model": "smollm2"}}, "policy": {"kind": "fixed", "target": "large"},
             "params": {"max_tokens": 8, "temperature": 0},
             "retrieval": {"examples": {"index": "intents", "k": 4, "min_score": 0.0}}}
    config = write_config(root / "configs", gateway, {"rag": route})
    subprocess.run([sys.executable, "-m", "gateway.cli", "index", "build", "--name", "intents", "--examples",
                    str(root / "examples.csv"), "--config", str(config)], cwd=REPO, check=True, capture_output=True)
    port = free_port()
    process = start_gateway(config, port, log_path=root / "gateway.log")
    yield f"http://127.0.0.1:{port}"
    stop(process)


def spans_of(receiver: str, trace_id: str) -> list[dict]:
    return [s for s in httpx.get(f"{receiver}/spans").json() if s["trace_id"] == trace_id]


def test_rag_request_is_one_trace_under_the_callers_traceparent(traced_gateway: str, receiver: str) -> None:
    client = OpenAI(base_url=f"{traced_gateway}/v1", api_key="x", max_retries=0)
    answer = client.chat.completions.create(
        model="rag", messages=[{"role": "user", "content": "My card still has not arrived"}],
        extra_headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    assert wait_for(lambda: {s["name"] for s in spans_of(receiver, TRACE_ID)} >= STEPS | {
        "POST /v1/chat/completions"}, 20)
    spans = {s["name"]: s for s in spans_of(receiver, TRACE_ID)}
    server = spans["POST /v1/chat/completions"]
    assert server["parent_span_id"] == PARENT_ID  # the caller's span is the parent
    assert server["resource"]["service.name"] == "ragway"
    assert {spans[name]["parent_span_id"] for name in STEPS} == {server["span_id"]}
    attributes = server["attributes"]
    assert attributes["gen_ai.request.model"] == "rag"
    assert attributes["gen_ai.response.model"] == "smollm2"  # gateway.yaml's model name, as in the request log
    assert attributes["gen_ai.usage.input_tokens"] == answer.usage.prompt_tokens
    assert attributes["gen_ai.usage.output_tokens"] == answer.usage.completion_tokens
    assert attributes["http.response.status_code"] == 200
    upstream = spans["chat openai/smollm2"]["attributes"]
    assert upstream["gen_ai.request.max_tokens"] == 8 and upstream["gen_ai.provider.name"] == "openai"
    assert upstream["gen_ai.response.id"] == answer.id
    assert spans["ragway.retrieve"]["attributes"]["ragway.retrieval.examples"] >= 1
    for name in STEPS:  # every step lies inside the request's span
        assert server["start_ns"] <= spans[name]["start_ns"] <= spans[name]["end_ns"] <= server["end_ns"]
    print("\n" + tree(spans_of(receiver, TRACE_ID), TRACE_ID))


def test_request_without_traceparent_starts_its_own_trace(traced_gateway: str, receiver: str) -> None:
    response = httpx.post(f"{traced_gateway}/v1/chat/completions", timeout=60,
                          json={"model": "nope", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 404
    request_id = response.headers["x-request-id"]

    def root() -> dict | None:
        found = [s for s in httpx.get(f"{receiver}/spans").json()
                 if s["attributes"].get("ragway.request_id") == request_id]
        return found[0] if found else None

    assert wait_for(lambda: root() is not None, 20)
    span = root()
    assert span["parent_span_id"] == "" and span["trace_id"] != TRACE_ID
    assert span["attributes"]["error.type"] == "model_not_found"
