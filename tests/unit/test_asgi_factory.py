"""The ASGI factory says when it runs no background workers, instead of silently correlating nothing."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import TEST_SECRETS


@pytest.mark.parametrize(("mode", "warned"), [("process", True), ("1", False), ("0", False)])
def test_factory_warns_only_when_workers_are_meant_for_serve(monkeypatch, tmp_path, caplog, mode, warned):
    from graph import asgi

    for name, value in TEST_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ALERTWHISPERER_HOME", str(tmp_path))
    monkeypatch.setenv("ALERTWHISPERER_WORKERS", mode)
    monkeypatch.setattr(asgi, "configure_logging", lambda level: None)  # keep pytest's log capture
    with caplog.at_level(logging.WARNING, logger="graph.workers"):
        app = asgi.app()
    assert app is not None
    assert any("no background workers" in r.getMessage() for r in caplog.records) is warned
