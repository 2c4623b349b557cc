"""The service error types live in agentiam.errors (every app shares them); re-exported for old imports."""

from agentiam.errors import Conflict, invalid

__all__ = ["Conflict", "invalid"]
