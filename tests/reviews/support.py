"""Helpers the reviews tests share (fixtures are in conftest.py)."""

from __future__ import annotations

from reviews import services

WRITE = "github.create_pull_request:write"
READ = "github.create_pull_request:read"


def ask(estate, **extra):
    """The estate's owner asks for write on pull requests for the task fix-ci, for an hour (or as `extra` says)."""
    fields = {
        "identity": estate.agent,
        "task": "fix-ci",
        "scopes": [WRITE],
        "justification": "CI is red on main",
        "duration_seconds": 3600,
        "actor": estate.cast.identity_owner,
    }
    return services.request_create(**{**fields, **extra})
