"""Chunking: sections by heading, paragraphs for text, size limits with overlap, positions."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from retrieval.chunking import Section, chunk_file, chunk_text, html_sections, markdown_sections, pack_section
from retrieval.errors import SourceError

MARKDOWN = """# Cards

Intro about cards.

## Delivery

Cards arrive in 3 to 5 days.

```
# not a heading inside a fence
```

## Lost cards

Freeze the card first.

# Transfers

Transfers take a day.
"""


def test_markdown_sections_follow_the_heading_path() -> None:
    sections = markdown_sections(MARKDOWN)
    assert [s.title for s in sections] == ["Cards", "Cards > Delivery", "Cards > Lost cards", "Transfers"]
    assert sections[1].paragraphs[0] == "Cards arrive in 3 to 5 days."
    assert any("not a heading inside a fence" in p for p in sections[1].paragraphs)


def test_markdown_chunks_carry_title_source_and_position() -> None:
    chunks = chunk_text(MARKDOWN, "markdown", "cards.md")
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert all(c.source == "cards.md" for c in chunks)
    assert chunks[2].text == "Cards > Lost cards\nFreeze the card first."


def test_html_sections_use_headings_and_drop_scripts() -> None:
    html = (
        "<html><head><title>t</title><style>p {}</style></head><body>"
        "<h1>Rates</h1><p>Interbank   rate.</p><h2>Weekends</h2><ul><li>Fee 0.5%</li><li>Markets shut</li></ul>"
        "<script>track()</script></body></html>"
    )
    sections = html_sections(html)
    assert [(s.title, s.paragraphs) for s in sections] == [
        ("Rates", ["Interbank rate."]),
        ("Rates > Weekends", ["Fee 0.5%", "Markets shut"]),
    ]


def test_text_is_split_into_paragraphs_and_packed() -> None:
    text = "First paragraph.\n\nSecond paragraph.\n\n\nThird one."
    chunks = chunk_text(text, "text", "a.txt", chunk_size=40, overlap=0)
    assert [c.text for c in chunks] == ["First paragraph.\nSecond paragraph.", "Third one."]


def test_long_paragraphs_become_bounded_overlapping_windows() -> None:
    words = [f"word{i:03d}" for i in range(200)]
    chunks = pack_section(Section("Title", [" ".join(words)]), chunk_size=120, overlap=30)
    assert len(chunks) > 10
    assert all(len(chunk) <= 120 and chunk.startswith("Title\n") for chunk in chunks)
    bodies = [chunk.removeprefix("Title\n").split() for chunk in chunks]
    for previous, current in itertools.pairwise(bodies):
        assert previous[-1] in current, "neighbouring windows share their boundary words"
    assert {w for body in bodies for w in body} == set(words)


def test_overlap_must_be_smaller_than_the_chunk() -> None:
    with pytest.raises(SourceError, match="overlap"):
        chunk_text("x", "text", "a.txt", chunk_size=100, overlap=100)


def test_chunk_file_dispatches_on_suffix(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n\nalpha\n")
    (tmp_path / "b.htm").write_text("<h2>B</h2><p>beta</p>")
    (tmp_path / "c.pdf").write_text("%PDF")
    assert chunk_file(tmp_path / "a.md", "a.md")[0].text == "A\nalpha"
    assert chunk_file(tmp_path / "b.htm", "b.htm")[0].text == "B\nbeta"
    with pytest.raises(SourceError, match="unsupported"):
        chunk_file(tmp_path / "c.pdf", "c.pdf")


def test_demo_documents_chunk_under_their_headings(docs_dir: Path) -> None:
    chunks = chunk_file(docs_dir / "exchange-rates.html", "exchange-rates.html")
    assert chunks[0].text.startswith("Exchange rates and currencies > Which rate do you use?\n")
    assert not any("analytics" in c.text for c in chunks)
