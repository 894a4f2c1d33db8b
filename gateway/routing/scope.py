"""Out of scope: a classification route saying "none of these" by itself. Pure functions, no I/O.

The small model reports how close a query is to what it was trained on (its nearest training
row, or nearest class centroid); below its calibrated bar the query looks like nothing seen in
training. The route's `unknown:` setting says what then happens: escalate to the large target,
or answer a fixed label.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config.route import UnknownAnswer, UnknownSetting


@dataclass(frozen=True, slots=True)
class Scope:
    """The query's similarity to what the small model knows, and the bar under which it is out of scope."""

    similarity: float | None = None
    bar: float | None = None

    @property
    def novel(self) -> bool:
        return self.similarity is not None and self.bar is not None and self.similarity < self.bar


@dataclass(frozen=True, slots=True)
class OutOfScope:
    """What to do with an out-of-scope query: answer `label`, or escalate when `label` is None."""

    label: str | None
    reason: str

    @property
    def escalate(self) -> bool:
        return self.label is None


def out_of_scope(setting: UnknownSetting | None, scope: Scope) -> OutOfScope | None:
    """None when the route has no `unknown:` setting or the query is in scope; else the verdict."""
    if setting is None or not scope.novel:
        return None
    why = f"out of scope: similarity {scope.similarity:.2f} < {scope.bar:.2f}"
    if isinstance(setting, UnknownAnswer):
        return OutOfScope(label=setting.answer, reason=f"{why} -> answer {setting.answer!r}")
    return OutOfScope(label=None, reason=why)
