"""The audit trail, its integrity checks, its page and the signing keys."""
