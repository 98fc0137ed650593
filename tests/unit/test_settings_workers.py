"""ALERTWHISPERER_WORKERS: where the background workers run."""

from __future__ import annotations

import pytest

from graph.settings import Settings, SettingsError

SECRETS = {"ALERTWHISPERER_JWT_SECRET": "j" * 40, "ALERTWHISPERER_DATA_KEY": "d" * 40}


@pytest.mark.parametrize(
    ("value", "mode", "inline"),
    [
        (None, "process", False),
        ("process", "process", False),
        ("1", "inline", True),
        ("true", "inline", True),
        ("0", "off", False),
        ("false", "off", False),
    ],
)
def test_worker_modes(tmp_path, value, mode, inline):
    env = (
        SECRETS
        | {"ALERTWHISPERER_HOME": str(tmp_path)}
        | ({"ALERTWHISPERER_WORKERS": value} if value else {})
    )
    settings = Settings.from_env(env)
    assert settings.workers == mode
    assert settings.run_workers is inline


def test_an_unknown_worker_mode_is_refused_with_the_choices(tmp_path):
    env = SECRETS | {"ALERTWHISPERER_HOME": str(tmp_path), "ALERTWHISPERER_WORKERS": "threads"}
    with pytest.raises(SettingsError, match="process, 1 .* or 0"):
        Settings.from_env(env)
