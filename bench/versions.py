"""Versions of everything a benchmark row depends on, read from what is installed, never assumed."""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata

from bench.peers import LITELLM_BIN, PORTKEY_SERVER, RAGWAY_CONFIG


def versions() -> dict[str, str]:
    """Python, ragway and its HTTP and embedding stack, the peers, node and wrk."""
    found = {"Python": platform.python_version()}
    for dist in ("ragway", "fastapi", "uvicorn", "aiohttp", "orjson", "uvloop", "torch", "sentence-transformers",
                 "onnxruntime", "faiss-cpu"):
        found[dist] = _dist_version(dist)
    found["embedder backend (bench config)"] = _backend()
    found["embedder precision (auto, torch backend)"] = _precision()
    found["LiteLLM Proxy (litellm)"] = _litellm_version()
    found["Portkey gateway (@portkey-ai/gateway)"] = _portkey_version()
    found["node"] = _output(["node", "--version"]).lstrip("v")
    found["wrk"] = _wrk_version()
    return found


def _backend() -> str:
    """The bench config's embedder backend, int8 or float32 weights for onnx."""
    import yaml

    from gateway.config.gateway_sections import EmbedderConfig

    section = yaml.safe_load((RAGWAY_CONFIG / "gateway.yaml").read_text(encoding="utf-8")).get("embedder") or {}
    settings = EmbedderConfig.model_validate(section)
    weights = " (int8 weights)" if settings.quantize else " (float32 weights)"
    return settings.backend + (weights if settings.backend == "onnx" else "")


def _precision() -> str:
    from retrieval.embedder import resolve_precision

    return resolve_precision("auto", "cpu")


def _dist_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _litellm_version() -> str:
    python = LITELLM_BIN.with_name("python")
    if not python.exists():
        return "not installed"
    return _output([str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"])


def _portkey_version() -> str:
    manifest = PORTKEY_SERVER.parents[1] / "package.json"
    try:
        return json.loads(manifest.read_text())["version"]
    except (OSError, KeyError, ValueError):
        return "not installed"


def _wrk_version() -> str:
    # `wrk -v` prints "wrk debian/4.1.0-3+b2 [epoll] Copyright ..." and exits non-zero
    words = _output(["wrk", "-v"]).split()
    return words[1] if len(words) > 1 else "not installed"


def _output(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr).strip() else "?"
