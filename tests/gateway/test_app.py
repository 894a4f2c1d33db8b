"""The app factory: what its lifespan does besides building the dependencies."""

from __future__ import annotations

import gc
from pathlib import Path

from fastapi.testclient import TestClient

from gateway.app import create_app
from tests.gateway.conftest import CHAT_ROUTE
from tests.servers import free_port, write_config


def test_startup_objects_are_frozen_out_of_garbage_collection(tmp_path: Path) -> None:
    """Full collections would otherwise walk torch's and litellm's objects and stall requests (bench/)."""
    models = {"smollm2": {"model": "openai/smollm2", "api_base": f"http://127.0.0.1:{free_port()}/v1"}}
    root = write_config(tmp_path / "configs", {"auth": {"open": True}, "models": models, "log": {"enabled": False}},
                        {"chat": CHAT_ROUTE})
    gc.unfreeze()
    try:
        with TestClient(create_app(root, watch=False)) as client:
            assert client.get("/healthz").status_code == 200
            assert gc.get_freeze_count() > 100_000
    finally:
        gc.unfreeze()
