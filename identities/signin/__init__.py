"""Sign-in security: throttled password sign-in, TOTP second factor, optional OpenID Connect single sign-on,
idle and absolute session timeouts, step-up checks and the audit entries of all of them."""
