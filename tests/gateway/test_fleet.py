"""Three replicas behind Debian's nginx, sharing PostgreSQL, Redis and one index folder.

Real processes throughout: the replicas (`ragway serve`), nginx, Redis, PostgreSQL and
`ragway index add`. The upstream is the benchmark stub, here as a recording upstream: its
request count is what the books must match.
"""

from __future__ import annotations

import asyncio
import csv
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from gateway.fleet import Fleet
from tests.servers import PG, REPO, free_port, pg_schema, stop, wait_for, wait_http, write_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]  # three replicas start at once: slow on a busy machine

FIRST_ROWS = 200
ADDED_ROWS = 1000


@dataclass
class Load:
    """Requests through nginx from a background thread, CONCURRENCY at a time, until stopped."""

    url: str
    texts: list[str]
    concurrency: int = 8
    prefix: str = field(default_factory=lambda: f"fleet-{uuid.uuid4().hex[:8]}")
    answered: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Load:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        return self

    def finish(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(120)

    async def _run(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as client:
            await asyncio.gather(*(self._worker(client, w) for w in range(self.concurrency)))

    async def _worker(self, client: httpx.AsyncClient, worker: int) -> None:
        n = 0
        while not self._stop.is_set():
            request_id = f"{self.prefix}-{worker}-{n}"
            body = {"model": "rag", "messages": [{"role": "user", "content": self.texts[n % len(self.texts)]}]}
            # half the clients send an Idempotency-Key (as a client that retries would), half do not
            headers = {"x-request-id": request_id, **({"idempotency-key": request_id} if n % 2 else {})}
            n += 1
            try:
                response = await client.post("/v1/chat/completions", json=body, headers=headers)
                ok = response.status_code == 200 and response.json()["choices"][0]["message"]["content"]
            except httpx.HTTPError as exc:
                ok, response = False, exc
            (self.answered if ok else self.failed).append(request_id if ok else f"{request_id}: {response}")


def banking_rows(banking77_dir: Path) -> list[dict[str, str]]:
    with (banking77_dir / "train.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))[: FIRST_ROWS + ADDED_ROWS]


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "category"])
        writer.writeheader()
        writer.writerows({"text": r["text"], "category": r["category"]} for r in rows)
    return path


def ragway(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], cwd=REPO, check=True, capture_output=True,
                          text=True, timeout=1200)


@pytest.fixture(scope="module")
def log_schema() -> Iterator[str]:
    with pg_schema("ragway_fleet") as schema:
        yield schema


@pytest.fixture(scope="module")
def stub_url() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.stub_upstream", "--port", str(port)], cwd=REPO)
    wait_http(f"http://127.0.0.1:{port}/v1/models", 30, process)
    yield f"http://127.0.0.1:{port}"
    stop(process)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, banking77_dir: Path, stub_url: str,
          log_schema: str) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("fleet")
    rows = banking_rows(banking77_dir)
    indexes = root / "indexes"
    first = write_csv(root / "first.csv", rows[:FIRST_ROWS])
    gateway = {
        "auth": {"open": True},
        "models": {"stub": {"model": "openai/stub", "api_base": f"{stub_url}/v1", "retries": 0,
                            "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}},
        "cache": {"url": "redis://127.0.0.1:6379/0", "key_prefix": f"ragway-fleet-{uuid.uuid4().hex[:8]}"},
        "log": {"url": f"postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{log_schema}",
                "flush_interval_s": 0.2},
        "indexes_dir": str(indexes),
        "artifacts_poll_s": 0.5,
    }
    route = {"task": "classification", "system_prompt": "Name the intent.", "targets": {"large": {"model": "stub"}},
             "policy": {"kind": "fixed", "target": "large"}, "cache": {"enabled": False},
             "retrieval": {"examples": {"index": "faq", "k": 3, "min_score": 0.0}}}
    config = write_config(root / "configs", gateway, {"rag": route})
    ragway("index", "build", "--name", "faq", "--examples", str(first), "--indexes-dir", str(indexes),
           "--config", str(config))
    fleet = Fleet(config, root / "run", free_port(), replicas=3, start_timeout_s=1200)
    fleet.start()
    yield fleet
    fleet.stop()


def records(schema: str, prefix: str) -> list[tuple[str, str, float]]:
    engine = create_engine(PG)
    try:
        with engine.connect() as conn:
            conn.execute(text(f'SET search_path TO "{schema}"'))
            query = text("SELECT request_id, cache, cost_usd FROM request_log WHERE request_id LIKE :p")
            return [tuple(row) for row in conn.execute(query, {"p": f"{prefix}%"})]
    finally:
        engine.dispose()


def upstream_calls(stub_url: str) -> int:
    return httpx.get(f"{stub_url}/stats").json()["requests"]


def test_sigterm_mid_load_fails_nothing_and_books_match(fleet: Fleet, banking77_dir: Path, stub_url: str,
                                                         log_schema: str) -> None:
    calls_before = upstream_calls(stub_url)
    texts = [r["text"] for r in banking_rows(banking77_dir)[:FIRST_ROWS]]
    load = Load(fleet.url, texts).start()
    time.sleep(3)
    fleet.terminate(0)
    drained_at = time.monotonic()
    # uvicorn re-raises the SIGTERM it handled once it has drained, so the exit status names the signal
    assert fleet.wait_exit(0) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in fleet.members[0].log.read_text(errors="replace")
    print(f"\nreplica 0 drained and exited in {time.monotonic() - drained_at:.1f}s")
    fleet.start_replica(0)
    restarted = len(load.answered)
    time.sleep(3)
    load.finish()
    assert not load.failed, load.failed[:5]
    assert len(load.answered) > restarted > 0
    assert wait_for(lambda: len(records(log_schema, load.prefix)) >= len(load.answered), 20)
    books = records(log_schema, load.prefix)
    ids = [request_id for request_id, _, _ in books]
    print(f"fleet: {len(load.answered)} answered, 0 failed, {len(books)} records, "
          f"{upstream_calls(stub_url) - calls_before} upstream calls")
    assert sorted(ids) == sorted(load.answered)  # one record per answer, none twice
    assert upstream_calls(stub_url) - calls_before == len(books)  # each upstream call billed once
    assert all(cost > 0 for _, _, cost in books)


def test_idempotency_key_retry_on_another_replica_bills_once(fleet: Fleet, stub_url: str, log_schema: str) -> None:
    prefix = f"idem-{uuid.uuid4().hex[:8]}"
    body = {"model": "rag", "messages": [{"role": "user", "content": "I lost my card yesterday"}]}
    calls_before = upstream_calls(stub_url)

    async def both() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(*(
                client.post(f"{member.url}/v1/chat/completions", json=body,
                            headers={"idempotency-key": prefix, "x-request-id": f"{prefix}-{n}"})
                for n, member in enumerate(fleet.members)))

    answers = asyncio.run(both())
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert len({a.json()["id"] for a in answers}) == 1
    assert upstream_calls(stub_url) - calls_before == 1
    assert sorted(a.headers.get("idempotent-replayed", "false") for a in answers) == ["false", "true", "true"]
    assert wait_for(lambda: len(records(log_schema, prefix)) == 3, 10)
    costs = sorted((cache, cost > 0) for _, cache, cost in records(log_schema, prefix))
    assert costs == [("bypass", True), ("replay", False), ("replay", False)]

    other = {**body, "messages": [{"role": "user", "content": "a different question"}]}
    refused = httpx.post(f"{fleet.members[1].url}/v1/chat/completions", json=other,
                         headers={"idempotency-key": prefix}, timeout=30)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "idempotency_conflict"


def test_index_add_is_served_by_every_replica_within_5s(fleet: Fleet, banking77_dir: Path, tmp_path: Path) -> None:
    rows = banking_rows(banking77_dir)
    added = write_csv(tmp_path / "added.csv", rows[FIRST_ROWS:])
    probe = rows[-1]["text"]
    load = Load(fleet.url, [r["text"] for r in rows[:FIRST_ROWS]], concurrency=4).start()
    try:
        indexes = fleet.config_dir.parent / "indexes"
        ragway("index", "add", "faq", "--examples", str(added), "--indexes-dir", str(indexes),
               "--config", str(fleet.config_dir))
        swapped = time.monotonic()

        def answers_from_added_rows(member_url: str) -> bool:
            response = httpx.post(f"{member_url}/v1/chat/completions", timeout=30,
                                  json={"model": "rag", "messages": [{"role": "user", "content": probe}]})
            hits = [hit.split(":") for hit in response.headers["x-ragway-retrieved"].split(",")]
            return any(int(row) >= FIRST_ROWS and float(score) > 0.99 for _, row, score in hits)

        assert wait_for(lambda: all(answers_from_added_rows(m.url) for m in fleet.members), 5)
        print(f"\nindex add of {ADDED_ROWS} rows: every replica answered from it "
              f"{time.monotonic() - swapped:.2f}s after the swap")
    finally:
        load.finish()
    assert not load.failed, load.failed[:5]
    assert load.answered
