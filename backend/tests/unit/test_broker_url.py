"""The broker URL in messages: a password in it never shows."""

from __future__ import annotations

import socket

from app.config import Settings
from app.jobs.celery_app import broker_problem, shown_url


def test_a_broker_password_is_hidden_in_every_message() -> None:
    assert shown_url("redis://:s3cr3t-pw@cache.internal:6379/0") == "redis://:***@cache.internal:6379/0"
    assert shown_url("redis://user:s3cr3t-pw@cache.internal/1") == "redis://user:***@cache.internal/1"
    assert shown_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]  # bound, not listening: connections are refused
        settings = Settings.model_validate({"SECUREAI_BROKER_URL": f"redis://:s3cr3t-pw@127.0.0.1:{closed}/0"})
        problem = broker_problem(settings)
    assert problem is not None and "unreachable" in problem and "s3cr3t-pw" not in problem
