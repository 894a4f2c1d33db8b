"""Split documents into overlapping chunks: markdown and HTML by headings, text by paragraphs.

Each section (the text under one heading, with the heading path as its title) is packed
paragraph by paragraph into chunks of at most `chunk_size` characters; a paragraph longer
than that is cut into word windows. Consecutive chunks of a section share `overlap`
characters so a sentence cut at a boundary is still whole in one of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bs4 import BeautifulSoup

from retrieval.errors import SourceError

DOCUMENT_SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".html": "html", ".htm": "html"}
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_HTML_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_HTML_BLOCKS = (*_HTML_HEADINGS, "p", "li", "pre", "td", "th", "blockquote", "dt", "dd")


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    paragraphs: list[str]


@dataclass(frozen=True, slots=True)
class Chunk:
    text: str
    source: str
    position: int


def chunk_file(path: Path, source: str, chunk_size: int = 800, overlap: int = 100) -> list[Chunk]:
    """The chunks of one document; *source* names it in every chunk (e.g. its relative path)."""
    kind = DOCUMENT_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise SourceError(f"{path}: unsupported document type (use {', '.join(sorted(DOCUMENT_SUFFIXES))})")
    text = path.read_text(encoding="utf-8", errors="replace")
    return chunk_text(text, kind, source, chunk_size, overlap)


def chunk_text(text: str, kind: str, source: str, chunk_size: int = 800, overlap: int = 100) -> list[Chunk]:
    """Chunk *text* of the given kind ("markdown", "html" or "text")."""
    if not 0 <= overlap < chunk_size:
        raise SourceError(f"overlap ({overlap}) must be at least 0 and below chunk_size ({chunk_size})")
    splitter = {"markdown": markdown_sections, "html": html_sections, "text": text_sections}[kind]
    pieces = [piece for section in splitter(text) for piece in pack_section(section, chunk_size, overlap)]
    return [Chunk(text=piece, source=source, position=i) for i, piece in enumerate(pieces)]


def markdown_sections(text: str) -> list[Section]:
    """Sections under each heading; headings inside code fences are code, not structure."""
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    lines: list[str] = []
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(line)
        if heading is None:
            lines.append(line)
            continue
        sections.append(Section(_title(path), paragraphs("\n".join(lines))))
        level = len(heading.group(1))
        path = [*(entry for entry in path if entry[0] < level), (level, heading.group(2))]
        lines = []
    sections.append(Section(_title(path), paragraphs("\n".join(lines))))
    return [section for section in sections if section.paragraphs]


def html_sections(text: str) -> list[Section]:
    """Sections under each <h1>..<h6>, from the text of block elements; scripts and styles dropped."""
    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(["script", "style", "nav", "head"]):
        tag.decompose()
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    blocks: list[str] = []
    for element in soup.find_all(_HTML_BLOCKS):
        if element.find(_HTML_BLOCKS):
            continue  # the inner blocks carry this text; taking both would repeat it
        content = " ".join(element.get_text(" ").split())
        if element.name in _HTML_HEADINGS:
            sections.append(Section(_title(path), blocks))
            level = int(element.name[1])
            path = [*(entry for entry in path if entry[0] < level), (level, content)]
            blocks = []
        elif content:
            blocks.append(content)
    sections.append(Section(_title(path), blocks))
    return [section for section in sections if section.paragraphs]


def text_sections(text: str) -> list[Section]:
    """Plain text has no headings: one untitled section of paragraphs."""
    return [Section("", paragraphs(text))]


def paragraphs(text: str) -> list[str]:
    """Blank-line separated blocks, each with its whitespace collapsed."""
    blocks = (" ".join(block.split()) for block in re.split(r"\n\s*\n", text))
    return [block for block in blocks if block]


def pack_section(section: Section, chunk_size: int, overlap: int) -> list[str]:
    """Chunks of one section, each prefixed with the section title."""
    prefix = f"{section.title}\n" if section.title else ""
    budget = max(chunk_size - len(prefix), overlap + 1)
    words = [piece for paragraph in section.paragraphs for piece in _split_long(paragraph, budget, overlap)]
    chunks: list[str] = []
    current = ""
    for piece in words:
        candidate = f"{current}\n{piece}" if current else piece
        if current and len(candidate) > budget:
            chunks.append(current)
            tail = _tail(current, overlap)
            candidate = f"{tail}\n{piece}" if tail and len(tail) + 1 + len(piece) <= budget else piece
        current = candidate
    if current:
        chunks.append(current)
    return [prefix + chunk for chunk in chunks]


def _split_long(paragraph: str, size: int, overlap: int) -> list[str]:
    """A paragraph cut into word windows of at most *size* characters sharing *overlap*."""
    if len(paragraph) <= size:
        return [paragraph]
    windows: list[str] = []
    words = paragraph.split(" ")
    start = 0
    while start < len(words):
        end = start
        length = -1
        while end < len(words) and (length + 1 + len(words[end]) <= size or end == start):
            length += 1 + len(words[end])
            end += 1
        windows.append(" ".join(words[start:end])[:size])
        if end >= len(words):
            break
        start = max(_overlap_start(words, start, end, overlap), start + 1)
    return windows


def _overlap_start(words: list[str], start: int, end: int, overlap: int) -> int:
    """The first word of the next window: as far back from *end* as fits in *overlap* characters."""
    length = 0
    first = end
    while first > start and length + len(words[first - 1]) + 1 <= overlap:
        first -= 1
        length += len(words[first]) + 1
    return first


def _tail(chunk: str, overlap: int) -> str:
    """The last whole words of *chunk* that fit in *overlap* characters."""
    if overlap <= 0:
        return ""
    tail = chunk[-overlap:]
    if len(tail) < len(chunk) and " " in tail:
        tail = tail.split(" ", 1)[1]
    return tail.strip()


def _title(path: list[tuple[int, str]]) -> str:
    return " > ".join(title for _, title in path)
