"""With the onnx embedder (the default) the serving process never loads torch: ~300 MiB it does not need."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import write_config

pytestmark = [pytest.mark.slow]
ROUTE = {"task": "classification", "targets": {"large": {"model": "big"}},
         "policy": {"kind": "fixed", "target": "large"}, "cache": {"enabled": True}}
PROBE = """
import sys
from pathlib import Path
from gateway.config.live import ConfigStore
from gateway.wiring import build_deps
import gateway.app
deps = build_deps(ConfigStore.open(Path(sys.argv[1])))
deps.batcher.embedder.encode(["does this load torch?"])
deps.tokens.count(["nor this"])
print("torch" in sys.modules, "transformers" in sys.modules)
"""


def test_the_gateway_serves_without_importing_torch(onnx_embedder, onnx_cache: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                    repo_root: Path) -> None:
    gateway = {"auth": {"open": True}, "models": {"big": {"model": "openai/big", "api_base": "http://127.0.0.1:9/v1"}},
               "embedder": {"cache_dir": str(onnx_cache)}}
    root = write_config(tmp_path / "configs", gateway, {"chat": ROUTE})
    done = subprocess.run([sys.executable, "-c", PROBE, str(root)], capture_output=True, text=True, timeout=300,
                          cwd=repo_root, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "False"]
