"""ASGI entry point for process managers: `uvicorn --factory graph.asgi:app`."""

from __future__ import annotations

import logging

from starlette.applications import Starlette

from graph.app import create_app
from graph.logs import configure_logging
from graph.settings import Settings


def app() -> Starlette:
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    if settings.workers == "process":
        # Only `alertwhisperer serve` starts the worker process; say so instead of silently
        # correlating nothing.
        logging.getLogger("graph.workers").warning(
            "no background workers in this process: ALERTWHISPERER_WORKERS=process applies to "
            "`alertwhisperer serve`; set ALERTWHISPERER_WORKERS=1 to run them here, or run `alertwhisperer worker`"
        )
    return create_app(settings)
