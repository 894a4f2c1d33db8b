"""A failed index build is reported by its message, not by rich's box drawing."""

from __future__ import annotations

from bench.indexes import last_words


def test_last_words_skip_box_drawing() -> None:
    output = "Usage: ragway [OPTIONS]\n╭─ Error ───╮\n│ No such command 'index'. │\n╰───────────╯\n"
    assert last_words(output) == "No such command 'index'."


def test_last_words_of_silence() -> None:
    assert last_words("\n  \n") == "no output"
