"""Out of scope: the route's `unknown:` setting applied to the small model's similarity, and its config checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_snapshot
from gateway.config.route import UnknownAnswer
from gateway.errors import ConfigError
from gateway.routing import Scope, out_of_scope

GATEWAY = "models:\n  big:\n    model: openai/gpt-4o-mini\n"
TARGETS = "targets:\n  small:\n    classifier: banking77\n  large:\n    model: big\n"
CASCADE = "policy:\n  kind: cascade\n  small: small\n  large: large\n"
FIXED = "policy:\n  kind: fixed\n  target: small\n"


def test_in_scope_or_unset_changes_nothing() -> None:
    assert out_of_scope(None, Scope(0.1, 0.5)) is None
    assert out_of_scope("escalate", Scope(0.6, 0.5)) is None
    assert out_of_scope("escalate", Scope(0.5, 0.5)) is None  # at the bar is in scope
    assert out_of_scope("escalate", Scope(None, 0.5)) is None  # a head without a novelty score
    assert out_of_scope("escalate", Scope(0.1, None)) is None


def test_out_of_scope_escalates_or_answers_the_routes_label() -> None:
    escalated = out_of_scope("escalate", Scope(0.31, 0.45))
    assert escalated is not None and escalated.escalate and escalated.label is None
    assert escalated.reason == "out of scope: similarity 0.31 < 0.45"
    answered = out_of_scope(UnknownAnswer(answer="none_of_these"), Scope(0.31, 0.45))
    assert answered is not None and not answered.escalate and answered.label == "none_of_these"
    assert answered.reason.endswith("-> answer 'none_of_these'")


def route_dir(tmp_path: Path, body: str) -> Path:
    (tmp_path / "routes").mkdir()
    (tmp_path / "gateway.yaml").write_text(GATEWAY)
    (tmp_path / "routes" / "r.yaml").write_text(body)
    return tmp_path


@pytest.mark.parametrize(
    ("extra", "policy", "expected"),
    [("unknown: escalate\n", CASCADE, "escalate"), ("unknown:\n  answer: none\n", FIXED, UnknownAnswer(answer="none"))],
)
def test_route_files_accept_both_forms(tmp_path: Path, extra: str, policy: str, expected: object) -> None:
    snapshot = load_snapshot(route_dir(tmp_path, f"task: classification\n{TARGETS}{policy}{extra}"))
    assert snapshot.routes["r"].config.unknown == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"task: classification\n{TARGETS}{FIXED}unknown: escalate\n", "unknown: escalate needs a cascade policy"),
        (f"task: generation\n{TARGETS}{CASCADE}unknown: escalate\n", "classification routes only"),
        (f"task: classification\n{TARGETS}{CASCADE}unknown: refuse\n", "unknown"),
        (f"task: classification\n{TARGETS}{CASCADE}unknown:\n  answer: ''\n", "unknown"),
    ],
)
def test_bad_unknown_settings_are_refused(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_snapshot(route_dir(tmp_path, body))
