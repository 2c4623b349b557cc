"""Signing in: OIDC, second factor, lockout, timeouts, step-up, the sign-in audit."""
