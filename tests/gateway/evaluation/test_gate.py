"""The gate: pass/fail on a metric, and a bad route edit refused while the running version serves."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from gateway.config.route_sections import GateSettings
from gateway.config.snapshot import Route, load_route, load_snapshot
from gateway.evaluation.gate import GateVerdict, decide, evaluate_gate, gate_route_edit
from gateway.evaluation.history import EvalHistory
from gateway.evaluation.pipeline import gate_runner
from gateway.evaluation.promotions import PromotionStore
from gateway.evaluation.runner import AnswerFn
from tests.gateway.evaluation.fakes import GOLD, FakeAnswerFn, result_with, write_config

GATE = GateSettings(metric="accuracy", min=0.9, min_examples=500)
RIGHT = {e.input: e.expected for e in GOLD}
WRONG = {e.input: "card_arrival" for e in GOLD}


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


class FakeGateRun:
    """A run_gate that returns a fixed verdict and counts its calls."""

    def __init__(self, verdict: GateVerdict) -> None:
        self.verdict = verdict
        self.calls = 0

    async def __call__(self, route: Route) -> GateVerdict:
        self.calls += 1
        return self.verdict


def routes(tmp_path: Path) -> tuple[Route, Route]:
    configs = write_config(tmp_path / "good", target="large")
    bad = write_config(tmp_path / "bad", target="small")
    gateway = load_snapshot(configs).gateway
    good_route = load_route(configs / "routes" / "banking77.yaml", gateway)
    return good_route, load_route(bad / "routes" / "banking77.yaml", gateway)


async def test_a_decided_version_is_not_evaluated_again(tmp_path: Path, eval_engine: Engine) -> None:
    running, candidate = routes(tmp_path)
    store = PromotionStore(eval_engine)
    refuse = FakeGateRun(GateVerdict(False, "accuracy 0.5 < 0.9"))

    assert await gate_route_edit(candidate, running, refuse, store) is running
    assert await gate_route_edit(candidate, running, refuse, store) is running
    assert refuse.calls == 1


async def test_first_load_and_unchanged_versions_skip_the_gate(tmp_path: Path, eval_engine: Engine) -> None:
    running, candidate = routes(tmp_path)
    never = FakeGateRun(GateVerdict(False, "must not run"))
    store = PromotionStore(eval_engine)

    assert await gate_route_edit(candidate, None, never, store) is candidate
    assert await gate_route_edit(running, running, never, store) is running
    assert never.calls == 0


@pytest.mark.parametrize("eval_engine", ["sqlite"], indirect=True)
async def test_bad_route_edit_is_refused_while_the_good_version_serves_and_force_promotes(
    tmp_path: Path, eval_engine: Engine
) -> None:
    """The edit moves the policy onto a small model that answers every query 'card_arrival'."""
    running, candidate = routes(tmp_path)
    snapshot = load_snapshot(tmp_path / "bad" / "configs")
    answer: AnswerFn = FakeAnswerFn({"large": RIGHT, "small": WRONG})
    history, store = EvalHistory(eval_engine), PromotionStore(eval_engine)

    serving = await gate_route_edit(candidate, running, gate_runner(snapshot, answer, history), store)

    assert serving is running
    refusal = store.decision("banking77", candidate.version)
    assert refusal is not None
    assert (refusal.state, refusal.reason) == ("refused", "accuracy 0.5000 < 0.9000 on 4 examples (route)")
    assert history.latest("banking77", "route").provenance.route_version == candidate.version

    store.record(decide("banking77", candidate.version, GateVerdict(False, refusal.reason), force=True))

    assert await gate_route_edit(candidate, running, gate_runner(snapshot, answer, history), store) is candidate


@pytest.mark.parametrize("eval_engine", ["sqlite"], indirect=True)
async def test_good_route_edit_is_promoted(tmp_path: Path, eval_engine: Engine) -> None:
    candidate, running = routes(tmp_path)
    snapshot = load_snapshot(tmp_path / "good" / "configs")
    answer = FakeAnswerFn({"large": RIGHT, "small": WRONG})
    store = PromotionStore(eval_engine)

    serving = await gate_route_edit(candidate, running, gate_runner(snapshot, answer, EvalHistory(eval_engine)), store)

    assert serving is candidate
    promoted = store.decision("banking77", candidate.version)
    assert promoted is not None and promoted.state == "promoted"


async def test_gate_runner_fails_closed_when_the_gold_file_is_gone(tmp_path: Path, eval_engine: Engine) -> None:
    configs = write_config(tmp_path)
    (tmp_path / "gold.csv").unlink()
    snapshot = load_snapshot(configs)
    run = gate_runner(snapshot, FakeAnswerFn({}), EvalHistory(eval_engine))

    verdict = await run(snapshot.routes["banking77"])

    assert not verdict.passed
    assert "gold file not found" in verdict.message
