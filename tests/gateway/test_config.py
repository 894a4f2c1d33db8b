"""Config validation: unknown keys and bad values are refused naming file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.config import load_snapshot
from gateway.config.live import ConfigStore
from gateway.errors import ConfigError
from tests.servers import write_config

GATEWAY = {"auth": {"open": True}, "models": {"m": {"model": "openai/m", "api_base": "http://127.0.0.1:9/v1"}}}
ROUTE = {"task": "generation", "targets": {"large": {"model": "m"}}, "policy": {"kind": "fixed", "target": "large"}}


def make(tmp_path: Path, route_text: str | None = None) -> Path:
    root = write_config(tmp_path / "configs", GATEWAY, {"chat": ROUTE})
    if route_text is not None:
        (root / "routes" / "chat.yaml").write_text(route_text)
    return root


def test_repo_configs_are_valid(repo_root: Path) -> None:
    snapshot = load_snapshot(repo_root / "configs")
    assert "chat" in snapshot.routes


def test_valid_route_loads_with_version(tmp_path: Path) -> None:
    snapshot = load_snapshot(make(tmp_path))
    route = snapshot.routes["chat"]
    assert route.config.targets["large"].model == "m"
    assert len(route.version) == 12


@pytest.mark.parametrize(("extra", "needs_vector"), [
    ({}, False),
    ({"cache": {"enabled": False}}, False),
    ({"retrieval": {"examples": {"index": "ex", "k": 2}}}, True),
    ({"task": "classification"}, True),  # its cache looks up by similarity by default
    ({"task": "classification", "cache": {"enabled": False}}, False),
    ({"targets": {"large": {"model": "m"}, "small": {"model": "m"}},
      "policy": {"kind": "cascade", "small": "small", "large": "large"}}, True),
    ({"targets": {"large": {"model": "m"}, "head": {"classifier": "heads/x"}}}, True),
])
def test_route_knows_whether_it_reads_the_request_embedding(tmp_path: Path, extra: dict,
                                                             needs_vector: bool) -> None:
    root = write_config(tmp_path / "configs", GATEWAY, {"chat": {**ROUTE, **extra}})
    assert load_snapshot(root).routes["chat"].needs_vector is needs_vector


def test_route_passthrough_params_are_a_set(tmp_path: Path) -> None:
    root = write_config(tmp_path / "configs", GATEWAY, {"chat": {**ROUTE, "passthrough_params": ["thinking"]}})
    assert load_snapshot(root).routes["chat"].passthrough == frozenset({"thinking"})


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    root = make(tmp_path, "task: generation\ntargets:\n  large:\n    model: m\nsytem_prompt: hi\n")
    with pytest.raises(ConfigError) as info:
        load_snapshot(root)
    message = str(info.value)
    assert "chat.yaml:5" in message and "sytem_prompt" in message


def test_nested_bad_value_names_its_line(tmp_path: Path) -> None:
    text = "task: generation\ntargets:\n  large:\n    model: m\nparams:\n  temperature: 9\n"
    with pytest.raises(ConfigError) as info:
        load_snapshot(make(tmp_path, text))
    assert "chat.yaml:6" in str(info.value) and "params.temperature" in str(info.value)


def test_unknown_model_reference_is_refused(tmp_path: Path) -> None:
    text = "task: generation\ntargets:\n  large:\n    model: ghost\n"
    with pytest.raises(ConfigError) as info:
        load_snapshot(make(tmp_path, text))
    assert "chat.yaml:4" in str(info.value) and "ghost" in str(info.value)


def test_policy_target_must_exist(tmp_path: Path) -> None:
    text = "targets:\n  large:\n    model: m\npolicy:\n  kind: fixed\n  target: small\n"
    with pytest.raises(ConfigError) as info:
        load_snapshot(make(tmp_path, text))
    assert "'small'" in str(info.value)


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_snapshot(make(tmp_path, "targets:\n  large: [unclosed\n"))
    assert "invalid YAML" in str(info.value)


def test_closed_auth_needs_key_envs(tmp_path: Path) -> None:
    root = write_config(tmp_path / "c", {**GATEWAY, "auth": {"open": False}}, {"chat": ROUTE})
    with pytest.raises(ConfigError) as info:
        load_snapshot(root)
    assert "gateway.yaml" in str(info.value) and "client_key_envs" in str(info.value)


def test_reload_keeps_last_good_config(tmp_path: Path) -> None:
    root = make(tmp_path)
    store = ConfigStore.open(root)
    good = store.current.routes["chat"].version
    (root / "routes" / "chat.yaml").write_text("targets: {large: {model: m}}\nbogus: 1\n")
    result = store.reload()
    assert not result.ok and "bogus" in result.message
    assert store.current.routes["chat"].version == good
    assert store.last_error
    (root / "routes" / "chat.yaml").write_text("system_prompt: new\ntargets: {large: {model: m}}\n")
    result = store.reload()
    assert result.ok and result.changed == ("chat",)
    assert store.current.routes["chat"].config.system_prompt == "new"


def test_config_check_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["config", "check", "--config", str(make(tmp_path))])
    assert ok.exit_code == 0 and "chat" in ok.output
    bad = make(tmp_path / "b", "targets: {large: {model: m}}\nextra: 1\n")
    failed = runner.invoke(app, ["config", "check", "--config", str(bad)])
    assert failed.exit_code == 1
    assert "extra" in failed.output


def test_store_urls_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.config.gateway_sections import CacheStoreConfig, LogStoreConfig

    monkeypatch.setenv("T_LOG_URL", "postgresql://app:s3cret@db:5432/logs")
    monkeypatch.setenv("T_CACHE_URL", "redis://:s3cret@cache:6379/0")
    log = LogStoreConfig.model_validate({"url_env": "T_LOG_URL"})
    cache = CacheStoreConfig.model_validate({"url_env": "T_CACHE_URL"})
    assert log.url == "postgresql://app:s3cret@db:5432/logs" and cache.url.startswith("redis://")
    assert "s3cret" not in repr(log) and "s3cret" not in repr(cache)
    with pytest.raises(ValueError, match="T_MISSING, which is not set"):
        LogStoreConfig.model_validate({"url_env": "T_MISSING"})
    with pytest.raises(ValueError, match="not both"):
        CacheStoreConfig.model_validate({"url_env": "T_CACHE_URL", "url": "memory://"})


def test_embedder_backend_is_torch_or_onnx() -> None:
    from gateway.config.gateway_sections import EmbedderConfig

    onnx = EmbedderConfig.model_validate({"backend": "onnx", "cache_dir": "~/exports", "quantize": False})
    options = onnx.load_options(threads=2)
    assert options["backend"] == "onnx" and options["threads"] == 2 and options["quantize"] is False
    assert options["cache_dir"] == Path("~/exports").expanduser()
    assert EmbedderConfig().load_options(threads=None)["cache_dir"] is None
    with pytest.raises(ValueError, match="backend"):
        EmbedderConfig.model_validate({"backend": "tensorrt"})
    with pytest.raises(ValueError, match="onnx_file"):
        EmbedderConfig.model_validate({"backend": "onnx", "onnx_file": "x.onnx"})
