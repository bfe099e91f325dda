"""Starting and stopping the emulator as a child process, for test harnesses (pytest fixtures).

One copy for every Python suite: ``start`` runs ``python -m ecs_drain_moto --port 0`` on
127.0.0.1 and waits for its port file; ``stop`` ends it by the PID it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PACKAGE_PARENT = Path(__file__).resolve().parents[1]


def start(workdir: Path, timeout: float = 60) -> tuple[subprocess.Popen[bytes], int, Path]:
    """Start the launcher in ``workdir``; return the process, its port and its log file."""
    port_file = workdir / "port"
    log_path = workdir / "emulator.log"
    port_file.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONPATH=str(PACKAGE_PARENT))
    # moto picks these up for its own signing checks; never real credentials.
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ecs_drain_moto", "--port", "0", "--port-file", str(port_file)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + timeout
    while not port_file.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"emulator exited with {proc.returncode}:\n{log_path.read_text()}")
        if time.monotonic() > deadline:
            stop(proc)
            raise RuntimeError(f"emulator did not start within {timeout:.0f} s:\n{log_path.read_text()}")
        time.sleep(0.05)
    return proc, int(port_file.read_text().strip()), log_path


def stop(proc: subprocess.Popen[bytes]) -> int:
    """Stop the process we started, by its PID: SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    return proc.returncode
