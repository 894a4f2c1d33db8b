"""A second gateway replica's cache, run as its own process by the Redis tests.

    python -m tests.gateway.cache.replica URL PREFIX write N   # store N exact+semantic answers
    python -m tests.gateway.cache.replica URL PREFIX read N    # start (catch-up), print statuses as JSON
"""

from __future__ import annotations

import asyncio
import json
import sys
import zlib

from gateway.cache import CacheQuery, StoredAnswer, build_cache
from gateway.config.gateway_sections import CacheStoreConfig
from gateway.config.route_sections import CacheSettings
from tests.gateway.cache.conftest import DIM, completion, near, query, unit

SETTINGS = CacheSettings(semantic_threshold=0.9)


def exact_query(i: int, tag: str) -> CacheQuery:
    return query(f"{tag} question {i}", vector=unit(_seed(i, tag)), settings=SETTINGS)


def paraphrase_query(i: int, tag: str) -> CacheQuery:
    """Different words, a vector at cosine 0.97 to the original: a semantic hit, never an exact one."""
    return query(f"{tag} paraphrase {i}", vector=near(unit(_seed(i, tag)), 0.97), settings=SETTINGS)


def _seed(i: int, tag: str) -> int:
    return zlib.crc32(tag.encode()) + i


async def write(url: str, prefix: str, n: int, tag: str) -> list[str]:
    cache = build_cache(CacheStoreConfig(url=url, key_prefix=prefix), DIM)
    await cache.start()
    statuses = []
    for i in range(n):
        q = exact_query(i, tag)
        lookup = await cache.lookup(q)
        await cache.store(q, lookup, StoredAnswer(completion(f"{tag} answer {i}")))
        statuses.append(lookup.status)
    await cache.aclose()
    return statuses


async def read(url: str, prefix: str, n: int, tag: str) -> list[str]:
    cache = build_cache(CacheStoreConfig(url=url, key_prefix=prefix), DIM)
    await cache.start()
    statuses = []
    for i in range(n):
        statuses.append((await cache.lookup(exact_query(i, tag))).status)
        statuses.append((await cache.lookup(paraphrase_query(i, tag))).header())
    await cache.aclose()
    return statuses


def main() -> None:
    url, prefix, mode, n, tag = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    run = write if mode == "write" else read
    print(json.dumps(asyncio.run(run(url, prefix, n, tag))))


if __name__ == "__main__":
    main()
