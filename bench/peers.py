"""The systems under test: how each starts, where it listens, what its requests carry."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.procs import Command
from bench.stub_upstream import ANSWER

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
HOST = "127.0.0.1"
STUB_PORT = 9100
LITELLM_PORT = 4000
PORTKEY_PORT = 8787
RAGWAY_PORT = 8100
LITELLM_KEY = "sk-bench-litellm"
STUB_KEY = "sk-bench-stub"
RAGWAY_KEY = "sk-bench-ragway"
LITELLM_BIN = BENCH_DIR / ".venv-litellm" / "bin" / "litellm"
PORTKEY_SERVER = BENCH_DIR / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
RAGWAY_CONFIG = BENCH_DIR / "configs"
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "TOKENIZERS_PARALLELISM": "false",
}


@dataclass(frozen=True)
class Endpoint:
    """A chat completions URL and the headers every request to it carries ("Name: value")."""

    url: str
    headers: tuple[str, ...] = ()

    def answers(self, model: str) -> bool:
        """True when one chat request through this endpoint comes back 200 with the stub's answer."""
        status, body = post_chat(self, model)
        return status == 200 and ANSWER in body


def ragway_meta(endpoint: Endpoint, model: str, content: str) -> dict:
    """The `ragway` field of one response: route, target, cache status and what was retrieved."""
    status, body = post_chat(endpoint, model, content)
    if status != 200:
        return {}
    meta = json.loads(body).get("ragway")
    return meta if isinstance(meta, dict) else {}


def post_chat(endpoint: Endpoint, model: str, content: str = "ping", timeout_s: float = 5.0) -> tuple[int, str]:
    """One chat completion request: (status, body text); status 0 when nothing answered."""
    payload = json.dumps({"model": model, "messages": [{"role": "user", "content": content}]}).encode()
    return post_raw(endpoint, payload, timeout_s)


def post_raw(endpoint: Endpoint, payload: bytes, timeout_s: float = 10.0) -> tuple[int, str]:
    """POST *payload* as it is: (status, body text); status 0 when nothing answered."""
    headers = {"Content-Type": "application/json"}
    headers.update(dict(h.split(": ", 1) for h in endpoint.headers))
    request = urllib.request.Request(endpoint.url, data=payload, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError):
        return 0, ""


def stub_calls() -> int:
    """Chat requests the stub upstream has answered since it started (-1 when it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{STUB_PORT}/stats", timeout=5) as response:
            return int(json.loads(response.read())["requests"])
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return -1


def _chat_url(port: int) -> str:
    return f"http://{HOST}:{port}/v1/chat/completions"


def _ready(endpoint: Endpoint, model: str) -> Callable[[], bool]:
    return lambda: endpoint.answers(model)


@dataclass(frozen=True)
class System:
    """One server under test: its command, its endpoint, and the model name its requests use."""

    name: str
    command: Command
    endpoint: Endpoint
    model: str


def stub() -> System:
    endpoint = Endpoint(_chat_url(STUB_PORT))
    argv = [sys.executable, "-m", "bench.stub_upstream", "--host", HOST, "--port", str(STUB_PORT)]
    return System("stub", Command("stub", argv, _ready(endpoint, "stub"), cwd=REPO_ROOT), endpoint, "stub")


def litellm(workers: int = 1) -> System:
    endpoint = Endpoint(_chat_url(LITELLM_PORT), (f"Authorization: Bearer {LITELLM_KEY}",))
    argv = [str(LITELLM_BIN), "--config", str(BENCH_DIR / "litellm.yaml")]
    argv += ["--host", HOST, "--port", str(LITELLM_PORT), "--num_workers", str(workers)]
    env = {**OFFLINE_ENV, "LITELLM_MASTER_KEY": LITELLM_KEY, "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False"}
    # its imports take minutes on a busy 2-core machine, twice with 2 workers
    command = Command(f"litellm-{workers}w", argv, _ready(endpoint, "stub"), env=env, start_timeout_s=600)
    return System("LiteLLM Proxy", command, endpoint, "stub")


def portkey() -> System:
    headers = (
        "x-portkey-provider: openai",
        f"x-portkey-custom-host: http://{HOST}:{STUB_PORT}/v1",
        f"Authorization: Bearer {STUB_KEY}",
    )
    endpoint = Endpoint(_chat_url(PORTKEY_PORT), headers)
    # --port=N is the only form start-server.js parses; --headless skips the web UI; production skips its dev extras
    argv = ["node", str(PORTKEY_SERVER), f"--port={PORTKEY_PORT}", "--headless"]
    env = {"NODE_ENV": "production"}
    return System("Portkey", Command("portkey", argv, _ready(endpoint, "stub"), env=env), endpoint, "stub")


def ragway(route: str, workers: int = 1, port: int = RAGWAY_PORT, config: Path = RAGWAY_CONFIG) -> System:
    """ragway serving the bench config, auth closed: every request carries the client key."""
    endpoint = Endpoint(_chat_url(port), (f"Authorization: Bearer {RAGWAY_KEY}",))
    argv = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--host", HOST]
    argv += ["--port", str(port), "--workers", str(workers)]
    env = {**OFFLINE_ENV, "BENCH_STUB_KEY": STUB_KEY, "BENCH_RAGWAY_KEY": RAGWAY_KEY}
    name = f"ragway-{workers}w"
    command = Command(name, argv, _ready(endpoint, route), env=env, cwd=REPO_ROOT, start_timeout_s=180)
    return System(name, command, endpoint, route)
