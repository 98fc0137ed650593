"""ASGI entry point for process managers: `uvicorn --factory graph.asgi:app`."""

from __future__ import annotations

from starlette.applications import Starlette

from graph.app import create_app
from graph.logs import configure_logging
from graph.settings import Settings


def app() -> Starlette:
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    return create_app(settings)
