"""One name check for indexes and routes, on every path that takes a name."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.config.route_sections import IndexUse
from retrieval.build import add_rows, build_examples_index
from retrieval.errors import InvalidName
from retrieval.names import check_name
from retrieval.registry import require_index

BAD = ["..", "../x", "a/../../b", "a/b", "a\\b", "x\n", "x\r", "bad\x00name", ".hidden", "", "-flag", "a..b",
       "x" * 129, "tab\there", "sp ace"]
GOOD = ["banking77-examples", "bank-docs", "v1.2", "A_b", "x" * 128]


@pytest.mark.parametrize("name", BAD)
def test_unsafe_names_are_refused_everywhere(name: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidName):
        check_name(name)
    with pytest.raises(InvalidName):
        require_index(tmp_path, name)
    with pytest.raises(InvalidName):
        build_examples_index(name, [("hello", "greet")], None, tmp_path)  # type: ignore[arg-type]
    with pytest.raises(InvalidName):
        add_rows(name, [("hello", "greet")], None, tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        IndexUse(index=name)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", GOOD)
def test_plain_names_pass(name: str) -> None:
    assert check_name(name) == name
    assert IndexUse(index=name).index == name
