"""The plan's own helpers: what a decided plan carries over from the plan it was made from."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import numpy as np

from gateway.cache import CacheLookup, CacheQuery
from gateway.config.route import RouteConfig
from gateway.config.route_sections import CacheSettings
from gateway.config.snapshot import Route
from gateway.pipeline.plan import Plan, Timings
from gateway.pipeline.resources import RouteResources
from gateway.pipeline.retrieve import Retrieved
from gateway.routing import Decision
from retrieval.types import Hit

CHANGED = {"decision", "messages", "retrieved", "timings"}


def full_plan() -> Plan:
    """A plan with every field set to a value of its own, none left at its default."""
    config = RouteConfig.model_validate({"task": "generation", "targets": {"large": {"model": "m"}},
                                         "policy": {"kind": "fixed", "target": "large"}})
    query = CacheQuery(route="r", route_version="v", index_versions=(), messages=[], params={}, vector=None,
                       settings=CacheSettings())
    return Plan(name="r", route=Route("r", config, Path("r.yaml"), "v"), decision=Decision("", ""),
                messages=[{"role": "user", "content": "hi"}], params={"max_tokens": 3},
                resources=RouteResources(), request_id="req", vector=np.ones(3, dtype=np.float32),
                retrieved=Retrieved(), query=query, lookup=CacheLookup("miss", None, None, "key"),
                timings=Timings(1.0, 2.0, 0.0), input_text="hi", record_id="rec")


def test_decided_sets_the_decision_and_prompt_and_carries_every_other_field() -> None:
    plan = full_plan()
    decision = Decision("large", "fixed -> large")
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}]
    retrieved = Retrieved(examples=[Hit(index="ex", id="ex:1", score=0.9, text="t", output="o")])
    timings = Timings(1.0, 2.0, 3.0)

    decided = plan.decided(decision, messages, retrieved, timings)

    expected = replace(plan, decision=decision, messages=messages, retrieved=retrieved, timings=timings)
    for f in fields(Plan):
        assert getattr(decided, f.name) is getattr(expected, f.name), f.name
    assert {f.name for f in fields(Plan) if getattr(decided, f.name) is not getattr(plan, f.name)} == CHANGED
