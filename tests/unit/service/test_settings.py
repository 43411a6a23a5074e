"""``ServiceSettings``: defaults, environment variables and refused values."""

from __future__ import annotations

import pytest

from agent_runtime.errors import ConfigError
from agent_runtime.ops.faults import FaultSettings
from agent_runtime.service.settings import ServiceSettings


def test_defaults_from_an_empty_environment() -> None:
    settings = ServiceSettings.from_env({})
    assert settings.admin_token is None and not settings.admin_enabled
    assert (settings.max_task_chars, settings.max_body_bytes) == (4000, 64 * 1024)
    assert settings.faults == FaultSettings(enabled=False)


def test_values_from_the_environment() -> None:
    settings = ServiceSettings.from_env(
        {
            "AGENT_RUNTIME_ADMIN_TOKEN": " s3cret ",
            "AGENT_RUNTIME_MAX_TASK_CHARS": "100",
            "AGENT_RUNTIME_MAX_BODY_BYTES": "2048",
            "AGENT_RUNTIME_FAULTS": "1",
        }
    )
    assert settings.admin_token == "s3cret" and settings.admin_enabled
    assert (settings.max_task_chars, settings.max_body_bytes) == (100, 2048)
    assert settings.faults is not None and settings.faults.enabled


def test_blank_token_variable_disables_admin() -> None:
    assert ServiceSettings.from_env({"AGENT_RUNTIME_ADMIN_TOKEN": "   "}).admin_token is None


def test_token_is_not_in_repr() -> None:
    assert "s3cret" not in repr(ServiceSettings(admin_token="s3cret"))


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"AGENT_RUNTIME_MAX_TASK_CHARS": "lots"}, "AGENT_RUNTIME_MAX_TASK_CHARS: must be an integer, got 'lots'"),
        ({"AGENT_RUNTIME_MAX_BODY_BYTES": "0"}, "AGENT_RUNTIME_MAX_BODY_BYTES: must be > 0, got 0"),
    ],
)
def test_bad_variables_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ServiceSettings.from_env(environ)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"max_task_chars": 0}, "service.max_task_chars"),
        ({"max_body_bytes": -1}, "service.max_body_bytes"),
        ({"max_context_keys": True}, "service.max_context_keys"),
        ({"admin_token": " "}, "service.admin_token"),
    ],
)
def test_bad_values_are_refused(kwargs: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ServiceSettings(**kwargs)  # type: ignore[arg-type]
    assert caught.value.key == key
