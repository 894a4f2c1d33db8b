"""Cascade end to end: a fine-tuned head answers what it is sure of; the rest reach the real llama.cpp model."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from gateway.smallmodel.train import train
from retrieval.embedder import SentenceEmbedder
from tests.gateway.conftest import base_gateway
from tests.servers import free_port, start_gateway, stop, write_config

pytestmark = pytest.mark.slow
INTENTS = ("card_arrival", "lost_or_stolen_card", "exchange_rate", "top_up_failed", "pin_blocked")


@pytest.fixture(scope="module")
def head_artifact(banking77_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A head trained by the product's own trainer on five banking77 intents (a few hundred rows)."""
    with (banking77_dir / "train.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["category"] in INTENTS]
    trained = train([r["text"] for r in rows], [r["category"] for r in rows], SentenceEmbedder(),
                    target_accuracy=0.99)
    return trained.save(tmp_path_factory.mktemp("artifacts"), "intents")


@pytest.fixture(scope="module")
def cascade_gateway(llama_url: str, head_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    route = {
        "task": "classification",
        "system_prompt": "Classify the banking message. Answer with the label only.",
        "labels": list(INTENTS),
        "targets": {"small": {"classifier": str(head_artifact)}, "large": {"model": "smollm2"}},
        "policy": {"kind": "cascade", "small": "small", "large": "large", "min_confidence": 0.9},
        "params": {"temperature": 0, "max_tokens": 8},
        "cache": {"enabled": False},
    }
    root = tmp_path_factory.mktemp("cascade")
    write_config(root, base_gateway(llama_url), {"intents": route})
    port = free_port()
    process = start_gateway(root, port, log_path=root / "gateway.log")
    yield f"http://127.0.0.1:{port}"
    stop(process)


def ask(url: str, text: str, stream: bool = False):
    client = OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    return client.chat.completions.with_raw_response.create(
        model="intents", messages=[{"role": "user", "content": text}], stream=stream
    )


def test_confident_queries_stay_local(cascade_gateway: str) -> None:
    raw = ask(cascade_gateway, "My new card still has not arrived, where is it?")
    reply = raw.parse()
    meta = reply.model_extra["ragway"]
    assert raw.headers["x-ragway-target"] == "small"
    assert reply.choices[0].message.content == "card_arrival"
    assert meta["confidence"] >= 0.9 and meta["reason"].startswith("cascade: confidence")
    assert reply.usage.total_tokens == 0


def test_unconfident_queries_escalate_to_the_large_model(cascade_gateway: str) -> None:
    raw = ask(cascade_gateway, "Write a short poem about autumn leaves.")
    reply = raw.parse()
    assert raw.headers["x-ragway-target"] == "large"
    assert "< 0.90 -> large" in reply.model_extra["ragway"]["reason"]
    assert reply.usage.completion_tokens > 0


def test_streamed_cascade_answers_locally(cascade_gateway: str) -> None:
    raw = ask(cascade_gateway, "I lost my card yesterday, someone may have stolen it", stream=True)
    assert raw.headers["x-ragway-target"] == "small"
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == "lost_or_stolen_card"
