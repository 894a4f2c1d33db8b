"""Verification: the client already has its semantic hit; the route's target answers it too, afterwards.

The cache picks which hits to verify (CacheLookup.verify). The check runs the request as a miss
would (retrieve, decide, call the target), compares the answers through the cache, which learns from
the outcome, and writes its own request-log record: decision `cache-verify`, cache `verify`, priced
like any call and with no large-model counterfactual, so `ragway logs summary --by cache` shows what
verifying cost against what the hits saved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field, replace

from gateway.cache import BYPASS, ResponseCache
from gateway.config.live import ConfigStore
from gateway.errors import GatewayError
from gateway.pipeline.context import RequestContext
from gateway.pipeline.execute import TargetRunner
from gateway.pipeline.outcome import Failure, Outcome, decided
from gateway.pipeline.plan import Plan, Timings
from gateway.pipeline.prepare import Preparer
from gateway.schemas import ChatCompletionRequest
from gateway.usage.pricing import fill_costs
from gateway.usage.record import Recorder

logger = logging.getLogger(__name__)
DECISION = "cache-verify"


@dataclass(eq=False)
class Verifier:
    """Runs verification calls as background tasks; `aclose` lets the running ones finish and be logged."""

    config: ConfigStore
    preparer: Preparer
    runner: TargetRunner
    cache: ResponseCache
    recorder: Recorder
    drain_s: float = 30.0
    _tasks: set[asyncio.Task[bool | None]] = field(default_factory=set, init=False)

    def schedule(self, hit: Plan, req: ChatCompletionRequest, ctx: RequestContext) -> None:
        """Verify *hit* later if the cache asked for it; returns at once."""
        if not hit.lookup.verify or hit.query is None or hit.route is None:
            return
        task = asyncio.create_task(self.verify(hit, req, ctx), name="ragway-cache-verify")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def verify(self, hit: Plan, req: ChatCompletionRequest, ctx: RequestContext) -> bool | None:
        """Call the target for *hit*'s request; True when it agrees with the cached answer served."""
        assert hit.route is not None and hit.query is not None
        ts, started = time.time(), time.perf_counter()
        plan = replace(hit, messages=[], lookup=BYPASS, timings=Timings(), input_text="", record_id=uuid.uuid4().hex,
                       request_id=f"{ctx.request_id[:56]}:verify")
        try:
            plan = self.preparer.decide(plan, req, ctx)
            outcome = await self.runner.complete(plan)
        except Failure as failed:
            self._record(plan, ctx, hit, Checked(ts, started, failed.last, None), error=failed.error)
            return None
        except GatewayError as exc:
            self._record(plan, ctx, hit, Checked(ts, started, decided(plan), None), error=exc)
            return None
        agreed = await self.cache.observe(hit.query, hit.lookup, outcome.body)
        self._record(plan, ctx, hit, Checked(ts, started, outcome, agreed))
        return agreed

    async def aclose(self) -> None:
        """Wait up to `drain_s` for running checks (each is billed, so each must be logged), then cancel."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=self.drain_s)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def __len__(self) -> int:
        return len(self._tasks)

    def _record(self, plan: Plan, ctx: RequestContext, hit: Plan, checked: Checked,
                error: GatewayError | None = None) -> None:
        outcome = checked.outcome
        rec = plan.record(ctx)
        rec.ts, rec.cache, rec.decision = checked.ts, "verify", DECISION
        rec.target, rec.model = outcome.target, outcome.model
        if outcome.usage is not None:
            rec.tokens_in, rec.tokens_out = outcome.usage
        verdict = "failed" if error else ("agreed" if checked.agreed else "disagreed")
        rec.reason = f"{DECISION}: {hit.lookup.header()} -> {outcome.target or 'no target'} {verdict}"
        rec.latency.upstream_ms = rec.latency.total_ms = (time.perf_counter() - checked.started) * 1000.0
        if error is not None:
            rec.status, rec.error_type = error.status, error.code
        fill_costs(rec, self.config.current.gateway.models, plan.config, plan.messages)
        # Spend the cache adds: no request would have made this call without it.
        rec.large_cost_usd = 0.0
        self.recorder.record(rec)


@dataclass(frozen=True, slots=True)
class Checked:
    """A verification call: when it began, what it came to, and whether it agreed with the hit."""

    ts: float
    started: float
    outcome: Outcome
    agreed: bool | None
