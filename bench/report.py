"""docs/benchmarks.md: each benchmark owns one `## <title>` section and replaces only that."""

from __future__ import annotations

import os
import platform
import re
import sys
from collections.abc import Sequence
from pathlib import Path

DOC_TITLE = "# ragway benchmarks"
DOC_INTRO = (
    "Written by `make bench` and the scripts under bench/; each section is replaced by the "
    "benchmark that owns it, the others are kept. Every ratio is against a baseline measured in the same run."
)
MACHINE_TITLE = "Machine and versions"
_FENCE = re.compile(r"^(```|~~~)")


def write_section(title: str, markdown: str, path: str | Path = "docs/benchmarks.md") -> None:
    """Replace the `## title` section of *path* with *markdown* (appending it if absent), keeping the rest."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else f"{DOC_TITLE}\n\n{DOC_INTRO}\n"
    lines = text.splitlines()
    body = [f"## {title}", "", *markdown.strip("\n").splitlines(), ""]
    span = _section_span(lines, title)
    if span is None:
        while lines and not lines[-1].strip():
            lines.pop()
        lines += ["", *body]
    else:
        start, end = span
        lines[start:end] = body
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")


def _section_span(lines: list[str], title: str) -> tuple[int, int] | None:
    """[start, end) of the section headed `## title`; headings inside code fences do not count."""
    start = None
    in_fence = False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence or not line.startswith("## "):
            continue
        if start is not None:
            return start, i
        if line[3:].strip() == title:
            start = i
    return (start, len(lines)) if start is not None else None


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; numbers are right-aligned."""
    align = ["---:" if rows and isinstance(rows[0][i], int | float) else "---" for i in range(len(headers))]
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return "\n".join(out)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def machine_facts() -> dict[str, str]:
    """CPU model, cores, memory and OS of this machine."""
    return {
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count() or 0),
        "memory": f"{_mem_total_gib():.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
    }


def machine_markdown(versions: dict[str, str], commands: Sequence[str]) -> str:
    """The header section: machine facts, component versions, and the commands that produced the doc."""
    rows = [(name, value) for name, value in machine_facts().items()]
    rows += [(name, version) for name, version in versions.items()]
    lines = [markdown_table(["", "value"], rows), "", "Commands:", "", "```"]
    return "\n".join([*lines, *commands, "```"])


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        pass
    return 0.0


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """The same rows as a rich table on the terminal."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for header in headers:
        table.add_column(header or " ", justify="right" if header not in ("system", "") else "left")
    for row in rows:
        table.add_row(*(_cell(value) for value in row))
    # a pipe would get rich's 80-column default, which folds every cell of a ten-column table
    Console(width=None if sys.stdout.isatty() else 200).print(table)
