"""Client and admin keys: read from the env vars named in gateway.yaml, compared in constant time."""

from __future__ import annotations

import hmac
import os

from gateway.config.gateway_file import AuthConfig
from gateway.errors import Unauthorized


class Authenticator:
    """Maps a bearer key to a key id (the name of the env var that holds it); never keeps the key in logs."""

    def __init__(self, config: AuthConfig, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.open = config.open
        self._clients = _keys(config.client_key_envs, env)
        self._admins = _keys(config.admin_key_envs, env)
        if not self.open and not self._clients:
            names = ", ".join(config.client_key_envs)
            raise RuntimeError(f"auth is closed but none of the client key env vars is set: {names}")

    def client(self, authorization: str | None) -> str:
        """The key id for a client request; 'open' in open mode without a key."""
        key = _bearer(authorization)
        if key is not None:
            found = _match(key, self._clients) or _match(key, self._admins)
            if found:
                return found
        if self.open:
            return "open"
        if key is None:
            raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
        raise Unauthorized("invalid API key")

    def admin(self, authorization: str | None) -> str:
        """The key id for an admin request; admin endpoints need an admin key even in open mode."""
        key = _bearer(authorization)
        if key is None:
            if self.open and not self._admins:
                return "open"
            raise Unauthorized("missing admin key: send 'Authorization: Bearer <admin key>'")
        found = _match(key, self._admins)
        if not found:
            raise Unauthorized("invalid admin key")
        return found


def _keys(names: list[str], env: dict[str, str] | os._Environ[str]) -> dict[str, bytes]:
    return {name: env[name].encode() for name in names if env.get(name)}


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _match(key: str, keys: dict[str, bytes]) -> str | None:
    candidate = key.encode()
    for name, secret in keys.items():
        if hmac.compare_digest(candidate, secret):
            return name
    return None
