"""The eval's answer function: gold examples through the gateway's real request path, one variant each."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml
from rich.progress import Progress

from gateway.config import load_snapshot
from gateway.evaluation.evalpath import gateway_answers
from gateway.evaluation.runner import Answer, run_variants
from gateway.evaluation.variants import build_variant, with_small_model
from gateway.gold import GoldExample
from gateway.smallmodel.train import TrainOptions, train
from retrieval.embedder import SentenceEmbedder
from tests.gateway.conftest import base_gateway
from tests.servers import REPO, write_config

pytestmark = pytest.mark.slow

CATEGORIES = ("card_arrival", "exchange_rate", "lost_or_stolen_card", "top_up_failed")


def rows(path: Path, per_category: int) -> list[dict[str, str]]:
    """The first *per_category* rows of each of CATEGORIES, in file order."""
    taken: dict[str, int] = {}
    picked = []
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["category"] in CATEGORIES and taken.get(row["category"], 0) < per_category:
                taken[row["category"]] = taken.get(row["category"], 0) + 1
                picked.append(row)
    return picked


@pytest.fixture(scope="module")
def eval_config(llama_url: str, demo_indexes: Path, banking77_dir: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repo's banking77 route against the test llama server, with a small head trained on four intents."""
    root = tmp_path_factory.mktemp("evalpath")
    route = yaml.safe_load((REPO / "configs" / "routes" / "banking77.yaml").read_text())
    configs = write_config(root / "configs", base_gateway(llama_url, indexes_dir=str(demo_indexes)),
                           {"banking77": route})
    examples = rows(banking77_dir / "train.csv", 20)
    embedder = SentenceEmbedder(load_snapshot(configs).gateway.embedder.model)
    head = train([r["text"] for r in examples], [r["category"] for r in examples], embedder,
                 TrainOptions(target_accuracy=0.9))
    head.save(root / "artifacts", "banking77")
    return configs


async def test_each_variant_answers_through_the_gateway(eval_config: Path, banking77_dir: Path) -> None:
    gold = [GoldExample(i, r["text"], r["category"]) for i, r in enumerate(rows(banking77_dir / "test.csv", 1))]
    route = load_snapshot(eval_config).routes["banking77"].config
    measured = with_small_model(route, str(eval_config.parent / "artifacts" / "banking77"))
    question = [{"role": "user", "content": gold[0].input}]

    async with gateway_answers(eval_config) as answer:
        results = {r.variant: r for r in await run_variants(
            answer, measured, ["rag", "small", "cascade"], gold, Progress(disable=True), concurrency=2)}
        prompted = await answer(build_variant("prompt", measured), question)
        retrieved = await answer(build_variant("rag", measured), question)

    assert all(r.errors == 0 and r.n == len(gold) for r in results.values())
    assert results["small"].target_share == {"small": 1.0}
    assert results["small"].metrics.accuracy >= 0.75  # a head fitted on 80 rows; 1 in 4 by chance
    assert results["rag"].target_share == {"large": 1.0}
    assert results["rag"].metrics.accuracy >= 0.5  # 1 in 77 by chance: the few-shot turns reached the model
    assert set(results["cascade"].target_share) <= {"small", "large"}
    assert _is_model_answer(prompted) and _is_model_answer(retrieved)
    assert retrieved.tokens_in > prompted.tokens_in + 100  # the retrieved examples are in the prompt
    assert not (eval_config.parent / "ragway-logs.db").exists()  # eval traffic stays out of the request log


def _is_model_answer(answer: Answer) -> bool:
    return answer.target == "large" and answer.text != "" and answer.tokens_out > 0 and answer.latency_ms > 0
