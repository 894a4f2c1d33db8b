"""Top frames from py-spy's collapsed stacks."""

from __future__ import annotations

from bench.profile import package_of, parse_collapsed

MODULE = "<module> (gateway/cli/__main__.py:3)"
HANDLE = "handle (gateway/api/chat.py:20)"
RAW = "\n".join(
    [
        f'process 1:"python -m gateway.cli serve";{MODULE};{HANDLE};dumps (json/encoder.py:9) 30',
        f"{MODULE};{HANDLE} 10",
        f"{MODULE};embed (retrieval/embedder.py:40);forward (torch/nn/module.py:1) 55",
        "wait (threading.py:3) 5",
    ]
)


def test_self_and_inclusive_counts_per_frame() -> None:
    frames = parse_collapsed(RAW)
    assert frames.samples == 100
    assert frames.self_counts["forward (torch/nn/module.py:1)"] == 55
    assert frames.self_counts[HANDLE] == 10
    assert frames.total_counts[HANDLE] == 40
    assert frames.total_counts[MODULE] == 95


def test_own_time_by_package_and_ragway_functions_on_the_stack() -> None:
    frames = parse_collapsed(RAW)
    assert frames.by_package() == {"torch": 55, "json": 30, "gateway": 10, "threading": 5}
    assert frames.project_frames()["embed (retrieval/embedder.py:40)"] == 55
    assert "dumps (json/encoder.py:9)" not in frames.project_frames()


def test_package_of_stdlib_and_frozen_modules() -> None:
    assert package_of("wait (threading.py:327)") == "threading"
    assert package_of("_run_code (<frozen runpy>:88)") == "runpy"
    assert package_of("send (anyio/_backends/_asyncio.py:1474)") == "anyio"


def test_process_frames_and_junk_lines_are_ignored() -> None:
    frames = parse_collapsed("garbage\n" + RAW + "\nx;y notanumber\n")
    assert frames.samples == 100
    assert not any(frame.startswith("process ") for frame in frames.total_counts)
