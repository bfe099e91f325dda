"""Serve moto (with our extension) on 127.0.0.1 only.

moto's own launcher (``moto_server``) binds wherever it is told and knows nothing of our
routes; this one always binds 127.0.0.1, can pick a free port, reports the port only once the
server answers, and adds the ``/_ecs_drain/`` routes by extending moto's
DomainDispatcherApplication (the same place moto routes ``/moto-api/``).
"""

from __future__ import annotations

import io
import json
import os
import threading
import urllib.request
from typing import Any

from flask import Flask
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from . import install
from .iam_ext import RAW_FORM_BODY
from .routes import PREFIX, create_app

HOST = "127.0.0.1"


class EcsDrainDispatcher(DomainDispatcherApplication):
    """moto's dispatcher, plus our test-only app for paths under ``/_ecs_drain/``."""

    def __init__(self) -> None:
        super().__init__(create_backend_app)
        self.ecs_drain_app = create_app()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        keep_raw_form_body(environ)
        return super().__call__(environ, start_response)

    def get_application(self, environ: dict[str, Any]) -> Flask:
        path = environ.get("PATH_INFO", "")
        if path == PREFIX or path.startswith(PREFIX + "/"):
            return self.ecs_drain_app
        return super().get_application(environ)


def keep_raw_form_body(environ: dict[str, Any]) -> None:
    """Save a form post's bytes before werkzeug parses them away (signature checks need them)."""
    if not (environ.get("CONTENT_TYPE") or "").startswith("application/x-www-form-urlencoded"):
        return
    try:
        size = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    if size <= 0:
        return
    body = environ["wsgi.input"].read(size)
    environ[RAW_FORM_BODY] = body
    environ["wsgi.input"] = io.BytesIO(body)


def make_emulator(port: int = 0) -> BaseWSGIServer:
    """Install the extension and bind the (not yet serving) threaded server."""
    install()
    server = make_server(HOST, port, EcsDrainDispatcher(), threaded=True)
    # Some moto code paths build URLs to themselves from MOTO_PORT.
    os.environ["MOTO_PORT"] = str(server.server_port)
    return server


def wait_until_answering(port: int, timeout: float = 30.0) -> None:
    url = f"http://{HOST}:{port}{PREFIX}/health"
    deadline = threading.Event()
    timer = threading.Timer(timeout, deadline.set)
    timer.start()
    try:
        while not deadline.is_set():
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if json.load(resp).get("ok"):
                        return
            except OSError:
                deadline.wait(0.05)
        raise TimeoutError(f"emulator on port {port} did not answer within {timeout}s")
    finally:
        timer.cancel()
