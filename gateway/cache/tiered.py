"""The response cache: an exact tier, then a semantic tier, over a memory or Redis store."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

import numpy as np

from gateway.cache.answers import answer_digest, text_digest
from gateway.cache.base import Completion
from gateway.cache.bounded import observations_by_leave_one_out
from gateway.cache.contrast import signature
from gateway.cache.eligibility import cacheable, storable
from gateway.cache.evidence import Evidence
from gateway.cache.guard import StoreUnavailable
from gateway.cache.key import exact_key, last_text, semantic_scope
from gateway.cache.query import BYPASS, CacheControl, CacheLookup, CacheQuery
from gateway.cache.rules import Verdict, judge
from gateway.cache.semantic import SemanticEntry, SemanticIndex
from gateway.cache.singleflight import SingleFlight
from gateway.cache.stats import CacheStats
from gateway.cache.stored import StoredAnswer, decode

T = TypeVar("T")


class EntryStore(Protocol):
    """Where serialised responses live; `put` also publishes the semantic entry, if any.

    `get` and `put` raise StoreUnavailable when the store cannot answer now.
    """

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes, ttl_s: int, semantic: SemanticEntry | None) -> None: ...


class TieredCache:
    """Exact key first, then the nearest cached request in the same scope, if the route's rule serves it.

    A `refresh` request skips both reads but is stored; `no_store` and uncacheable requests bypass.
    The model's answer to a miss that had a semantic candidate, and to a verified hit, becomes
    *evidence* for the bounded rule (see gateway/cache/bounded.py).
    """

    def __init__(
        self,
        store: EntryStore,
        index: SemanticIndex,
        stats: CacheStats,
        clock: Callable[[], float] = time.time,
        evidence: Evidence | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.stats = stats
        self.evidence = evidence or Evidence()
        self._store = store
        self._index = index
        self._clock = clock
        self._rng = rng or random.Random()
        self._flights = SingleFlight(stats)

    @property
    def semantic_entries(self) -> int:
        """How many request vectors this replica can match against now."""
        return len(self._index)

    async def start(self) -> None:
        await self._store.start()
        await self.evidence.start()

    async def aclose(self) -> None:
        await self.evidence.aclose()
        await self._store.aclose()

    async def exact(self, q: CacheQuery) -> CacheLookup | None:
        """The exact tier alone, which needs no request vector: a hit, else None (then `lookup` with
        `exact_checked=True` does the rest). A request that bypasses or refreshes reads nothing here."""
        if not cacheable(q) or q.control is CacheControl.REFRESH:
            return None
        try:
            return await self._exact_hit(exact_key(q))
        except StoreUnavailable:
            return None

    async def lookup(self, q: CacheQuery, exact_checked: bool = False) -> CacheLookup:
        if not cacheable(q):
            self.stats.bypasses += 1
            return BYPASS
        key = exact_key(q)
        verdict = None
        if q.control is not CacheControl.REFRESH:
            with contextlib.suppress(StoreUnavailable):
                found, verdict = await self._read(q, key, exact_checked)
                if found is not None:
                    return found
        self.stats.misses += 1
        if verdict is None or verdict.cell is None:
            return CacheLookup(status="miss", stored=None, score=None, key=key)
        return CacheLookup(status="miss", stored=None, score=None, key=key, rule=verdict.rule,
                           cell=verdict.cell, answer=verdict.answer, space=evidence_space(q))

    async def store(self, q: CacheQuery, lookup: CacheLookup, answer: StoredAnswer) -> None:
        if lookup.status != "miss" or not lookup.key:
            return
        if not storable(answer.body):
            self.stats.rejected += 1
            return
        await self.observe(q, lookup, answer.body)
        try:
            await self._store.put(lookup.key, answer.encode(), q.settings.ttl_s,
                                  self._entry(q, lookup.key, answer.body))
        except StoreUnavailable:
            return
        self.stats.stores += 1

    async def observe(self, q: CacheQuery, lookup: CacheLookup, response: Completion) -> bool | None:
        """Whether the model's *response* agrees with the semantic candidate's answer; it becomes evidence.

        None when the lookup had no candidate to compare with (or the response is no answer).
        """
        if not lookup.learns or lookup.cell is None or not storable(response):
            return None
        wrong = answer_digest(response, q.settings.semantic.comparison(q.task)) != lookup.answer
        await self.evidence.observe(lookup.space, lookup.cell, wrong)
        self.stats.evidence += 1
        if lookup.status == "semantic-hit":
            self.stats.verified += 1
            self.stats.verified_wrong += wrong
        return not wrong

    async def pretrain(self, q: CacheQuery, vectors: np.ndarray, answers: Sequence[str]) -> int:
        """Evidence from labelled pairs (a route's eval data), once per route version across replicas.

        *q* names the route, version, settings and task; each pair is asked against all the others.
        """
        semantic = q.settings.semantic
        floor = q.settings.threshold_for(q.task)
        if semantic.active_rule != "bounded" or floor is None or len(answers) < 2:
            return 0
        space = evidence_space(q)
        if not await self.evidence.claim(space):
            return 0
        digests = [text_digest(answer, semantic.comparison(q.task)) for answer in answers]
        found = observations_by_leave_one_out(vectors, digests, semantic.neighbours, floor)
        return await self.evidence.pretrain(space, found)

    async def coalesce(self, key: str, fn: Callable[[], Awaitable[T]]) -> T:
        if not key:
            return await fn()
        return await self._flights.do(key, fn)

    async def fill(self, q: CacheQuery, lookup: CacheLookup,
                   fn: Callable[[], Awaitable[StoredAnswer]]) -> StoredAnswer:
        async def call_and_store() -> StoredAnswer:
            answer = await fn()
            await self.store(q, lookup, answer)
            return answer

        return await self.coalesce(lookup.key, call_and_store)

    async def _exact_hit(self, key: str) -> CacheLookup | None:
        """The answer stored under *key* as a hit, else None; StoreUnavailable when the store is down."""
        stored = decode(await self._store.get(key))
        if stored is None:
            return None
        self.stats.hits += 1
        return CacheLookup(status="hit", stored=stored, score=None, key=key)

    async def _read(self, q: CacheQuery, key: str,
                    exact_checked: bool = False) -> tuple[CacheLookup | None, Verdict | None]:
        if not exact_checked:
            hit = await self._exact_hit(key)
            if hit is not None:
                return hit, None
        verdict = self._verdict(q)
        if verdict is None or not verdict.serve:
            return None, verdict
        stored = decode(await self._store.get(verdict.key))
        if stored is None:
            # Expired or evicted from the store (or Redis restarted empty): forget the vector too.
            self._index.discard(verdict.key)
            return None, None
        self.stats.semantic_hits += 1
        self.stats.verify_requested += verdict.verify
        hit = CacheLookup(status="semantic-hit", stored=stored, score=verdict.score, key=key,
                          rule=verdict.rule, error=verdict.error, verify=verdict.verify, cell=verdict.cell,
                          answer=verdict.answer, space=evidence_space(q))
        return hit, verdict

    def _verdict(self, q: CacheQuery) -> Verdict | None:
        threshold = q.settings.threshold_for(q.task)
        if threshold is None or q.vector is None:
            return None
        semantic = q.settings.semantic
        found = self._index.neighbours(semantic_scope(q), q.vector, semantic.neighbours)
        verdict = judge(found, signature(last_text(q.messages)), threshold, semantic, self.evidence, evidence_space(q),
                        self._rng)
        if verdict is not None and verdict.blocked is not None:
            self.stats.guarded += 1
        return verdict

    def _entry(self, q: CacheQuery, key: str, response: Completion) -> SemanticEntry | None:
        if q.vector is None or q.settings.threshold_for(q.task) is None:
            return None
        return SemanticEntry(
            scope=semantic_scope(q),
            key=key,
            vector=q.vector,
            expires_at=self._clock() + q.settings.ttl_s,
            answer=answer_digest(response, q.settings.semantic.comparison(q.task)),
            text=last_text(q.messages),
        )


def evidence_space(q: CacheQuery) -> str:
    """Where bounded-cache evidence is pooled: one route version (its cached answers share that key too)."""
    return f"{q.route}@{q.route_version}"

