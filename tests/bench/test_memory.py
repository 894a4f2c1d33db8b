"""RSS growth is measured between the checkpoints, not from start-up, and judged against 10%."""

from __future__ import annotations

import os

from bench.memory import Checkpoint, growth
from bench.procs import tree_rss_bytes
from bench.targets import memory_verdict


def test_growth_runs_from_the_first_checkpoint_to_the_last() -> None:
    points = [Checkpoint(0, 50, 0), Checkpoint(10_000, 200, 0), Checkpoint(100_000, 210, 0)]
    assert growth(points) == 0.05
    assert memory_verdict(growth(points))[3] == "met"


def test_growth_over_the_limit_says_by_how_much() -> None:
    points = [Checkpoint(0, 50, 0), Checkpoint(10_000, 200, 0), Checkpoint(100_000, 250, 0)]
    assert memory_verdict(growth(points))[3] == "missed by 15.0 points"


def test_tree_rss_reads_this_process() -> None:
    assert tree_rss_bytes(os.getpid()) > 1_000_000


def test_no_growth_without_two_checkpoints() -> None:
    points = [Checkpoint(0, 50, 0), Checkpoint(4_000, 200, 0)]
    assert growth(points) is None
    assert memory_verdict(growth(points))[3] == "not measured"
