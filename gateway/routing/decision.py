"""Pick a target for one request from its route's policy: pure functions, no I/O.

Every decision carries a reason a person can read in the logs, e.g.
"split: bucket 37.21 < 50 -> a (sticky user)".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from gateway.config.policy import (
    CascadePolicy,
    FallbackPolicy,
    FixedPolicy,
    PolicyConfig,
    RetrievalPolicy,
    SplitPolicy,
)
from gateway.routing.signals import RequestFeatures, RetrievalSignals, RouteStats

BUCKETS = 10_000  # a split's resolution: 0.01 percent


@dataclass(frozen=True, slots=True)
class Decision:
    """Call `target` first; on its failure try `fallbacks` in order.

    `escalate_to` is set by a cascade: the target to call when the first answer does not pass review.
    """

    target: str
    reason: str
    fallbacks: tuple[str, ...] = ()
    escalate_to: str | None = None


def decide(
    policy: PolicyConfig,
    features: RequestFeatures,
    signals: RetrievalSignals,
    stats: RouteStats,
) -> Decision:
    """The target for one request under *policy*, with its reason."""
    if isinstance(policy, FixedPolicy):
        return Decision(target=policy.target, reason=f"fixed -> {policy.target}")
    if isinstance(policy, SplitPolicy):
        return _split(policy, features)
    if isinstance(policy, FallbackPolicy):
        return _fallback(policy, stats)
    if isinstance(policy, CascadePolicy):
        return _cascade(policy)
    return _retrieval(policy, signals)


def next_target(decision: Decision, failed: str, error: str) -> Decision | None:
    """After *failed* raised *error* (e.g. "upstream_timeout"): the next target to try, or None."""
    if not decision.fallbacks:
        return None
    following, *rest = decision.fallbacks
    return Decision(
        target=following,
        reason=f"{decision.reason}; {failed} failed ({error}) -> {following}",
        fallbacks=tuple(rest),
    )


def bucket(key: str, salt: str = "") -> float:
    """A stable percentage in [0, 100) for *key*: the same key always gets the same bucket."""
    digest = hashlib.sha256(f"{salt}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS * 100 / BUCKETS


def _split(policy: SplitPolicy, features: RequestFeatures) -> Decision:
    sticky = features.user is not None
    key = features.user if features.user is not None else features.request_id
    point = bucket(key, policy.salt)
    how = "sticky user" if sticky else "no user: per request"
    upper = 0.0
    chosen = ""
    for target, weight in policy.weights.items():
        if weight <= 0:
            continue
        upper += weight
        chosen = target
        if point < upper:
            break
    return Decision(target=chosen, reason=f"split: bucket {point:.2f} < {upper:g} -> {chosen} ({how})")


def _fallback(policy: FallbackPolicy, stats: RouteStats) -> Decision:
    failing = [t for t in policy.targets if _failing(t, policy, stats)]
    healthy = [t for t in policy.targets if t not in failing]
    if not healthy:
        # Everything is failing: keep the configured order rather than guess.
        healthy, failing = list(policy.targets), []
    first, *rest = healthy + failing
    skipped = "".join(
        f"skipped {t} (error rate {stats.error_rate(t):.2f} >= {policy.skip_error_rate:.2f}); " for t in failing
    )
    then = f", then {', '.join(rest)}" if rest else ""
    return Decision(target=first, reason=f"fallback: {skipped}-> {first}{then}", fallbacks=tuple(rest))


def _failing(target: str, policy: FallbackPolicy, stats: RouteStats) -> bool:
    return policy.skip_error_rate < 1 and stats.error_rate(target) >= policy.skip_error_rate


def _cascade(policy: CascadePolicy) -> Decision:
    bar = "the calibrated threshold" if policy.min_confidence == "auto" else f"{policy.min_confidence:.2f}"
    return Decision(
        target=policy.small,
        reason=f"cascade: small first -> {policy.small} (escalate to {policy.large} below {bar})",
        fallbacks=(policy.large,),
        escalate_to=policy.large,
    )


def _retrieval(policy: RetrievalPolicy, signals: RetrievalSignals) -> Decision:
    top = signals.top_score
    if top is None:
        return Decision(target=policy.large, reason=f"retrieval: no examples retrieved -> {policy.large}")
    agree = signals.agreement()
    close = top >= policy.min_similarity
    unanimous = agree.share >= policy.min_agreement
    target = policy.small if close and unanimous else policy.large
    score_part = f"top score {top:.2f} {'>=' if close else '<'} {policy.min_similarity:.2f}"
    agree_part = f"{agree.count}/{agree.total} agree ({'>=' if unanimous else '<'} {policy.min_agreement:.0%})"
    # An easy request still reaches the large target if the small one fails.
    fallbacks = (policy.large,) if target == policy.small else ()
    return Decision(target=target, reason=f"retrieval: {score_part} and {agree_part} -> {target}", fallbacks=fallbacks)
