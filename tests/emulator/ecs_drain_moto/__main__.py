"""Launcher: ``python -m ecs_drain_moto --port 0 --port-file PATH``.

Binds 127.0.0.1 only (a free port when --port is 0), removes a stale --port-file at once,
writes the port to it (atomically, once the server answers), and serves until SIGTERM/SIGINT,
then exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from .server import HOST, make_emulator, wait_until_answering


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecs_drain_moto", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 = any free port")
    parser.add_argument("--port-file", help="write the chosen port here once the server answers")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    if args.port_file:
        # A port file left by an earlier run must not be mistaken for this one's.
        try:
            os.unlink(args.port_file)
        except FileNotFoundError:
            pass
    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_emulator(args.port)
    port = server.server_port
    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    thread = threading.Thread(target=server.serve_forever, name="moto-server", daemon=True)
    thread.start()
    try:
        wait_until_answering(port)
        if args.port_file:
            tmp = f"{args.port_file}.tmp{os.getpid()}"
            with open(tmp, "w") as f:
                f.write(f"{port}\n")
            os.replace(tmp, args.port_file)
        print(f"ecs_drain_moto: serving on http://{HOST}:{port} (pid {os.getpid()})", file=sys.stderr, flush=True)
        while not stop.wait(3600):
            pass
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
