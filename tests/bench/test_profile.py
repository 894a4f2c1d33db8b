"""Top frames from py-spy's collapsed stacks."""

from __future__ import annotations

from bench.profile import parse_collapsed

MODULE = "<module> (/x/gateway/cli/__main__.py:3)"
HANDLE = "handle (/s/site-packages/gateway/api/chat.py:20)"
RAW = "\n".join(
    [
        f'process 1:"python -m gateway.cli serve";{MODULE};{HANDLE};dumps (/s/site-packages/json/encoder.py:9) 30',
        f"{MODULE};{HANDLE} 10",
        f"{MODULE};embed (/s/site-packages/retrieval/embedder.py:40);forward (/s/torch/nn/module.py:1) 60",
    ]
)


def test_self_and_inclusive_counts_per_frame() -> None:
    frames = parse_collapsed(RAW)
    assert frames.samples == 100
    assert frames.self_counts["forward (nn/module.py:1)"] == 60
    assert frames.self_counts["handle (api/chat.py:20)"] == 10
    assert frames.total_counts["handle (api/chat.py:20)"] == 40
    assert frames.total_counts["<module> (cli/__main__.py:3)"] == 100


def test_process_frames_and_junk_lines_are_ignored() -> None:
    frames = parse_collapsed("garbage\n" + RAW + "\nx;y notanumber\n")
    assert frames.samples == 100
    assert not any(frame.startswith("process ") for frame in frames.total_counts)
