"""The CPU a server's process tree used: read from /proc, children included."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.procs import tree_cpu_seconds


def test_a_childs_busy_work_counts_towards_its_parents_tree() -> None:
    busy = "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass\ntime.sleep(5)"
    spawn = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {busy!r}])"
    parent = subprocess.Popen([sys.executable, "-c", spawn])
    try:
        deadline = time.monotonic() + 30
        while tree_cpu_seconds(parent.pid) < 0.5 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert tree_cpu_seconds(parent.pid) >= 0.5  # the parent itself only waits: the child's work is counted
    finally:
        parent.kill()
        parent.wait()
    assert tree_cpu_seconds(os.getpid()) > 0
