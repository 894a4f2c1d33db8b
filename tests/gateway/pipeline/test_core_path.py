"""The request path end to end in-process: every policy, fallback, retries, timeouts, streams, cache, coalescing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.errors import ModelNotFound, UpstreamError, UpstreamTimeout
from tests.gateway.pipeline.conftest import MakeGateway
from tests.gateway.pipeline.stub import Reply, ScriptedUpstream

TARGETS = {name: {"model": name} for name in ("large", "small", "backup")}


def route(policy: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"task": "generation", "targets": TARGETS, "policy": policy, "params": {"temperature": 0}, **extra}


FIXED = route({"kind": "fixed", "target": "large"})
NO_CACHE = {"enabled": False}


async def test_fixed_policy_answers_and_records_one_request(make_gateway: MakeGateway,
                                                           upstream: ScriptedUpstream) -> None:
    gateway = await make_gateway({"chat": FIXED})

    body, headers = await gateway.ask("chat", "what is my balance")

    assert body["choices"][0]["message"]["content"] == "answer from large"
    assert body["ragway"]["target"] == "large" and body["ragway"]["model"] == "large"
    assert body["ragway"]["reason"] == "fixed -> large" and body["ragway"]["cache"] == "miss"
    assert headers["x-ragway-target"] == "large" and headers["x-ragway-decision"] == "fixed -> large"
    assert upstream.calls_to("large")[0]["messages"][-1]["content"] == "what is my balance"
    (rec,) = gateway.records
    assert (rec.route, rec.target, rec.cache, rec.status) == ("chat", "large", "miss", 200)
    assert rec.decision == "fixed -> large"
    assert (rec.tokens_in, rec.tokens_out) == (11, 7)
    assert rec.latency.upstream_ms > 0 and rec.latency.total_ms >= rec.latency.upstream_ms


async def test_split_policy_is_sticky_per_user_and_uses_both_targets(make_gateway: MakeGateway) -> None:
    policy = {"kind": "split", "weights": {"large": 50, "small": 50}}
    gateway = await make_gateway({"ab": route(policy, cache=NO_CACHE)})

    chosen = {}
    for user in (f"user-{i}" for i in range(16)):
        first, _ = await gateway.ask("ab", user=user)
        again, _ = await gateway.ask("ab", user=user)
        assert first["ragway"]["target"] == again["ragway"]["target"]
        chosen[user] = first["ragway"]["target"]

    assert set(chosen.values()) == {"large", "small"}
    assert all(rec.decision == "split" for rec in gateway.records)


async def test_fallback_answers_from_the_next_target_after_a_failure(make_gateway: MakeGateway,
                                                                    upstream: ScriptedUpstream) -> None:
    gateway = await make_gateway({"fb": route({"kind": "fallback", "targets": ["large", "backup"]})})
    upstream.script("large", Reply(status=500))

    body, _ = await gateway.ask("fb")

    assert body["choices"][0]["message"]["content"] == "answer from backup"
    assert body["ragway"]["target"] == "backup"
    assert "large failed (upstream_error) -> backup" in body["ragway"]["reason"]
    (rec,) = gateway.records
    assert (rec.target, rec.status) == ("backup", 200)
    assert len(upstream.calls_to("large")) == 1 and len(upstream.calls_to("backup")) == 1


async def test_when_every_target_fails_the_record_names_the_last_one_tried(make_gateway: MakeGateway,
                                                                          upstream: ScriptedUpstream) -> None:
    gateway = await make_gateway({"fb": route({"kind": "fallback", "targets": ["large", "backup"]})})
    upstream.script("large", Reply(status=503))
    upstream.script("backup", Reply(status=502))

    with pytest.raises(UpstreamError, match="backup"):
        await gateway.ask("fb")

    (rec,) = gateway.records
    assert (rec.target, rec.status, rec.error_type) == ("backup", 502, "upstream_error")


async def test_a_model_retries_5xx_before_failing_over(make_gateway: MakeGateway,
                                                       upstream: ScriptedUpstream) -> None:
    gateway = await make_gateway({"chat": FIXED}, models={"large": {"retries": 2}})
    upstream.script("large", Reply(status=500), Reply(status=503))

    body, _ = await gateway.ask("chat")

    assert body["ragway"]["target"] == "large"
    assert len(upstream.calls_to("large")) == 3


async def test_a_timeout_is_a_504_or_the_next_target(make_gateway: MakeGateway, upstream: ScriptedUpstream) -> None:
    routes = {"chat": FIXED, "fb": route({"kind": "fallback", "targets": ["large", "backup"]})}
    gateway = await make_gateway(routes, models={"large": {"timeout_s": 0.1}})
    upstream.script("large", Reply(delay_s=1.0), Reply(delay_s=1.0))

    with pytest.raises(UpstreamTimeout):
        await gateway.ask("chat", "first")
    body, _ = await gateway.ask("fb", "second")

    assert body["ragway"]["target"] == "backup"
    assert "large failed (upstream_timeout) -> backup" in body["ragway"]["reason"]
    assert [rec.status for rec in gateway.records] == [504, 200]


async def test_cascade_keeps_a_valid_small_answer_and_escalates_an_invalid_one(make_gateway: MakeGateway,
                                                                               upstream: ScriptedUpstream) -> None:
    cascade = {"kind": "cascade", "small": "small", "large": "large", "min_confidence": 0.0}
    config = {**route(cascade, cache=NO_CACHE), "task": "classification", "labels": ["balance", "card_lost"]}
    gateway = await make_gateway({"intent": config})
    upstream.script("small", Reply(content="balance"), Reply(content="no idea"))
    upstream.script("large", Reply(content="card_lost"))

    kept, _ = await gateway.ask("intent", "how much money do I have")
    escalated, _ = await gateway.ask("intent", "I lost my card")

    assert kept["ragway"]["target"] == "small" and kept["ragway"]["reason"] == "cascade: format ok -> small"
    assert escalated["ragway"]["target"] == "large"
    assert escalated["choices"][0]["message"]["content"] == "card_lost"
    assert "format check failed" in escalated["ragway"]["reason"]
    assert [rec.target for rec in gateway.records] == ["small", "large"]


async def test_retrieval_policy_sends_easy_requests_small_and_hard_ones_large(make_gateway: MakeGateway) -> None:
    examples = [("what is my card balance", "balance"), ("show my card balance please", "balance")]
    policy = {"kind": "retrieval", "small": "small", "large": "large", "min_similarity": 0.8}
    config = route(policy, cache=NO_CACHE, retrieval={"examples": {"index": "examples", "k": 2}})
    gateway = await make_gateway({"triage": config}, examples=examples)

    easy, _ = await gateway.ask("triage", "what is my card balance")
    hard, _ = await gateway.ask("triage", "completely unrelated words here")

    assert easy["ragway"]["target"] == "small" and easy["ragway"]["reason"].startswith("retrieval: top score 1.00")
    assert hard["ragway"]["target"] == "large"
    assert [item["kind"] for item in easy["ragway"]["retrieved"]] == ["example", "example"]
    assert gateway.records[0].retrieved_ids


async def test_an_exact_hit_is_answered_before_the_embedding(make_gateway: MakeGateway) -> None:
    examples = [("what is my card balance", "balance"), ("I lost my card", "card_lost")]
    config = {**route({"kind": "fixed", "target": "large"}, retrieval={"examples": {"index": "examples", "k": 2}}),
              "task": "classification"}
    gateway = await make_gateway({"rag": config}, examples=examples)

    first, _ = await gateway.ask("rag", "what is my card balance")
    second, headers = await gateway.ask("rag", "what is my card balance")
    third, _ = await gateway.ask("rag", "what is the balance on my card")

    assert first["ragway"]["cache"] == "miss" and second["ragway"]["cache"] == "hit"
    assert headers["x-ragway-cache"] == "hit" and second["choices"] == first["choices"]
    # the hit read no vector; the miss and the paraphrase (semantic tier: classification) were embedded
    assert gateway.service.preparer.embedder.texts == ["what is my card balance", "what is the balance on my card"]
    assert third["ragway"]["cache"] in ("miss", "semantic-hit")
    assert [rec.cache for rec in gateway.records][:2] == ["miss", "hit"] and gateway.records[1].latency.embed_ms == 0.0


async def test_a_cache_hit_names_the_target_that_first_answered(
        make_gateway: MakeGateway, upstream: ScriptedUpstream) -> None:
    gateway = await make_gateway({"fb": route({"kind": "fallback", "targets": ["large", "backup"]})})
    upstream.script("large", Reply(status=500))

    first, _ = await gateway.ask("fb", "same question")
    second, headers = await gateway.ask("fb", "same question")

    assert second["ragway"]["cache"] == "hit" and headers["x-ragway-cache"] == "hit"
    assert (second["ragway"]["target"], second["ragway"]["model"]) == ("backup", "backup")
    assert second["choices"] == first["choices"]
    assert len(upstream.calls) == 2
    hit = gateway.records[1]
    assert (hit.target, hit.decision, hit.cache, hit.tokens_in, hit.cost_usd) == ("backup", "cache", "hit", 0, 0.0)


async def test_the_cache_keeps_the_provider_body_with_who_answered_beside_it(
        make_gateway: MakeGateway, upstream: ScriptedUpstream) -> None:
    gateway = await make_gateway({"fb": route({"kind": "fallback", "targets": ["large", "backup"]})})
    upstream.script("large", Reply(status=500), Reply(status=500))

    await gateway.ask("fb", "plain question")
    await gateway.stream("fb", "streamed question")

    for text in ("plain question", "streamed question"):
        stored = (await gateway.prepare("fb", text)).lookup.stored
        assert stored is not None and (stored.target, stored.model) == ("backup", "backup")
        assert "ragway" not in stored.body
        assert stored.body["choices"][0]["message"]["content"].strip() == "answer from backup"


async def test_concurrent_identical_requests_share_one_upstream_call(make_gateway: MakeGateway,
                                                                    upstream: ScriptedUpstream) -> None:
    gateway = await make_gateway({"chat": FIXED})
    upstream.script("large", Reply(delay_s=0.3))

    answers = await asyncio.gather(*(gateway.ask("chat", "the same words") for _ in range(5)))

    assert len(upstream.calls) == 1
    assert len({body["choices"][0]["message"]["content"] for body, _ in answers}) == 1
    assert all("ragway" in body for body, _ in answers)
    assert len(gateway.records) == 5 and {rec.target for rec in gateway.records} == {"large"}
    # the one upstream call is billed once: the followers' records say they were coalesced
    assert sorted(rec.cache for rec in gateway.records) == ["coalesced"] * 4 + ["miss"]


async def test_a_stream_without_upstream_usage_is_estimated(make_gateway: MakeGateway,
                                                            upstream: ScriptedUpstream) -> None:
    gateway = await make_gateway({"chat": route({"kind": "fixed", "target": "large"}, cache=NO_CACHE)})
    upstream.script("large", Reply(content="one two three four", usage=False))

    events = await gateway.stream("chat", stream_options={"include_usage": True})

    assert events[-1] == "[DONE]"
    assert events[0]["ragway"]["target"] == "large"
    usage = events[-2]["usage"]
    assert usage["completion_tokens"] == 4 and usage["prompt_tokens"] > 0
    (rec,) = gateway.records
    assert rec.stream and (rec.tokens_in, rec.tokens_out) == (usage["prompt_tokens"], 4)


async def test_a_stream_with_upstream_usage_reports_it_only_when_asked(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway({"chat": route({"kind": "fixed", "target": "large"}, cache=NO_CACHE)})

    quiet = await gateway.stream("chat", "first")
    asked = await gateway.stream("chat", "second", stream_options={"include_usage": True})

    assert not any("usage" in event for event in quiet[:-1])
    assert asked[-2]["usage"]["completion_tokens"] == 7
    assert [(rec.tokens_in, rec.tokens_out) for rec in gateway.records] == [(11, 7), (11, 7)]


async def test_a_streamed_answer_is_cached_and_replayed(make_gateway: MakeGateway,
                                                        upstream: ScriptedUpstream) -> None:
    gateway = await make_gateway({"chat": FIXED})

    first = await gateway.stream("chat", "stream me")
    replay = await gateway.stream("chat", "stream me")

    text = lambda events: "".join(  # noqa: E731
        choice["delta"].get("content") or "" for e in events[:-1] for choice in e.get("choices", []))
    assert text(replay) == text(first) == "answer from large "
    assert replay[0]["ragway"]["cache"] == "hit" and replay[0]["ragway"]["target"] == "large"
    assert len(upstream.calls) == 1


async def test_a_stream_failing_before_its_first_chunk_falls_back(make_gateway: MakeGateway,
                                                                  upstream: ScriptedUpstream) -> None:
    gateway = await make_gateway({"fb": route({"kind": "fallback", "targets": ["large", "backup"]})})
    upstream.script("large", Reply(status=500))

    events = await gateway.stream("fb")

    assert events[0]["ragway"]["target"] == "backup"
    assert gateway.records[0].target == "backup" and gateway.records[0].status == 200


async def test_an_unknown_model_is_refused_before_anything_is_called(make_gateway: MakeGateway,
                                                                     upstream: ScriptedUpstream) -> None:
    gateway = await make_gateway({"chat": FIXED})

    with pytest.raises(ModelNotFound):
        await gateway.ask("nope")

    (refused,) = gateway.records
    assert upstream.calls == [] and (refused.route, refused.decision, refused.status) == ("", "refused", 404)


async def test_a_directly_named_model_passes_through(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway({"chat": FIXED})

    body, _ = await gateway.ask("backup")

    assert body["ragway"]["route"] is None and body["ragway"]["target"] == "backup"
    assert gateway.records[0].route == "" and gateway.records[0].decision == "direct"
