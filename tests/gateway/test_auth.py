"""Keys from env vars: client keys, admin keys, open mode."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from gateway.api.auth import Authenticator
from gateway.cli import app as cli_app
from gateway.config.gateway_file import AuthConfig, GatewayConfig, check_bind
from gateway.errors import Unauthorized
from tests.servers import write_config

ENV = {"CLIENT_KEY": "sk-client", "ADMIN_KEY": "sk-admin"}
CLOSED = AuthConfig(open=False, client_key_envs=["CLIENT_KEY"], admin_key_envs=["ADMIN_KEY"])


def test_client_key_maps_to_env_name() -> None:
    auth = Authenticator(CLOSED, ENV)
    assert auth.client("Bearer sk-client") == "CLIENT_KEY"
    assert auth.client("Bearer sk-admin") == "ADMIN_KEY"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic sk-client", "Bearer wrong"])
def test_missing_or_wrong_client_key(header: str | None) -> None:
    with pytest.raises(Unauthorized):
        Authenticator(CLOSED, ENV).client(header)


def test_admin_needs_admin_key() -> None:
    auth = Authenticator(CLOSED, ENV)
    assert auth.admin("Bearer sk-admin") == "ADMIN_KEY"
    with pytest.raises(Unauthorized):
        auth.admin("Bearer sk-client")


def test_open_mode_accepts_anything_but_checks_admin_when_configured() -> None:
    auth = Authenticator(AuthConfig(open=True, admin_key_envs=["ADMIN_KEY"]), ENV)
    assert auth.client(None) == "open"
    assert auth.client("Bearer whatever") == "open"
    with pytest.raises(Unauthorized):
        auth.admin(None)


def test_closed_mode_without_any_key_set_refuses_to_start() -> None:
    with pytest.raises(RuntimeError, match="CLIENT_KEY"):
        Authenticator(CLOSED, {})


def test_metrics_take_a_metrics_or_admin_key_never_a_client_key() -> None:
    config = AuthConfig(open=False, client_key_envs=["CLIENT_KEY"], admin_key_envs=["ADMIN_KEY"],
                        metrics_key_envs=["METRICS_KEY"])
    auth = Authenticator(config, {**ENV, "METRICS_KEY": "sk-metrics"})
    assert auth.metrics("Bearer sk-metrics") == "METRICS_KEY"
    assert auth.metrics("Bearer sk-admin") == "ADMIN_KEY"
    for header in (None, "Bearer sk-client"):
        with pytest.raises(Unauthorized):
            auth.metrics(header)
    with pytest.raises(Unauthorized):
        auth.admin("Bearer sk-metrics")


def test_a_browser_sends_the_key_as_the_basic_auth_password() -> None:
    auth = Authenticator(CLOSED, ENV)
    assert auth.metrics("Basic " + base64.b64encode(b"me:sk-admin").decode()) == "ADMIN_KEY"
    assert auth.is_admin("Basic " + base64.b64encode(b":sk-admin").decode())
    assert not auth.is_admin("Basic " + base64.b64encode(b"sk-admin").decode())
    assert not auth.is_admin("Basic !!!")


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "gateway.example.com"])
def test_open_mode_refuses_to_bind_beyond_loopback(host: str) -> None:
    with pytest.raises(ValidationError, match="loopback"):
        GatewayConfig.model_validate({"server": {"host": host}, "auth": {"open": True}})
    with pytest.raises(ValueError, match="loopback"):
        check_bind(AuthConfig(open=True), host)
    GatewayConfig.model_validate({"server": {"host": host}, "auth": {"open": False, "client_key_envs": ["K"]}})


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_open_mode_binds_loopback(host: str) -> None:
    check_bind(AuthConfig(open=True), host)


def test_serve_refuses_an_open_gateway_on_every_interface(tmp_path: Path) -> None:
    write_config(tmp_path, {"auth": {"open": True}}, {})
    result = CliRunner().invoke(cli_app, ["serve", "--config", str(tmp_path), "--host", "0.0.0.0"])
    assert result.exit_code == 1 and "loopback" in result.output
