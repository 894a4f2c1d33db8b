"""The dashboard: its figures, and the real page rendered by headless Chromium with a screenshot."""

from __future__ import annotations

import random
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from PIL import Image

from gateway.usage.dashboard import bucket_seconds, figures
from gateway.usage.metrics import UsageMetrics
from gateway.usage.record import Sample
from gateway.usage.store import UsageStore
from gateway.usage.writer import UsageRecorder
from tests.gateway.usage.conftest import make_record
from tests.gateway.usage.fakes import FakeAdminAuth, fake_app

CHROMIUM = Path("/usr/bin/chromium")
PLOTS = ("requests", "cost", "p95", "targets", "cache")
# plotly.js's first two trace colours (its default colorway)
TRACE_BLUE = (31, 119, 180)
TRACE_ORANGE = (255, 127, 14)


def traffic(now: float, count: int = 600) -> list:
    """A day of traffic on three routes; the intent route answers most requests on its small target."""
    rng = random.Random(7)
    records = []
    for _ in range(count):
        route = rng.choice(["intent", "intent", "chat", "extract"])
        target = "small" if route == "intent" and rng.random() < 0.8 else "large"
        hit = rng.random() < (0.4 if route == "intent" else 0.1)
        records.append(make_record(
            now - rng.uniform(0, 86_400), route, target, 3.0 if hit else rng.uniform(20, 900),
            cache="hit" if hit else "miss", tokens_in=120, tokens_out=8,
            cost_usd=0.0 if hit or target == "small" else 0.0004, large_cost_usd=0.0004,
        ))
    return records


def test_bucket_size_keeps_about_sixty_points() -> None:
    assert bucket_seconds(timedelta(hours=1)) == 60
    assert bucket_seconds(timedelta(hours=24)) == 1800
    assert bucket_seconds(timedelta(days=365)) == 86_400


def test_figures_fill_every_bucket_and_split_targets() -> None:
    now = 10 * 3600.0
    records = [make_record(now - 3000, "a", "small", 10), make_record(now - 2990, "a", "large", 30, cache="hit"),
               make_record(now - 100, "b", "large", 5, cost_usd=0.5)]
    data = figures([Sample.of(r) for r in records], timedelta(hours=1), now)
    assert data["bucket_s"] == 60 and data["total"] == 3
    a, b = data["series"]["a"], data["series"]["b"]
    assert len(a["t"]) == len(a["requests"]) == 60
    assert sum(a["requests"]) == 2 and sum(b["requests"]) == 1
    assert a["p95"][10] == pytest.approx(29.0) and a["p95"][11] is None
    assert sum(b["cost"]) == 0.5
    assert {t["target"]: t["requests"] for t in data["targets"]} == {"large": 2, "small": 1}
    assert {c["route"]: c["hit_rate"] for c in data["cache"]} == {"a": 0.5, "b": 0.0}


@pytest.fixture
def dashboard_url(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server for the logs router over a store holding a day of traffic."""
    store = UsageStore(f"sqlite:///{tmp_path / 'logs.db'}")
    store.migrate()
    store.insert_many(traffic(time.time()))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = fake_app(UsageRecorder(store, UsageMetrics()), FakeAdminAuth(open=True))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}/dashboard?since=24h"
    server.should_exit = True
    thread.join(timeout=10)
    store.close()


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "chromium-profile"
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--window-size=1200,900", "--virtual-time-budget=15000", *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


@pytest.mark.slow
def test_dashboard_renders_its_plots_in_headless_chromium(dashboard_url: str, tmp_path: Path) -> None:
    assert CHROMIUM.exists(), "chromium is missing: run `make chromium` (apt-get install -y chromium)"
    dom = chromium(tmp_path, "--dump-dom", dashboard_url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for plot in PLOTS:
        assert f'id="{plot}" class="plot js-plotly-plot"' in dom.stdout, f"plotly did not draw #{plot}"
    assert dom.stdout.count('class="main-svg"') >= 2 * len(PLOTS)

    shot = tmp_path / "dashboard.png"
    result = chromium(tmp_path, f"--screenshot={shot}", dashboard_url)
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 10_000
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 900)
    colours = image.getcolors(maxcolors=1200 * 900)
    assert colours is not None and len(colours) > 200, "the screenshot is blank"
    assert near(colours, TRACE_BLUE) > 2000 and near(colours, TRACE_ORANGE) > 2000, "no plot lines, pie or bars"


def near(colours: list[tuple[int, tuple[int, int, int]]], colour: tuple[int, int, int]) -> int:
    """Pixels within a small distance of *colour* (antialiasing blends line edges)."""
    return sum(count for count, rgb in colours if all(abs(rgb[i] - colour[i]) < 24 for i in range(3)))
