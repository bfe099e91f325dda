"""The launcher itself: loopback only, port file, clean exit on SIGTERM / SIGINT."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from conftest import http, start_emulator


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp*) of LISTEN sockets on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                found.add(address)
    return found


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_launcher_listens_on_loopback_only_and_exits_zero_on_signal(tmp_path, sig):
    proc, port, log = start_emulator(tmp_path)
    try:
        assert (tmp_path / "port").read_text() == f"{port}\n"
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing else
        assert http("GET", f"http://127.0.0.1:{port}/_ecs_drain/health") == (200, b'{"ok": true}')
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, sig)
        rc = proc.wait(timeout=15)
    assert rc == 0, log.read_text()


def test_unknown_test_endpoint_is_a_json_404(emulator):
    status, body = http("GET", f"{emulator}/_ecs_drain/nope")
    assert status == 404
    assert b"no test endpoint" in body
