"""Routing policies: which target answers a request, and why. Pure functions, no I/O.

    decide(policy, features, signals, stats) -> Decision     before any call
    next_target(decision, failed, error) -> Decision | None  after a target fails
    review(policy, answer, labels, task) -> Review           a cascade's check of the small answer
    out_of_scope(setting, scope) -> OutOfScope | None        the route's `unknown:` for a novel query
"""

from gateway.routing.decision import Decision, bucket, decide, next_target
from gateway.routing.review import Review, SmallAnswer, check_format, review
from gateway.routing.scope import OutOfScope, Scope, out_of_scope
from gateway.routing.signals import Agreement, Neighbour, RequestFeatures, RetrievalSignals, RouteStats

__all__ = [
    "Agreement",
    "Decision",
    "Neighbour",
    "OutOfScope",
    "RequestFeatures",
    "RetrievalSignals",
    "Review",
    "RouteStats",
    "Scope",
    "SmallAnswer",
    "bucket",
    "check_format",
    "decide",
    "next_target",
    "out_of_scope",
    "review",
]
