"""Labelled CSV files: columns found or named, incomplete rows skipped, bad files refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.smallmodel.dataset import DatasetError, read_labelled_csv


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_finds_the_label_column_and_skips_incomplete_rows(tmp_path: Path) -> None:
    data = read_labelled_csv(write(tmp_path, "text,category\nhello,greet\n,greet\nbye,\n\"a, b\",list\n"))
    assert data.texts == ["hello", "a, b"]
    assert data.labels == ["greet", "list"]
    assert (data.skipped, data.output_col) == (2, "category")


def test_named_columns(tmp_path: Path) -> None:
    data = read_labelled_csv(write(tmp_path, "q,a\nx,1\n"), input_col="q", output_col="a")
    assert (data.texts, data.labels) == (["x"], ["1"])


@pytest.mark.parametrize(
    ("content", "kwargs", "message"),
    [
        ("text,foo\nx,y\n", {}, "no label column found"),
        ("text,label\nx,y\n", {"input_col": "query"}, "no column 'query'"),
        ("text,label\n,\n", {}, "no rows with both"),
        ("", {}, "no label column found"),
    ],
)
def test_bad_files_are_refused(tmp_path: Path, content: str, kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        read_labelled_csv(write(tmp_path, content), **kwargs)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="cannot read"):
        read_labelled_csv(tmp_path / "nope.csv")
