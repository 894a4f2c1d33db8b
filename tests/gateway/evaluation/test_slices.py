"""Per-target slices of a cascade, the small model on the escalated slice, out-of-scope rows and misses."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.progress import Progress
from sqlalchemy import Engine, create_engine

from gateway.config.route import RouteConfig
from gateway.evaluation import report
from gateway.evaluation.history import EvalHistory, HistoryEntry
from gateway.evaluation.options import Pricing, cost_at_volume
from gateway.evaluation.provenance import Provenance
from gateway.evaluation.runner import Answer, Messages, run_variants
from gateway.evaluation.slices import oos_label
from gateway.gold import GoldExample
from gateway.promotion.store import MIGRATIONS, migrate
from tests.gateway.evaluation.fakes import route_config

GOLD = (
    GoldExample(2, "where is my card", "card_arrival"),
    GoldExample(3, "card not here yet", "card_arrival"),
    GoldExample(4, "exchange rate please", "exchange_rate"),
    GoldExample(5, "what rate do you use", "exchange_rate"),
    GoldExample(6, "tell me a joke", "oos"),
)
# the small model is sure of the first two; it escalates the rest
SURE = {"where is my card", "card not here yet"}
SMALL = {"where is my card": "card_arrival", "card not here yet": "card_arrival",
         "exchange rate please": "exchange_rate", "what rate do you use": "card_arrival",
         "tell me a joke": "card_arrival"}
# the large model invents a label for one query and gets another wrong
LARGE = {"exchange rate please": "big_news", "what rate do you use": "card_arrival", "tell me a joke": "oos"}


class CascadeFake:
    """A fake of the gateway's answer path: the small target keeps what it is sure of, the large answers the rest."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, config: RouteConfig, messages: Messages) -> Answer:
        text = messages[-1]["content"]
        names = config.policy.target_names()
        if names == ["large"] or (len(names) == 2 and text not in SURE):
            self.calls.append(("large", text))
            return Answer(LARGE.get(text, "card_arrival"), "large", 900.0, 0.002)
        self.calls.append(("small", text))
        return Answer(SMALL[text], "small", 2.0, 0.0)


def labelled_route() -> RouteConfig:
    return route_config(labels=["card_arrival", "exchange_rate", "oos"])


async def test_cascade_slices_score_local_and_escalated_answers_apart() -> None:
    fake = CascadeFake()

    with Progress(disable=True) as progress:
        (cascade,) = await run_variants(fake, labelled_route(), ["cascade"], GOLD, progress)

    local, escalated = sorted(cascade.by_target, key=lambda s: s.target, reverse=True)
    assert (local.target, local.n, local.coverage, local.accuracy) == ("small", 2, 0.4, 1.0)
    assert (escalated.target, escalated.n, escalated.off_label) == ("large", 3, 1)
    assert escalated.accuracy == pytest.approx(1 / 3)
    assert cascade.scalars()["accuracy"] == pytest.approx(3 / 5)
    assert cascade.target_cost_per_1k == {"small": 0.0, "large": pytest.approx(2.0)}


async def test_small_model_is_run_on_the_escalated_slice_only_when_not_measured() -> None:
    alone, together = CascadeFake(), CascadeFake()

    with Progress(disable=True) as progress:
        (cascade,) = await run_variants(alone, labelled_route(), ["cascade"], GOLD, progress)
        both = await run_variants(together, labelled_route(), ["small", "cascade"], GOLD, progress)

    assert cascade.escalation is not None
    # escalated: exchange rate please (small right, large off-label), what rate (both wrong), joke (large right)
    assert (cascade.escalation.n, cascade.escalation.small_accuracy) == (3, pytest.approx(1 / 3))
    assert cascade.escalation.large_accuracy == pytest.approx(1 / 3)
    assert not cascade.escalation.helps
    assert "serve the small model alone" in cascade.escalation.verdict()
    escalated = {"exchange rate please", "what rate do you use", "tell me a joke"}
    assert {text for target, text in alone.calls[5:]} == escalated and len(alone.calls) == 8
    assert len(together.calls) == 10
    assert both[1].escalation == cascade.escalation


async def test_out_of_scope_rows_count_in_scope_answers_and_who_gave_them() -> None:
    with Progress(disable=True) as progress:
        small, cascade = await run_variants(CascadeFake(), labelled_route(), ["small", "cascade"], GOLD, progress)

    assert small.out_of_scope is not None and cascade.out_of_scope is not None
    assert (small.out_of_scope.n, small.out_of_scope.answered_in_scope) == (1, 1)
    assert small.out_of_scope.answered_in_scope_locally == 1
    assert (cascade.out_of_scope.answered_in_scope, cascade.out_of_scope.rate) == (0, 0.0)
    assert "0 of 1 out-of-scope queries ('oos')" in report.describe_oos(cascade.out_of_scope)


def test_oos_label_is_given_or_a_conventional_name_present_in_the_data() -> None:
    assert oos_label(["a", "oos"], None) == "oos"
    assert oos_label(["a", "out_of_scope"], None) == "out_of_scope"
    assert oos_label(["a", "b"], None) is None
    assert oos_label(["a", "b"], "b") == "b"


async def test_misses_are_stored_with_the_run_and_listed_in_the_report(eval_engine: Engine, tmp_path: Path) -> None:
    with Progress(disable=True) as progress:
        results = await run_variants(CascadeFake(), labelled_route(), ["small", "cascade"], GOLD, progress)
    provenance = Provenance("banking77", "v1", {}, {}, "gold.csv", "0" * 64)
    history = EvalHistory(eval_engine)

    run_id = history.record(provenance, results)

    stored = history.misses(run_id, "cascade")
    assert [(m.line, m.expected, m.got, m.target) for m in stored] == [
        (4, "exchange_rate", "big_news", "large"), (5, "exchange_rate", "card_arrival", "large")
    ]
    entry = history.latest("banking77", "cascade")
    assert entry is not None and entry.details["escalation"]["helps"] is False
    html = report.render(report.ReportInput(run_id, provenance, "accuracy", results))
    assert "big_news" in html and "Variant cascade: 2 missed" in html
    assert "escalation does not help" in html and "Who answered, and how well" in html


def test_a_version_2_database_upgrades_with_empty_details(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(engine, MIGRATIONS[:2])
    provenance = Provenance("r", "v1", {}, {}, "gold.csv", "0" * 64)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO eval_runs (run_id, ts, route, route_version, variant, dataset, dataset_checksum, n_examples,"
            " index_versions, model_versions, metrics, target_share) VALUES"
            " ('old', 1.0, 'r', 'v1', 'small', 'gold.csv', '0', 4, '{}', '{}', '{\"accuracy\": 0.5}', '{}')"
        )

    assert migrate(engine) == len(MIGRATIONS)

    entry = EvalHistory(engine).latest("r", "small")
    assert entry is not None and entry.details == {} and entry.metrics == {"accuracy": 0.5}
    assert provenance.route == entry.provenance.route


def entry_with(share: dict[str, float], costs: dict[str, float]) -> HistoryEntry:
    provenance = Provenance("r", "v1", {}, {}, "gold.csv", "0" * 64)
    return HistoryEntry(1, "run", 0.0, "cascade", 100, {"accuracy": 0.9, "cost_per_1k_usd": 1.0}, share, provenance,
                        {"target_cost_per_1k_usd": costs})


def test_an_hourly_machine_costs_its_month_spread_over_the_volume() -> None:
    prices = {"large": Pricing("large", 0.40, "gateway.yaml", "configured"),
              "small": Pricing("small", None, "in-process", "in-process")}
    entry = entry_with({"small": 0.7, "large": 0.3}, {"small": 0.0, "large": 3.0})

    quiet, note = cost_at_volume(entry, prices, 10_000)
    busy, _ = cost_at_volume(entry, prices, 100_000_000)

    # $0.40 x 730 h = $292 a month over 10,000 requests: $29.20 per 1k
    assert quiet == pytest.approx(29.2)
    assert "machine $292/month" in note
    # at a huge volume the measured busy time (30% x $3.00 per 1k) is more than the machine's month
    assert busy == pytest.approx(0.9)
