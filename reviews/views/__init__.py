"""Browser pages of reviews: one module per page family (requests, inbox, history; break-glass and rules)."""
