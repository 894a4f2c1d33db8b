"""Bounded work per request (issue 12): what a hostile or careless client can cost the gateway.

Three rows, each with its baseline from the same run, against a real gateway (auth closed, request
log on) in front of the zero-latency stub upstream:

- a 300 MiB chunked body (no Content-Length): its status and the gateway's RSS growth, against the
  same gateway after one ordinary request;
- 5,000 connections that never finish their headers: how many the header timeout closed, and when;
- one /v1/embeddings request of 2,048 distinct inputs while RAG chat requests run one after another:
  chat latency against chat alone, with the embeddings queued in slices (the default) and all at once
  (`embedder.request_slice: 2048`, the old behaviour).

Run: `python -m bench.bench_security` (writes its section of docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import socket
import statistics
import sys
import time
from pathlib import Path

import httpx
import yaml

from bench.procs import Command, running, tree_rss_bytes
from bench.report import markdown_table, print_table, write_section
from tests.servers import free_port

TITLE = "Security boundary: bounded work per request"
REPO = Path(__file__).resolve().parent.parent
KEYS = {"BENCH_CLIENT_KEY": "sk-bench-client", "BENCH_ADMIN_KEY": "sk-bench-admin", "BENCH_STUB_KEY": "sk-stub"}
AUTH = {"authorization": "Bearer sk-bench-client"}
MIB = 1 << 20


def write_configs(root: Path, stub_port: int, request_slice: int) -> Path:
    gateway = {
        "server": {"header_timeout_s": 10, "max_connections": 8192},
        "auth": {"open": False, "client_key_envs": ["BENCH_CLIENT_KEY"], "admin_key_envs": ["BENCH_ADMIN_KEY"]},
        "models": {"stub": {"model": "openai/stub", "api_base": f"http://127.0.0.1:{stub_port}/v1",
                            "api_key_env": "BENCH_STUB_KEY", "provider": "openai_compatible", "retries": 0}},
        "embedder": {"cache_size": 0, "request_slice": request_slice},
        "log": {"url": f"sqlite:///{root / 'logs.db'}"},
        "indexes_dir": str(REPO / "indexes"),
    }
    route = {"task": "classification", "system_prompt": "Classify the banking question.",
             "targets": {"large": {"model": "stub"}}, "policy": {"kind": "fixed", "target": "large"},
             "retrieval": {"examples": {"index": "banking77-examples", "k": 4}}, "cache": {"enabled": False}}
    (root / "routes").mkdir(parents=True, exist_ok=True)
    (root / "gateway.yaml").write_text(yaml.safe_dump(gateway))
    (root / "routes" / "rag.yaml").write_text(yaml.safe_dump(route))
    return root


def gateway_command(root: Path, port: int) -> Command:
    def ready() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    argv = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(root), "--port", str(port)]
    return Command(f"ragway-{root.name}", argv, ready, env=KEYS, cwd=REPO, start_timeout_s=600)


def stub_command(port: int) -> Command:
    def ready() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    argv = [sys.executable, "-m", "bench.stub_upstream", "--port", str(port)]
    return Command("stub", argv, ready, cwd=REPO)


def chat(port: int, text: str) -> float:
    body = {"model": "rag", "messages": [{"role": "user", "content": text}]}
    started = time.perf_counter()
    response = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, headers=AUTH, timeout=120)
    response.raise_for_status()
    return (time.perf_counter() - started) * 1000


def big_body_row(port: int, pid: int, size: int) -> list[object]:
    """Send *size* bytes chunked (no Content-Length) and read the status; RSS before and after."""
    chat(port, "warm up the request path")
    before = tree_rss_bytes(pid)

    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"model": "rag", "messages": [{"role": "user", "content": "'
        for _ in range(size // MIB):
            yield b"x" * MIB
        yield b'"}]}'

    headers = {**AUTH, "content-type": "application/json"}
    try:
        status = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", content=chunks(), headers=headers,
                            timeout=300).status_code
    except httpx.HTTPError as exc:  # the gateway may close the connection once it has answered 413
        status = type(exc).__name__
    growth = (tree_rss_bytes(pid) - before) / MIB
    return [f"{size // MIB} MiB chunked body", status, round(before / MIB), round(growth, 1)]


def idle_connections_row(port: int, count: int, timeout_s: float) -> list[object]:
    """Open *count* connections that send half a request head; count the ones still open over time."""
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
        socks.append(sock)
    opened = time.monotonic()
    during = chat(port, "a request while the connections are held")
    still_open = count
    while still_open and time.monotonic() - opened < timeout_s * 4:
        time.sleep(0.5)
        still_open = sum(1 for sock in socks if not peer_closed(sock))
    closed_after = time.monotonic() - opened
    for sock in socks:
        sock.close()
    return [f"{count} half-open connections", count - still_open, round(closed_after, 1), round(during, 1)]


def peer_closed(sock: socket.socket) -> bool:
    """Whether the other end closed *sock*; the socket is made non-blocking to ask."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


async def _chat_during(port: int, texts: list[str], inputs: list[str]) -> tuple[list[float], float]:
    """Chat latencies measured one after another while one embeddings request of *inputs* runs."""
    async with httpx.AsyncClient(timeout=600, headers=AUTH) as client:
        started = time.perf_counter()
        embeddings = asyncio.create_task(client.post(f"http://127.0.0.1:{port}/v1/embeddings",
                                                     json={"model": "e", "input": inputs}))
        await asyncio.sleep(0.2)
        latencies = []
        for text in texts:
            if embeddings.done():
                break
            t0 = time.perf_counter()
            response = await client.post(f"http://127.0.0.1:{port}/v1/chat/completions",
                                          json={"model": "rag", "messages": [{"role": "user", "content": text}]})
            response.raise_for_status()
            latencies.append((time.perf_counter() - t0) * 1000)
        (await embeddings).raise_for_status()
        return latencies, (time.perf_counter() - started) * 1000


def embeddings_rows(port: int, label: str, texts: list[str], inputs: list[str]) -> list[list[object]]:
    alone = [chat(port, text) for text in texts[:100]]
    during, embed_ms = asyncio.run(_chat_during(port, texts[100:], inputs))
    base, base_p95 = statistics.median(alone), _p95(alone)
    if not during:
        return [[label, 0, round(base, 1), "-", round(base_p95, 1), "-", "-", "-", round(embed_ms / 1000, 1)]]
    p50, p95 = statistics.median(during), _p95(during)
    return [[label, len(during), round(base, 1), round(p50, 1), round(base_p95, 1), round(p95, 1),
             round(p50 / base, 2), round(p95 / base_p95, 2), round(embed_ms / 1000, 1)]]


def _p95(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.95)]


def banking77_texts(data: Path) -> list[str]:
    with (data / "test.csv").open(newline="", encoding="utf-8") as handle:
        return list(dict.fromkeys(row["text"] for row in csv.DictReader(handle)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_security", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "banking77")
    parser.add_argument("--body-mib", type=int, default=300)
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--work", type=Path, default=REPO / "bench" / ".run" / "security")
    args = parser.parse_args(argv)
    texts = banking77_texts(args.data)
    inputs, chats = texts[:2048], texts[2048:2048 + 400]
    stub_port = free_port()
    limits, embed = [], []
    with running(stub_command(stub_port), args.work):
        for request_slice, label in ((16, "sliced (request_slice 16, default)"), (2048, "all at once (old)")):
            root = write_configs(args.work / f"slice{request_slice}", stub_port, request_slice)
            port = free_port()
            with running(gateway_command(root, port), args.work) as gateway:
                embed += embeddings_rows(port, label, chats, inputs)
                if request_slice == 16:
                    limits.append(big_body_row(port, gateway.pid, args.body_mib * MIB))
                    limits.append(idle_connections_row(port, args.connections, 10))
    report(limits, embed)


def report(limits: list[list[object]], embed: list[list[object]]) -> None:
    limit_headers = ["probe", "status / closed", "RSS before (MiB) / closed after (s)", "RSS growth (MiB) / chat ms"]
    embed_headers = ["embeddings queued", "chats measured", "chat alone p50 ms", "chat during p50 ms",
                     "chat alone p95 ms", "chat during p95 ms", "p50 ratio", "p95 ratio", "embeddings s"]
    print_table(TITLE, limit_headers, limits)
    print_table("2,048-input embeddings against concurrent chat", embed_headers, embed)
    write_section(TITLE, "\n".join([
        "`python -m bench.bench_security`: one gateway (auth closed, request log on, one worker) in front of the",
        "benchmark stub; the RAG route embeds each message and retrieves 4 banking77 examples. Each ratio is",
        "against a baseline from the same run (this machine is shared, so absolute times are noisy).",
        "",
        "| probe | result | before / timing | growth / chat |",
        "| --- | ---: | ---: | ---: |",
        *[f"| {row[0]} | {row[1]} | {row[2]} | {row[3]} |" for row in limits],
        "",
        "The body row is: status, RSS before (MiB), RSS growth (MiB). The connections row is: connections the",
        "header timeout (10 s) closed, seconds until the last closed, and one chat request's latency (ms) while",
        "they were held.",
        "",
        markdown_table(embed_headers, embed),
        "",
        "The embeddings request holds 2,048 distinct banking77 test questions; chat requests (other test",
        "questions) run one after another until it finishes. `p50 ratio` and `p95 ratio` are chat latency",
        "during it over chat latency alone (100 requests just before, on the same gateway). Sliced, a chat",
        "request waits behind at most one slice of 16 texts; all at once (the old behaviour), a chat request",
        "sent while the 2,048 texts sat in the batcher's queue waited for all of them (the old row's p95), and",
        "only a few chats finished during the request, so that row's p50 means little.",
    ]))


if __name__ == "__main__":
    main()
