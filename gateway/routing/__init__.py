"""Routing policies: which target answers a request, and why. Pure functions, no I/O.

    decide(policy, features, signals, stats) -> Decision     before any call
    next_target(decision, failed, error) -> Decision | None  after a target fails
    review(policy, answer, labels, task) -> Review           a cascade's check of the small answer
"""

from gateway.routing.decision import Decision, bucket, decide, next_target
from gateway.routing.review import Review, SmallAnswer, check_format, review
from gateway.routing.signals import Agreement, Neighbour, RequestFeatures, RetrievalSignals, RouteStats

__all__ = [
    "Agreement",
    "Decision",
    "Neighbour",
    "RequestFeatures",
    "RetrievalSignals",
    "Review",
    "RouteStats",
    "SmallAnswer",
    "bucket",
    "check_format",
    "decide",
    "next_target",
    "review",
]
