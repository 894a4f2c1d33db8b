"""write_section replaces only its own section of docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path

from bench.report import markdown_table, write_section


def test_new_file_gets_a_title_and_the_section(tmp_path: Path) -> None:
    doc = tmp_path / "docs" / "benchmarks.md"
    write_section("Overhead", "| a |\n| - |", doc)
    text = doc.read_text()
    assert text.startswith("# ragway benchmarks\n")
    assert "## Overhead\n\n| a |\n| - |\n" in text


def test_replacing_one_section_keeps_the_others_in_place(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    write_section("First", "one", doc)
    write_section("Second", "two", doc)
    write_section("Third", "three", doc)
    write_section("Second", "TWO\nlines", doc)
    text = doc.read_text()
    assert "two" not in text.replace("TWO", "")
    assert text.index("## First") < text.index("## Second") < text.index("## Third")
    assert "## Second\n\nTWO\nlines\n\n## Third" in text
    assert text.count("## ") == 3


def test_a_heading_inside_a_code_fence_does_not_end_the_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    write_section("Commands", "```\n## not a heading\n```", doc)
    write_section("After", "kept", doc)
    write_section("Commands", "new", doc)
    text = doc.read_text()
    assert "not a heading" not in text
    assert "## After\n\nkept" in text


def test_a_title_that_prefixes_another_does_not_match_it(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    write_section("Memory usage", "long", doc)
    write_section("Memory", "short", doc)
    text = doc.read_text()
    assert "## Memory usage\n\nlong" in text
    assert "## Memory\n\nshort" in text


def test_markdown_table_right_aligns_numbers() -> None:
    table = markdown_table(["name", "req/s"], [["stub", 1234.5]])
    assert table.splitlines() == ["| name | req/s |", "| --- | ---: |", "| stub | 1,234.50 |"]
