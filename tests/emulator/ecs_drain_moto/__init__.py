"""ecs-drain's extension of the moto server (moto 5.2.1), used by the project's tests.

``install()`` patches moto in place (ECS filters/pagination, Auto Scaling lifecycle actions,
IAM evaluated against real resource ARNs while enforcement is on) and pins the ECS task state machine; ``server.serve()`` runs moto in server mode on
127.0.0.1 with the test-only ``/_ecs_drain/...`` routes. Start it with
``PYTHONPATH=tests/emulator .venv/bin/python -m ecs_drain_moto --port 0 --port-file PATH``.
"""

from __future__ import annotations

import moto

EXPECTED_MOTO_VERSION = "5.2.1"

# moto's default for ECS tasks is ("manual", times=1): every DescribeTasks call moves each
# described task one step RUNNING -> DEACTIVATING -> ... -> STOPPED, so tasks "stop" that
# nobody stopped. With this many ticks per step no test ever reaches a transition: tasks
# change state only through StopTask or the test-only task-status endpoint.
PINNED_TASK_TRANSITION = {"progression": "manual", "times": 1_000_000_000}

_installed = False


def pin_task_transition() -> None:
    from moto.moto_api import state_manager

    # Both: set_transition wins over the default, and unset-transition falls back to the
    # default, which is pinned too. /moto-api/reset leaves the state manager alone.
    state_manager.register_default_transition("ecs::task", PINNED_TASK_TRANSITION)
    state_manager.set_transition("ecs::task", PINNED_TASK_TRANSITION)


def install() -> None:
    """Apply every patch once (idempotent). Refuses a moto it was not written against."""
    global _installed
    if moto.__version__ != EXPECTED_MOTO_VERSION:
        raise RuntimeError(
            f"ecs_drain_moto is written against moto {EXPECTED_MOTO_VERSION}, "
            f"found {moto.__version__}: re-check every patch before changing the pin"
        )
    if _installed:
        return
    from . import autoscaling_ext, ecs_ext, events_ext, iam_ext, refresh_ext

    ecs_ext.install()
    autoscaling_ext.install()
    refresh_ext.install()
    iam_ext.install()
    events_ext.install()
    pin_task_transition()
    _installed = True
