"""`ragway finetune` through typer's CliRunner: train, export, and one-line refusals."""

from __future__ import annotations

import csv
import importlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.smallmodel import ClassifierHead, Embedder

LABELS = ["card_arrival", "lost_or_stolen_card", "exchange_rate", "top_up_failed", "terminate_account"]
GATEWAY = "models:\n  big:\n    model: openai/gpt-4o-mini\n"
BANKING = """task: classification
system_prompt: Answer with the intent label only.
labels: [{labels}]
targets:
  small:
    classifier: artifacts/banking77
  large:
    model: big
policy:
  kind: cascade
  small: small
  large: large
"""
CHAT = "task: generation\ntargets:\n  large:\n    model: big\npolicy:\n  kind: fixed\n  target: large\n"

runner = CliRunner()
# gateway.cli re-exports the command function under the module's own name.
finetune_module = importlib.import_module("gateway.cli.finetune")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    root = tmp_path / "configs"
    (root / "routes").mkdir(parents=True)
    (root / "gateway.yaml").write_text(GATEWAY)
    (root / "routes" / "banking77.yaml").write_text(BANKING.format(labels=", ".join(LABELS)))
    (root / "routes" / "chat.yaml").write_text(CHAT)
    return root


@pytest.fixture
def subset(banking_rows: list[tuple[str, str]], tmp_path: Path) -> Path:
    """60 rows of each of five banking77 intents, as a labelled CSV."""
    path = tmp_path / "subset.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category"])
        writer.writerows(row for row in banking_rows if row[1] in LABELS)
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["finetune", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.slow
def test_trains_and_writes_a_versioned_artifact(
    config: Path, subset: Path, tmp_path: Path, minilm: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(finetune_module, "load_embedder", lambda model: minilm)
    artifacts = tmp_path / "artifacts"
    code, out, err = run(
        "--route", "banking77", "--data", str(subset), "--config", str(config),
        "--artifacts-dir", str(artifacts), "--target-accuracy", "0.98",
    )
    assert code == 0, err
    assert "out-of-fold accuracy:" in out and "cross-fit, 5 folds" in out
    assert "threshold " in out and "of queries local at" in out and ">= target 98.0%" in out
    assert "95% lower bound" in out and "out-of-scope bar" in out
    head = ClassifierHead.load(artifacts / "banking77", minilm.model_id, minilm.dim)
    assert sorted(head.labels) == sorted(LABELS)
    assert head.manifest is not None and head.manifest.calibration.target_accuracy == 0.98
    assert (artifacts / "banking77" / "latest").read_text().strip() == "v1"


@pytest.mark.parametrize("style", ["openai", "hf"])
def test_export_writes_chat_jsonl(config: Path, subset: Path, tmp_path: Path, style: str) -> None:
    out_file = tmp_path / f"{style}.jsonl"
    code, out, err = run(
        "--route", "banking77", "--data", str(subset), "--config", str(config), "--export", style, "-o", str(out_file)
    )
    assert code == 0, err
    records = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert len(records) == 300
    assert f"wrote {len(records)} {style} chat records" in out
    messages = records[0]["messages"] if style == "openai" else records[0]["prompt"] + records[0]["completion"]
    assert messages[0] == {"role": "system", "content": "Answer with the intent label only."}
    assert messages[-1]["role"] == "assistant" and messages[-1]["content"] in LABELS


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--route", "nope", "--data", "{subset}"], "route 'nope' not found"),
        (["--route", "banking77"], "--data is required"),
        (["--route", "banking77", "--data", "{missing}"], "cannot read"),
        (["--route", "banking77", "--data", "{subset}", "--output-col", "intent"], "no column 'intent'"),
        (["--route", "chat", "--data", "{subset}"], "is a generation route"),
        (["--route", "banking77", "--data", "{subset}", "--target-accuracy", "1.5"], "--target-accuracy must be"),
        (["--route", "banking77", "--data", "{subset}", "--export", "openai"], "--export needs --output"),
        (["--route", "banking77", "--data", "{wrong_labels}"], "labels not in route 'banking77' labels: pizza"),
    ],
)
def test_bad_input_fails_in_one_line(config: Path, subset: Path, tmp_path: Path, args: list[str], message: str) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("text,label\n" + "".join(f"row {i},{'pizza' if i % 2 else 'card_arrival'}\n" for i in range(20)))
    paths = {"subset": subset, "missing": tmp_path / "missing.csv", "wrong_labels": wrong}
    code, _, err = run(*[a.format(**paths) for a in args], "--config", str(config))
    assert code == 1
    assert message in err
    assert len(err.strip().splitlines()) == 1


class CountingEmbedder:
    """The real embedder, counting how many texts it was asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.model_id, self.dim, self.embedded = inner, inner.model_id, inner.dim, 0

    def encode(self, texts, batch_size=64, progress=False):  # type: ignore[no-untyped-def]
        self.embedded += len(texts)
        return self.inner.encode(texts, batch_size)


@pytest.mark.slow
def test_reuses_the_example_index_vectors_and_sharpens_with_oos(
    config: Path, subset: Path, tmp_path: Path, minilm: Embedder, monkeypatch: pytest.MonkeyPatch,
    banking_rows: list[tuple[str, str]],
) -> None:
    from retrieval.build import build_examples_index

    in_scope = [row for row in banking_rows if row[1] in LABELS]
    build_examples_index("bank-examples", in_scope[:250], minilm, tmp_path / "indexes")
    route = config / "routes" / "banking77.yaml"
    route.write_text(route.read_text() + "retrieval:\n  examples:\n    index: bank-examples\n")
    oos = tmp_path / "oos.csv"
    far = [text for text, label in banking_rows if label not in LABELS]
    with oos.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["text"], *([text] for text in far)])
    counting = CountingEmbedder(minilm)
    monkeypatch.setattr(finetune_module, "load_embedder", lambda model: counting)
    code, out, err = run("--route", "banking77", "--data", str(subset), "--config", str(config), "--oos", str(oos))
    assert code == 0, err
    assert "reused 250 vectors stored in index bank-examples@" in out and "embedded 50 rows" in out
    assert counting.embedded == 50 + len(far)  # the rows the index lacks, and the --oos queries
    assert "catches" in out and f"of the {len(far)} --oos examples" in out
    head = ClassifierHead.load(tmp_path / "artifacts" / "banking77", minilm.model_id, minilm.dim)  # beside configs/
    assert head.manifest is not None and head.manifest.novelty is not None and head.manifest.novelty.n_oos == len(far)
    unrelated = minilm.encode(["What is the capital of France?", "Write me a poem about cats"])
    assert all(head.predict(v).novel for v in unrelated)


def test_finetune_embeds_only_the_rows_the_example_index_lacks(
    config: Path, subset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, banking_rows: list[tuple[str, str]],
) -> None:
    """With a fake embedder: the rows the route's example index holds are never sent to the embedder again."""
    from retrieval.build import build_examples_index
    from tests.retrieval.fakes import FakeEmbedder

    fake = FakeEmbedder()
    in_scope = [row for row in banking_rows if row[1] in LABELS]
    build_examples_index("bank-examples", in_scope[:250], fake, tmp_path / "indexes")
    fake.calls.clear()
    route = config / "routes" / "banking77.yaml"
    route.write_text(route.read_text() + "retrieval:\n  examples:\n    index: bank-examples\n")
    monkeypatch.setattr(finetune_module, "load_embedder", lambda settings: fake)
    code, out, err = run("--route", "banking77", "--data", str(subset), "--config", str(config))
    assert code == 0, err
    embedded = [text for call in fake.calls for text in call]
    assert sorted(embedded) == sorted(text for text, _ in in_scope[250:])
    assert "reused 250 vectors stored in index bank-examples@" in out and "embedded 50 rows" in out
