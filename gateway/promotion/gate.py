"""The reload gate: an edited route file with an `eval.gate` serves only once its version is promoted.

    admission = gate_route_edit(candidate, running, promotions)     # the gateway's reload

A version is promoted by `ragway eval --route R --gate` passing, or by `--force`. Until then the
running version keeps serving and the gateway says why (log line, `/readyz` config_error,
`ragway config status`). Evals are not run inside a reload: a file watcher must answer in
milliseconds, a gated eval takes minutes.
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

from gateway.config.live import Admission
from gateway.config.snapshot import Route
from gateway.promotion.promotions import Promotion, PromotionStore
from gateway.promotion.store import open_engine


def gate_command(route: str) -> str:
    return f"ragway eval --route {route} --gate"


def awaits_decision(candidate: Route, running: Route | None) -> bool:
    """Whether *candidate* may serve only once promoted: a gated route whose file changed while serving."""
    gated = candidate.config.eval is not None and candidate.config.eval.gate is not None
    return gated and running is not None and running.version != candidate.version


def gate_route_edit(candidate: Route, running: Route | None, promotions: PromotionStore) -> Admission:
    """Which version serves after *candidate* (a route file as it now reads) was loaded.

    Ungated routes, first loads, unchanged versions and promoted or forced versions serve at
    once. Any other version waits while the running one serves; a version never decided is
    recorded as pending, so `ragway config status` lists it with the command that decides it.
    """
    if running is None or not awaits_decision(candidate, running):
        return Admission(candidate)
    known = promotions.decision(candidate.name, candidate.version)
    if known is None:
        pending = Promotion(candidate.name, candidate.version, "pending",
                            f"not evaluated yet: run `{gate_command(candidate.name)}`")
        known = promotions.record(pending)
    if known.servable:
        return Admission(candidate)
    return Admission(running, _held(candidate, running, f"{known.state}: {known.reason}"))


class PromotionGate:
    """The gateway's per-route reload hook: gated edits serve once promoted in the eval database.

    The database is opened on the first gated edit, so a gateway without gates never touches it.
    When it cannot be read, the edit waits (the gate fails closed) and the reason says so.
    """

    def __init__(self, store_url: str) -> None:
        self.store_url = store_url
        self._promotions: PromotionStore | None = None

    def __call__(self, candidate: Route, running: Route | None) -> Admission:
        if running is None or not awaits_decision(candidate, running):
            return Admission(candidate)
        try:
            return gate_route_edit(candidate, running, self._store())
        except SQLAlchemyError as exc:
            reason = f"the eval database cannot be read ({type(exc).__name__}: {str(exc).splitlines()[0]})"
            return Admission(running, _held(candidate, running, reason))

    def _store(self) -> PromotionStore:
        if self._promotions is None:
            self._promotions = PromotionStore(open_engine(self.store_url))
        return self._promotions


def _held(candidate: Route, running: Route, why: str) -> str:
    name = candidate.name
    return (
        f"route '{name}' version {candidate.version} ({candidate.path}) is not promoted ({why}); still serving "
        f"version {running.version}. Promote it with `{gate_command(name)}` (add --force to override a failed gate)"
    )
