"""Client, admin and metrics keys: read from the env vars named in gateway.yaml, compared in constant time.

A key arrives as `Authorization: Bearer <key>`, or as the password of HTTP Basic auth so a browser can
open /dashboard (any user name).
"""

from __future__ import annotations

import base64
import binascii
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
        self._metrics = _keys(config.metrics_key_envs, env)
        if not self.open and not self._clients:
            names = ", ".join(config.client_key_envs)
            raise RuntimeError(f"auth is closed but none of the client key env vars is set: {names}")

    def client(self, authorization: str | None) -> str:
        """The key id for a client request; 'open' in open mode without a key."""
        key = _credential(authorization)
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
        key = _credential(authorization)
        if key is None:
            if self.open and not self._admins:
                return "open"
            raise Unauthorized("missing admin key: send 'Authorization: Bearer <admin key>'")
        found = _match(key, self._admins)
        if not found:
            raise Unauthorized("invalid admin key")
        return found

    def metrics(self, authorization: str | None) -> str:
        """The key id for /metrics and /dashboard: an admin key or a metrics key."""
        key = _credential(authorization)
        if key is None:
            if self.open and not self._admins and not self._metrics:
                return "open"
            raise Unauthorized("missing key: send 'Authorization: Bearer <metrics or admin key>'")
        found = _match(key, self._metrics) or _match(key, self._admins)
        if not found:
            raise Unauthorized("invalid metrics key")
        return found

    def is_admin(self, authorization: str | None) -> bool:
        try:
            self.admin(authorization)
        except Unauthorized:
            return False
        return True


def _keys(names: list[str], env: dict[str, str] | os._Environ[str]) -> dict[str, bytes]:
    return {name: env[name].encode() for name in names if env.get(name)}


def _credential(authorization: str | None) -> str | None:
    """The key in a Bearer header, or the password of a Basic one; None when absent or malformed."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if not value:
        return None
    if scheme.lower() == "bearer":
        return value
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def _match(key: str, keys: dict[str, bytes]) -> str | None:
    candidate = key.encode()
    for name, secret in keys.items():
        if hmac.compare_digest(candidate, secret):
            return name
    return None
