"""Fixtures: one emulator process per test session (our launcher, 127.0.0.1, free port).

State is reset through moto's own ``POST /moto-api/reset`` before every test, so each test
starts from an empty account.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import pytest
from botocore.config import Config

from ecs_drain_moto import process

HERE = Path(__file__).resolve().parent
REGION = "us-east-1"


start_emulator = process.start
stop_emulator = process.stop


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
