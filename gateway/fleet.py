"""A fleet on one machine: N gateway replicas on one config directory behind Debian's nginx.

The replicas are stateless: the request log (PostgreSQL), the cache and Idempotency-Key claims
(Redis) and the index folders are whatever gateway.yaml names, shared by all. nginx spreads
requests over the replicas and, when one stops (SIGTERM: it finishes what it holds and refuses
new connections), sends the requests it cannot take to the others. POST is retried on another
replica too (`non_idempotent`): a request written to a connection the stopping replica closed
was never read there, and one sent with an `Idempotency-Key` is answered and billed once even
if the first replica died after reading it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

NGINX = "/usr/sbin/nginx"

NGINX_CONF = """\
# Written by gateway/fleet.py for {replicas} ragway replicas.
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
{user}
events {{ worker_connections 4096; }}

http {{
    access_log off;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    client_max_body_size {max_body};

    upstream ragway {{
        least_conn;
{servers}
        keepalive 64;
    }}

    # A client's own X-Request-Id passes through, else nginx's request id is sent: a POST that nginx
    # retries on another replica keeps its id (and the client's Idempotency-Key, which dedups it).
    map $http_x_request_id $ragway_request_id {{
        "" $request_id;
        default $http_x_request_id;
    }}

    server {{
        listen {host}:{port};

        location / {{
            proxy_pass http://ragway;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Request-Id $ragway_request_id;
            # streams flow to the client as the replica writes them
            proxy_buffering off;
            proxy_read_timeout 300s;
            proxy_next_upstream error timeout non_idempotent;
            proxy_next_upstream_tries {tries};
            proxy_next_upstream_timeout 30s;
        }}
    }}
}}
"""


def nginx_conf(workdir: Path, host: str, port: int, replicas: list[int], max_body: str = "2m") -> str:
    """nginx.conf for *replicas* (ports on 127.0.0.1) behind *host*:*port*."""
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in replicas)
    user = "user root;" if os.geteuid() == 0 else ""
    return NGINX_CONF.format(replicas=len(replicas), workdir=workdir, user=user, servers=servers, host=host,
                             port=port, max_body=max_body, tries=len(replicas))


def wait_http(url: str, timeout_s: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Return once *url* answers below 500; raise when *process* exits or *timeout_s* passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited with code {process.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout_s:g}s")


@dataclass
class Replica:
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Fleet:
    """Replicas on ports port+1.. and nginx on *port*; every process it starts, it stops."""

    config_dir: Path
    workdir: Path
    port: int
    replicas: int = 3
    host: str = "127.0.0.1"
    env: dict[str, str] = field(default_factory=dict)
    start_timeout_s: float = 600.0
    members: list[Replica] = field(default_factory=list)
    nginx: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.members = [Replica(self.port + i, self.workdir / f"replica-{i}.log") for i in range(1, self.replicas + 1)]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Start every replica at once, wait until each answers, then put nginx in front."""
        if shutil.which(NGINX) is None:
            raise RuntimeError(f"{NGINX} not found: install Debian's nginx (`make nginx`)")
        try:
            for index in range(len(self.members)):
                self._spawn(index)
            for index in range(len(self.members)):
                self.wait_ready(index)
            self._start_nginx()
        except BaseException:
            self.stop()
            raise

    def start_replica(self, index: int) -> None:
        """(Re)start replica *index* and wait until it answers; nginx sends it traffic again by itself."""
        self._spawn(index)
        self.wait_ready(index)

    def wait_ready(self, index: int) -> None:
        member = self.members[index]
        wait_http(f"{member.url}/healthz", self.start_timeout_s, member.process)

    def terminate(self, index: int) -> None:
        """SIGTERM replica *index* without waiting: it drains what it holds, then exits."""
        member = self.members[index]
        if member.running():
            assert member.process is not None
            member.process.send_signal(signal.SIGTERM)

    def wait_exit(self, index: int, timeout_s: float = 60.0) -> int:
        process = self.members[index].process
        assert process is not None
        try:
            return process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    def stop(self) -> None:
        """Stop nginx, then every replica (SIGTERM, SIGKILL after 60 s)."""
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)  # graceful: finish open requests
            try:
                self.nginx.wait(20)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait()
        for index, member in enumerate(self.members):
            if member.running():
                self.terminate(index)
        for index, member in enumerate(self.members):
            if member.process is not None:
                self.wait_exit(index)

    def _spawn(self, index: int) -> None:
        member = self.members[index]
        if member.running():
            raise RuntimeError(f"replica {index} is already running on port {member.port}")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
               "TOKENIZERS_PARALLELISM": "false", **self.env}
        command = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(self.config_dir),
                   "--host", "127.0.0.1", "--port", str(member.port), "--workers", "1"]
        with member.log.open("ab") as out:
            member.process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)

    def _start_nginx(self) -> None:
        conf = self.workdir / "nginx.conf"
        conf.write_text(nginx_conf(self.workdir, self.host, self.port, [m.port for m in self.members]))
        command = [NGINX, "-c", str(conf), "-p", str(self.workdir), "-g", "daemon off;"]
        with (self.workdir / "nginx.out").open("ab") as out:
            self.nginx = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        wait_http(f"{self.url}/healthz", 30, self.nginx)
