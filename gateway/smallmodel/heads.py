"""Every classifier target of a config snapshot, loaded once at start (and again on reload)."""

from __future__ import annotations

from gateway.config import ConfigSnapshot
from gateway.config.route import ClassifierTarget
from gateway.smallmodel import artifact
from gateway.smallmodel.head import ClassifierHead
from retrieval.registry import Stamp, file_stamp

Heads = dict[tuple[str, str], ClassifierHead]
"""(route name, target name) -> the loaded head."""


def load_heads(snapshot: ConfigSnapshot, embedder_id: str, dim: int) -> Heads:
    """Load each classifier target; raises ArtifactError (a ConfigError) naming the first that fails."""
    heads: Heads = {}
    for route_name, route in snapshot.routes.items():
        for target_name, target in route.config.targets.items():
            if isinstance(target, ClassifierTarget):
                path = snapshot.resolve(target.classifier)
                heads[(route_name, target_name)] = ClassifierHead.load(path, embedder_id, dim)
    return heads


def heads_stamp(snapshot: ConfigSnapshot) -> tuple[Stamp, ...]:
    """A cheap fingerprint of every classifier artifact: `ragway finetune` moving `latest` changes it."""
    stamps: list[Stamp] = []
    for route in snapshot.routes.values():
        for target in route.config.targets.values():
            if isinstance(target, ClassifierTarget):
                path = snapshot.resolve(target.classifier)
                stamps += [file_stamp(path / artifact.LATEST), file_stamp(path / artifact.MANIFEST_FILE)]
    return tuple(stamps)
