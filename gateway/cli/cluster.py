"""`ragway cluster`: N gateway replicas on one config directory behind nginx, until Ctrl-C."""

from __future__ import annotations

import signal
import tempfile
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gateway.cli.common import DEFAULT_CONFIG, ConfigDir, console, fail, offline_env
from gateway.config import load_snapshot
from gateway.errors import ConfigError
from gateway.fleet import Fleet


def cluster(
    config: ConfigDir = DEFAULT_CONFIG,
    replicas: Annotated[int, typer.Option(min=1, max=32, help="Gateway replicas to start.")] = 3,
    port: Annotated[int, typer.Option(help="nginx listens here; replicas take the next ports.")] = 8080,
    workdir: Annotated[Path | None, typer.Option(help="nginx.conf and logs (default: a temporary folder).")] = None,
) -> None:
    """Serve CONFIG from REPLICAS gateway processes behind Debian's nginx on 127.0.0.1:PORT.

    The replicas share what gateway.yaml names: point `log.url` at PostgreSQL and `cache.url` at
    Redis so that they share the books, the cache and Idempotency-Key claims (`make services`
    starts both). Ctrl-C or SIGTERM stops nginx, then drains and stops every replica.
    """
    offline_env()
    try:
        snapshot = load_snapshot(Path(config))
    except ConfigError as exc:
        fail(str(exc))
    gateway = snapshot.gateway
    if gateway.log.url.startswith("sqlite") or gateway.cache.url.startswith("memory"):
        console.print("[yellow]note:[/] log.url or cache.url is local to each replica; "
                      "use postgresql:// and redis:// to share them")
    folder = workdir or Path(tempfile.mkdtemp(prefix="ragway-cluster-"))
    fleet = Fleet(snapshot.root, folder, port, replicas)
    try:
        fleet.start()
    except (RuntimeError, TimeoutError) as exc:
        fail(f"{exc} (replica logs in {folder})")
    table = Table("member", "url", "log")
    table.add_row("nginx", fleet.url, str(folder / "nginx-error.log"))
    for index, member in enumerate(fleet.members):
        table.add_row(f"replica {index}", member.url, str(member.log))
    console.print(table)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        console.print("stopping the cluster")
        fleet.stop()
