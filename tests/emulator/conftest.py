"""Fixtures: one emulator process per test session (our launcher, 127.0.0.1, free port).

State is reset through moto's own ``POST /moto-api/reset`` before every test, so each test
starts from an empty account.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import pytest
from botocore.config import Config

HERE = Path(__file__).resolve().parent
REGION = "us-east-1"


def start_emulator(workdir: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    """Start ``python -m ecs_drain_moto --port 0`` and wait for its port file."""
    port_file = workdir / "port"
    log_path = workdir / "emulator.log"
    port_file.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONPATH=str(HERE))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ecs_drain_moto", "--port", "0", "--port-file", str(port_file)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + 60
    while not port_file.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"emulator exited with {proc.returncode}:\n{log_path.read_text()}")
        if time.monotonic() > deadline:
            stop_emulator(proc)
            raise RuntimeError(f"emulator did not start in 60s:\n{log_path.read_text()}")
        time.sleep(0.05)
    return proc, int(port_file.read_text().strip()), log_path


def stop_emulator(proc: subprocess.Popen[bytes]) -> int:
    """Stop the process we started, by its PID: SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    return proc.returncode


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, port, _log = start_emulator(tmp_path_factory.mktemp("emulator"))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_emulator(proc)


def http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.fixture(autouse=True)
def fresh_state(emulator: str) -> None:
    status, body = http("POST", f"{emulator}/moto-api/reset", b"")
    assert status == 200, body


@pytest.fixture
def client(emulator: str) -> Callable[[str], Any]:
    """boto3 client factory: one attempt only, so an emulator error is never retried away."""

    def make(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=emulator,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )

    return make
