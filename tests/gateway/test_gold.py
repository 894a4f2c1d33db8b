"""Gold files: CSV and JSONL, column mapping, bad rows reported by line, checksum, sampling."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gateway.config.route_sections import EvalColumns
from gateway.gold import BadRow, DatasetError, load_gold

COLUMNS = EvalColumns(input="query", expected="intent")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_bad_rows_are_reported_with_line_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "gold.csv",
        'query,intent\nhello,greet\n"",greet\nbye,\n"two\nlines",multi\nshort\nfine,ok\n',
    )

    gold = load_gold(path, "classification", COLUMNS)

    assert [(e.line, e.input, e.expected) for e in gold.examples] == [
        (2, "hello", "greet"),
        (5, "two\nlines", "multi"),
        (8, "fine", "ok"),
    ]
    assert gold.bad_rows == (
        BadRow(3, "'query' is missing or empty"),
        BadRow(4, "'intent' is missing or empty"),
        BadRow(7, "'intent' is missing or empty"),
    )


def test_csv_unmapped_column_names_the_columns_present(tmp_path: Path) -> None:
    path = write(tmp_path, "gold.csv", "text,category\na,b\n")

    with pytest.raises(DatasetError, match=r"no column query, intent \(columns: text, category\)"):
        load_gold(path, "classification", COLUMNS)


def test_jsonl_rows_and_bad_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "gold.jsonl",
        '{"query": "q1", "intent": "a"}\n\n{not json\n[1, 2]\n'
        '{"query": 5, "intent": "a"}\n{"query": "q2", "intent": "b"}\n',
    )

    gold = load_gold(path, "classification", COLUMNS)

    assert [(e.line, e.input) for e in gold.examples] == [(1, "q1"), (6, "q2")]
    assert [b.line for b in gold.bad_rows] == [3, 4, 5]
    assert gold.bad_rows[0].reason.startswith("invalid JSON")
    assert gold.bad_rows[1].reason == "not a JSON object"


def test_extraction_expected_is_a_json_object_from_text_or_object(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "gold.jsonl",
        '{"query": "a", "intent": {"k": 1}}\n'
        '{"query": "b", "intent": "{\\"k\\": 2}"}\n{"query": "c", "intent": "nope"}\n',
    )

    gold = load_gold(path, "extraction", COLUMNS)

    assert [e.expected for e in gold.examples] == [{"k": 1}, {"k": 2}]
    assert gold.bad_rows == (BadRow(3, "'intent' is not a JSON object"),)


def test_checksum_is_the_sha256_of_the_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, "gold.csv", "query,intent\na,b\n")

    assert load_gold(path, "classification", COLUMNS).checksum == hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_text("query,intent\na,c\n", encoding="utf-8")
    assert load_gold(path, "classification", COLUMNS).checksum != hashlib.sha256(b"query,intent\na,b\n").hexdigest()


def test_missing_file_and_unknown_type(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        load_gold(tmp_path / "none.csv", "classification", COLUMNS)
    with pytest.raises(DatasetError, match="unknown gold file type"):
        load_gold(write(tmp_path, "gold.parquet", ""), "classification", COLUMNS)


def test_sample_is_fixed_by_seed_and_keeps_file_order(tmp_path: Path) -> None:
    rows = "".join(f"q{i},l{i % 3}\n" for i in range(50))
    gold = load_gold(write(tmp_path, "gold.csv", "query,intent\n" + rows), "classification", COLUMNS)

    first, again = gold.sample(10, seed=1), gold.sample(10, seed=1)

    assert first.examples == again.examples
    assert len(first.examples) == 10
    assert [e.line for e in first.examples] == sorted(e.line for e in first.examples)
    assert gold.sample(10, seed=2).examples != first.examples
    assert gold.sample(None) is gold


def test_banking77_test_set_loads_whole(banking77_dir: Path) -> None:
    gold = load_gold(banking77_dir / "test.csv", "classification", EvalColumns(input="text", expected="category"))

    assert len(gold.examples) == 3080
    assert gold.bad_rows == ()
    assert len({e.expected for e in gold.examples}) == 77
