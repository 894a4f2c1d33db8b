"""Keys from env vars: client keys, admin keys, open mode."""

from __future__ import annotations

import pytest

from gateway.api.auth import Authenticator
from gateway.config.gateway_file import AuthConfig
from gateway.errors import Unauthorized

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
