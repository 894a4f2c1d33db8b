"""Several gateway processes write to one store; the summary counts every one of them."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest

from gateway.usage.store import UsageStore
from gateway.usage.summary import summarize

PER_PROCESS = 300


@pytest.mark.slow
def test_two_processes_writing_one_store_are_both_counted(store_url: str, repo_root) -> None:
    env = {**os.environ, "PYTHONPATH": str(repo_root)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.gateway.usage.writer_process", store_url, route, str(PER_PROCESS)],
            cwd=repo_root, env=env, stderr=subprocess.PIPE, text=True,
        )
        for route in ("replica-a", "replica-b")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err

    store = UsageStore(store_url)
    rows = summarize(store, timedelta(hours=1), ["route"])
    store.close()
    assert {row.group["route"]: (row.requests, row.tokens_in) for row in rows} == {
        "replica-a": (PER_PROCESS, PER_PROCESS),
        "replica-b": (PER_PROCESS, PER_PROCESS),
    }
