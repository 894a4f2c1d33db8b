"""decide() and next_target() for every policy kind."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
from pydantic import TypeAdapter, ValidationError

from gateway.config.policy import PolicyConfig
from gateway.routing import (
    Decision,
    RequestFeatures,
    RetrievalSignals,
    RouteStats,
    bucket,
    decide,
    next_target,
)

POLICY = TypeAdapter(PolicyConfig)
NO_SIGNALS = RetrievalSignals()
NO_STATS = RouteStats()


@dataclass(frozen=True)
class FakeHit:
    score: float
    output: str | None


def policy(**data: object) -> PolicyConfig:
    return POLICY.validate_python(data)


def decide_for(p: PolicyConfig, user: str | None = None, request_id: str = "req-1", **kw: object) -> Decision:
    features = RequestFeatures(request_id=request_id, user=user)
    return decide(p, features, kw.get("signals", NO_SIGNALS), kw.get("stats", NO_STATS))  # type: ignore[arg-type]


def test_fixed_sends_everything_to_its_target() -> None:
    d = decide_for(policy(kind="fixed", target="large"))
    assert d == Decision(target="large", reason="fixed -> large")


def test_split_is_sticky_per_user_across_calls() -> None:
    p = policy(kind="split", weights={"a": 50, "b": 50})
    for user in (f"user-{i}" for i in range(50)):
        first = decide_for(p, user=user, request_id="r1")
        assert all(decide_for(p, user=user, request_id=f"r{n}").target == first.target for n in range(2, 6))
        assert "(sticky user)" in first.reason


def test_split_matches_weights_over_many_users() -> None:
    p = policy(kind="split", weights={"a": 70, "b": 20, "c": 10})
    counts = Counter(decide_for(p, user=f"u{i}").target for i in range(20_000))
    assert counts["a"] / 20_000 == pytest.approx(0.70, abs=0.015)
    assert counts["b"] / 20_000 == pytest.approx(0.20, abs=0.015)
    assert counts["c"] / 20_000 == pytest.approx(0.10, abs=0.015)


def test_split_reason_names_bucket_bound_and_target() -> None:
    p = policy(kind="split", weights={"a": 50, "b": 50})
    d = decide_for(p, user="alice")
    point = bucket("alice")
    expected = "a" if point < 50 else "b"
    bound = "50" if expected == "a" else "100"
    assert d.target == expected
    assert d.reason == f"split: bucket {point:.2f} < {bound} -> {expected} (sticky user)"


def test_split_without_user_spreads_requests() -> None:
    p = policy(kind="split", weights={"a": 50, "b": 50})
    targets = {decide_for(p, request_id=f"req-{i}").target for i in range(40)}
    assert targets == {"a", "b"}
    assert "no user: per request" in decide_for(p).reason


def test_split_skips_zero_weight_and_salt_reshuffles() -> None:
    p = policy(kind="split", weights={"off": 0, "on": 100})
    assert {decide_for(p, user=f"u{i}").target for i in range(200)} == {"on"}
    assert bucket("u1", "x") != bucket("u1", "y")


def test_split_weights_must_add_up_to_100() -> None:
    with pytest.raises(ValidationError, match="add up to 100"):
        policy(kind="split", weights={"a": 50, "b": 40})


def test_fallback_tries_targets_in_order() -> None:
    d = decide_for(policy(kind="fallback", targets=["a", "b", "c"]))
    assert (d.target, d.fallbacks) == ("a", ("b", "c"))
    assert d.reason == "fallback: -> a, then b, c"


def test_fallback_moves_on_when_a_target_fails() -> None:
    d = decide_for(policy(kind="fallback", targets=["a", "b", "c"]))
    second = next_target(d, "a", "upstream_timeout")
    assert second is not None
    assert (second.target, second.fallbacks) == ("b", ("c",))
    assert "a failed (upstream_timeout) -> b" in second.reason
    third = next_target(second, "b", "upstream_error")
    assert third is not None and third.target == "c"
    assert next_target(third, "c", "upstream_error") is None


def test_fallback_puts_a_failing_target_last() -> None:
    p = policy(kind="fallback", targets=["a", "b"], skip_error_rate=0.5)
    d = decide_for(p, stats=RouteStats({"a": 0.8, "b": 0.1}))
    assert (d.target, d.fallbacks) == ("b", ("a",))
    assert "skipped a (error rate 0.80 >= 0.50)" in d.reason


def test_fallback_keeps_order_when_everything_fails() -> None:
    p = policy(kind="fallback", targets=["a", "b"], skip_error_rate=0.5)
    d = decide_for(p, stats=RouteStats({"a": 0.9, "b": 0.9}))
    assert (d.target, d.fallbacks) == ("a", ("b",))


def test_fallback_ignores_stats_by_default() -> None:
    d = decide_for(policy(kind="fallback", targets=["a", "b"]), stats=RouteStats({"a": 1.0}))
    assert d.target == "a"


def test_cascade_starts_small_and_can_escalate() -> None:
    d = decide_for(policy(kind="cascade", small="small", large="large", min_confidence=0.8))
    assert (d.target, d.escalate_to, d.fallbacks) == ("small", "large", ("large",))
    assert "below 0.80" in d.reason


def test_cascade_rejects_same_small_and_large() -> None:
    with pytest.raises(ValidationError, match="different"):
        policy(kind="cascade", small="x", large="x")


def retrieval_signals(scores: list[float], labels: list[str | None]) -> RetrievalSignals:
    return RetrievalSignals.from_hits([FakeHit(s, label) for s, label in zip(scores, labels, strict=True)])


def test_retrieval_close_and_unanimous_goes_small() -> None:
    p = policy(kind="retrieval", small="small", large="large", min_similarity=0.85, min_agreement=1.0)
    signals = retrieval_signals([0.80, 0.91, 0.88, 0.86, 0.87], ["x"] * 5)
    d = decide_for(p, signals=signals)
    assert d.target == "small"
    assert d.fallbacks == ("large",)
    assert d.reason == "retrieval: top score 0.91 >= 0.85 and 5/5 agree (>= 100%) -> small"


def test_retrieval_far_or_split_goes_large() -> None:
    p = policy(kind="retrieval", small="small", large="large", min_similarity=0.85, min_agreement=0.8)
    far = decide_for(p, signals=retrieval_signals([0.70, 0.60], ["x", "x"]))
    assert far.target == "large"
    assert "top score 0.70 < 0.85" in far.reason
    split = decide_for(p, signals=retrieval_signals([0.95, 0.94, 0.93], ["x", "y", "x"]))
    assert split.target == "large"
    assert "2/3 agree (< 80%)" in split.reason


def test_retrieval_counts_unlabelled_neighbours_against_agreement() -> None:
    signals = retrieval_signals([0.9, 0.8], ["x", None])
    agreement = signals.agreement()
    assert (agreement.label, agreement.count, agreement.total) == ("x", 1, 2)


def test_retrieval_without_examples_goes_large() -> None:
    p = policy(kind="retrieval", small="small", large="large")
    d = decide_for(p)
    assert d.target == "large"
    assert "no examples" in d.reason


def test_policies_reject_unknown_keys_and_kinds() -> None:
    with pytest.raises(ValidationError):
        policy(kind="fixed", target="a", extra=1)
    with pytest.raises(ValidationError):
        policy(kind="random", target="a")
