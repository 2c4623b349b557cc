"""The runtime: token exchange, decide, introspect, keys, policies, gateways and the decision log."""
