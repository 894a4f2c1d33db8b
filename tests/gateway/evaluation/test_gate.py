"""The gate: pass/fail on a metric, and an unpromoted route edit held while the running version serves."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from gateway.config.route_sections import GateSettings
from gateway.config.snapshot import Route, load_route, load_snapshot
from gateway.evaluation.gate import GateVerdict, decide, evaluate_gate
from gateway.promotion.gate import PromotionGate, gate_route_edit
from gateway.promotion.promotions import Promotion, PromotionStore
from tests.gateway.evaluation.fakes import result_with, write_config

GATE = GateSettings(metric="accuracy", min=0.9, min_examples=500)


def test_gate_passes_at_the_threshold_and_fails_below_it() -> None:
    assert evaluate_gate(result_with("route", 0.9, n=500), GATE) == GateVerdict(
        True, "accuracy 0.9000 >= 0.9000 on 500 examples (route)"
    )
    assert evaluate_gate(result_with("route", 0.8999, n=500), GATE) == GateVerdict(
        False, "accuracy 0.8999 < 0.9000 on 500 examples (route)"
    )


def test_gate_fails_on_too_few_examples_or_an_unmeasured_metric() -> None:
    few = evaluate_gate(result_with("route", 1.0, n=499), GATE)
    assert few == GateVerdict(False, "only 499 gold examples; the gate needs at least 500")

    bleu = evaluate_gate(result_with("route", 1.0), GateSettings(metric="bleu", min=20))
    assert not bleu.passed
    assert bleu.message.startswith("gate metric 'bleu' is not measured for this task (measured: accuracy")


def test_decide_promotes_forces_or_refuses() -> None:
    passed, failed = GateVerdict(True, "ok"), GateVerdict(False, "accuracy 0.5 < 0.9")

    assert decide("r", "v", passed).state == "promoted"
    assert decide("r", "v", failed).state == "refused"
    forced = decide("r", "v", failed, force=True)
    assert (forced.state, forced.reason) == ("forced", "forced past a failed gate: accuracy 0.5 < 0.9")


def routes(tmp_path: Path) -> tuple[Route, Route]:
    """(running, candidate): the banking77 route fixed on its large model, then edited onto the small one."""
    configs = write_config(tmp_path / "good", target="large")
    bad = write_config(tmp_path / "bad", target="small")
    gateway = load_snapshot(configs).gateway
    good_route = load_route(configs / "routes" / "banking77.yaml", gateway)
    return good_route, load_route(bad / "routes" / "banking77.yaml", gateway)


def test_an_undecided_edit_waits_as_pending_and_names_the_command(tmp_path: Path, eval_engine: Engine) -> None:
    running, candidate = routes(tmp_path)
    store = PromotionStore(eval_engine)

    first = gate_route_edit(candidate, running, store)
    again = gate_route_edit(candidate, running, store)

    assert first.route is running and again.route is running
    assert first.refusal is not None
    assert f"route 'banking77' version {candidate.version}" in first.refusal
    assert f"still serving version {running.version}" in first.refusal
    assert "`ragway eval --route banking77 --gate`" in first.refusal
    assert [p.state for p in store.history("banking77")] == ["pending"]


def test_a_refused_edit_waits_and_force_lets_it_serve(tmp_path: Path, eval_engine: Engine) -> None:
    running, candidate = routes(tmp_path)
    store = PromotionStore(eval_engine)
    failed = GateVerdict(False, "accuracy 0.5000 < 0.9000 on 4 examples (route)")
    store.record(decide("banking77", candidate.version, failed))

    refused = gate_route_edit(candidate, running, store)

    assert refused.route is running
    assert refused.refusal is not None and "refused: accuracy 0.5000 < 0.9000" in refused.refusal

    store.record(decide("banking77", candidate.version, failed, force=True))

    assert gate_route_edit(candidate, running, store).route is candidate


def test_a_promoted_edit_serves(tmp_path: Path, eval_engine: Engine) -> None:
    running, candidate = routes(tmp_path)
    store = PromotionStore(eval_engine)
    store.record(Promotion("banking77", candidate.version, "promoted", "accuracy 1.0000 >= 0.9000"))

    admission = gate_route_edit(candidate, running, store)

    assert admission.route is candidate and admission.refusal is None


@pytest.mark.parametrize("eval_engine", ["sqlite"], indirect=True)
def test_first_load_unchanged_and_ungated_routes_skip_the_gate(tmp_path: Path, eval_engine: Engine) -> None:
    running, candidate = routes(tmp_path)
    ungated = Route(candidate.name, candidate.config.model_copy(update={"eval": None}), candidate.path, "other")
    store = PromotionStore(eval_engine)

    assert gate_route_edit(candidate, None, store).route is candidate
    assert gate_route_edit(running, running, store).route is running
    assert gate_route_edit(ungated, running, store).route is ungated
    assert store.history() == []


def test_promotion_gate_opens_the_database_only_for_a_gated_edit(tmp_path: Path) -> None:
    running, candidate = routes(tmp_path)
    db = tmp_path / "eval.db"
    gate = PromotionGate(f"sqlite:///{db}")

    assert gate(candidate, None).route is candidate
    assert not db.exists()
    assert gate(candidate, running).route is running
    assert db.exists()


def test_promotion_gate_fails_closed_when_the_database_cannot_be_read(tmp_path: Path) -> None:
    running, candidate = routes(tmp_path)
    gate = PromotionGate(f"sqlite:///{tmp_path / 'missing-dir' / 'eval.db'}")

    admission = gate(candidate, running)

    assert admission.route is running
    assert admission.refusal is not None and "the eval database cannot be read (OperationalError" in admission.refusal
