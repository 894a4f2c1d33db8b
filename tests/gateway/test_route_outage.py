"""A route whose index or classifier artifact is missing is unavailable; the others serve, and both commands say so."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gateway.app import create_app
from gateway.cli import app as cli_app
from gateway.config.live import ConfigStore
from tests.gateway.conftest import CHAT_ROUTE
from tests.servers import free_port, write_config

BROKEN = {**CHAT_ROUTE, "retrieval": {"examples": {"index": "never-built", "k": 4}}}
NO_HEAD = {**CHAT_ROUTE, "task": "classification",
           "targets": {"large": {"model": "smollm2"}, "small": {"classifier": "artifacts/none"}},
           "policy": {"kind": "fixed", "target": "small"}}


def configs(tmp_path: Path, routes: dict) -> Path:
    models = {"smollm2": {"model": "openai/smollm2", "api_base": f"http://127.0.0.1:{free_port()}/v1"}}
    gateway = {"auth": {"open": True}, "models": models, "log": {"enabled": False},
               "indexes_dir": str(tmp_path / "indexes")}
    return write_config(tmp_path / "configs", gateway, routes)


def test_missing_index_makes_one_route_unavailable_and_the_rest_serve(tmp_path: Path) -> None:
    root = configs(tmp_path, {"chat": CHAT_ROUTE, "broken": BROKEN, "headless": NO_HEAD})

    with TestClient(create_app(root, watch=False)) as client:
        answer = client.post("/v1/chat/completions",
                             json={"model": "broken", "messages": [{"role": "user", "content": "hi"}]})
        ready = client.get("/readyz").json()

    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["code"] == "route_unavailable"
    assert "never-built" in error["message"] and "ragway index build --name never-built" in error["message"]
    assert ready["routes"] == ["chat"]
    assert set(ready["unavailable_routes"]) == {"broken", "headless"}
    assert "ragway finetune --route headless" in ready["unavailable_routes"]["headless"]


def test_an_edit_that_breaks_a_serving_route_is_refused(tmp_path: Path) -> None:
    from gateway.wiring import build_deps

    root = configs(tmp_path, {"chat": CHAT_ROUTE})
    store = ConfigStore.open(root)
    build_deps(store)
    (root / "routes" / "chat.yaml").write_text(
        "targets: {large: {model: smollm2}}\nretrieval: {examples: {index: never-built}}\n")

    result = store.reload()

    assert not result.ok and "never-built" in result.message
    assert "chat" not in store.live.resources.unavailable


def test_config_check_loads_what_serve_loads(tmp_path: Path) -> None:
    runner = CliRunner()
    good = runner.invoke(cli_app, ["config", "check", "--config", str(configs(tmp_path / "a", {"chat": CHAT_ROUTE}))])
    bad = runner.invoke(cli_app, ["config", "check", "--config",
                                  str(configs(tmp_path / "b", {"chat": CHAT_ROUTE, "broken": BROKEN}))])
    files = runner.invoke(cli_app, ["config", "check", "--files-only", "--config", str(tmp_path / "b" / "configs")])

    assert good.exit_code == 0, good.output
    assert "ready" in good.stdout
    assert bad.exit_code == 1
    assert "route 'broken' unavailable" in bad.stderr and "ragway index build --name never-built" in bad.stderr
    assert files.exit_code == 0 and "files ok" in files.stdout
