"""Cascade end to end: a fine-tuned head answers what it is sure of; the rest reach the real llama.cpp model."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from gateway.smallmodel.encoder import EncoderSettings
from gateway.smallmodel.train import TrainOptions, train
from gateway.smallmodel.tuned import save_with_encoder, train_with_encoder
from retrieval.embedder import DEFAULT_MODEL, SentenceEmbedder, resolve_model
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
                    TrainOptions(target_accuracy=0.99))
    return trained.save(tmp_path_factory.mktemp("artifacts"), "intents")


@pytest.fixture(scope="module")
def encoder_artifact(banking77_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`finetune --method encoder` on a tiny slice (20 rows an intent, a few steps): the serving path, not accuracy."""
    with (banking77_dir / "train.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["category"] in INTENTS]
    rows = [r for intent in INTENTS for r in [x for x in rows if x["category"] == intent][:20]]
    settings = EncoderSettings(epochs=1, batch_size=16)
    texts, labels = [r["text"] for r in rows], [r["category"] for r in rows]
    trained, encoder, report = train_with_encoder(
        texts, labels, (resolve_model(DEFAULT_MODEL), DEFAULT_MODEL), TrainOptions(target_accuracy=0.9), settings
    )
    return save_with_encoder(trained, encoder, report, DEFAULT_MODEL, settings,
                             tmp_path_factory.mktemp("artifacts"), "tuned", "csv:slice")


@pytest.fixture(scope="module")
def cascade_gateway(
    llama_url: str, head_artifact: Path, encoder_artifact: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    route = {
        "task": "classification",
        "system_prompt": "Classify the banking message. Answer with the label only.",
        "labels": list(INTENTS),
        "targets": {"small": {"classifier": str(head_artifact)}, "large": {"model": "smollm2"}},
        "policy": {"kind": "cascade", "small": "small", "large": "large", "min_confidence": 0.9},
        "params": {"temperature": 0, "max_tokens": 8},
        "cache": {"enabled": False},
    }
    says_none = {**route, "unknown": {"answer": "none_of_these"}}
    escalates = {**route, "unknown": "escalate", "policy": {**route["policy"], "min_confidence": 0.0}}
    tuned = {**route, "targets": {"small": {"classifier": str(encoder_artifact.parent)}}, "labels": [],
             "policy": {"kind": "fixed", "target": "small"}, "unknown": {"answer": "none_of_these"}}
    root = tmp_path_factory.mktemp("cascade")
    routes = {"intents": route, "intents-none": says_none, "intents-escalate": escalates, "intents-tuned": tuned}
    write_config(root, base_gateway(llama_url), routes)
    port = free_port()
    process = start_gateway(root, port, log_path=root / "gateway.log")
    yield f"http://127.0.0.1:{port}"
    stop(process)


def ask(url: str, text: str, stream: bool = False, route: str = "intents"):
    client = OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    return client.chat.completions.with_raw_response.create(
        model=route, messages=[{"role": "user", "content": text}], stream=stream
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


def test_out_of_scope_queries_get_the_routes_own_answer(cascade_gateway: str) -> None:
    raw = ask(cascade_gateway, "Write a short poem about autumn leaves.", route="intents-none")
    reply = raw.parse()
    assert raw.headers["x-ragway-target"] == "small"
    assert reply.choices[0].message.content == "none_of_these"
    assert "out of scope: similarity" in reply.model_extra["ragway"]["reason"]
    in_scope = ask(cascade_gateway, "My new card still has not arrived, where is it?", route="intents-none").parse()
    assert in_scope.choices[0].message.content == "card_arrival"


def test_out_of_scope_queries_escalate_even_when_confident_enough(cascade_gateway: str) -> None:
    raw = ask(cascade_gateway, "Write a short poem about autumn leaves.", route="intents-escalate")
    assert raw.headers["x-ragway-target"] == "large"
    assert "cascade: out of scope: similarity" in raw.parse().model_extra["ragway"]["reason"]


def test_a_tuned_encoder_serves_as_the_routes_small_model(cascade_gateway: str) -> None:
    reply = ask(cascade_gateway, "I lost my card yesterday, someone may have stolen it", route="intents-tuned").parse()
    assert reply.choices[0].message.content == "lost_or_stolen_card"
    assert reply.model_extra["ragway"]["model"].startswith("classifier:")
    far = ask(cascade_gateway, "Write a short poem about autumn leaves.", route="intents-tuned").parse()
    assert far.choices[0].message.content == "none_of_these"
