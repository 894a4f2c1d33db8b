"""The `policy` section of a route: how a target is chosen for each request."""

from __future__ import annotations

from typing import Literal

from gateway.config.base import Strict


class FixedPolicy(Strict):
    """Every request goes to one target."""

    kind: Literal["fixed"]
    target: str

    def target_names(self) -> list[str]:
        return [self.target]


PolicyConfig = FixedPolicy
