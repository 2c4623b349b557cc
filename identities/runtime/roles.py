"""Who may read and change the runtime's trust configuration and its policies: one answer for the pages and
the API (an API module never imports a view)."""

from agentiam.permissions import SEE_EVERYTHING, Role

CONFIG_READERS = SEE_EVERYTHING
CONFIG_WRITERS = frozenset({Role.ADMINISTRATOR})
POLICY_READERS = SEE_EVERYTHING
POLICY_WRITERS = frozenset({Role.ADMINISTRATOR})
PER_CALL_WRITERS = frozenset({Role.ADMINISTRATOR, Role.SECURITY_ANALYST})  # per-call re-authorisation on or off
