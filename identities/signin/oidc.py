"""Single sign-on through OpenID Connect (mozilla-django-oidc), with AgentIAM's linking rules.

- The ID token is checked for signature (RS256 or ES256 from the provider's JWKS), issuer, audience and
  expiry; mozilla-django-oidc checks the nonce, and the flow uses PKCE.
- A person is found by (issuer, subject) through identities.SSOLink, never by e-mail alone. The first link
  needs `email_verified: true` and an e-mail that matches exactly one active person who has no link to
  this issuer yet; anything else is refused.
- Persons created through single sign-on (only with OIDC_CREATE_USERS) get no role and no password.
- The second factor is still asked unless the ID token asserts MFA: `amr` contains "mfa", or `acr` is one
  of OIDC_MFA_ACR_VALUES.
"""

from __future__ import annotations

import logging

import jwt
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from identities.models import PersonStatus, SSOLink
from identities.signin import services

LOGGER = logging.getLogger(__name__)
# Claims only the ID token may supply; userinfo cannot override them.
ID_TOKEN_ONLY = frozenset({"iss", "sub", "aud", "exp", "iat", "nonce", "amr", "acr", "auth_time", "azp"})
CLOCK_LEEWAY = 30


def email_is_verified(claims: dict) -> bool:
    value = claims.get("email_verified")
    # Some providers send the JSON string "true"; anything else is not verified.
    return value is True or (isinstance(value, str) and value.lower() == "true")


def asserts_mfa(claims: dict) -> bool:
    amr = claims.get("amr") or []
    if isinstance(amr, str):
        amr = amr.split()
    if "mfa" in amr:
        return True
    acr = claims.get("acr")
    return bool(acr) and acr in getattr(settings, "OIDC_MFA_ACR_VALUES", [])


class SSOBackend(OIDCAuthenticationBackend):
    request = None

    def authenticate(self, request, **kwargs):
        # Only the OIDC callback authenticates here; a password sign-in never reaches the provider.
        if request is None or "username" in kwargs or "password" in kwargs:
            return None
        return super().authenticate(request, **kwargs)

    def get_user(self, user_id):
        # ModelBackend's version: an inactive person's session stops working.
        return ModelBackend.get_user(self, user_id)

    # --- Token and claims -------------------------------------------------------------------------------

    def _verify_jws(self, payload, key):
        header = jwt.get_unverified_header(payload)
        if header.get("alg") != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation("The ID token is not signed with the configured algorithm.")
        try:
            return jwt.decode(
                payload,
                key,
                algorithms=[self.OIDC_RP_SIGN_ALGO],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=settings.OIDC_OP_ISSUER,
                leeway=CLOCK_LEEWAY,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.PyJWTError as error:
            raise SuspiciousOperation(f"The ID token was refused: {error}") from error

    def get_userinfo(self, access_token, id_token, payload):
        claims = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT:
            info = super().get_userinfo(access_token, id_token, payload)
            if str(info.get("sub")) != str(payload.get("sub")):
                raise SuspiciousOperation("The userinfo subject differs from the ID token's.")
            claims.update({key: value for key, value in info.items() if key not in ID_TOKEN_ONLY})
        return claims

    def verify_claims(self, claims) -> bool:
        return claims.get("iss") == settings.OIDC_OP_ISSUER and bool(str(claims.get("sub") or "").strip())

    # --- Finding, linking and creating persons ------------------------------------------------------------

    @staticmethod
    def _active(queryset):
        return queryset.filter(is_active=True).exclude(
            profile__status__in=[PersonStatus.DISABLED, PersonStatus.DEPARTED]
        )

    def filter_users_by_claims(self, claims):
        """The person this provider account is linked to; or, for a first sign-in with a verified e-mail,
        the active persons with that e-mail who have no link to this issuer yet (exactly one may link)."""
        issuer, subject = claims.get("iss"), str(claims.get("sub"))
        link = SSOLink.objects.filter(issuer=issuer, subject=subject).first()
        if link is not None:
            return self._active(self.UserModel.objects.filter(pk=link.user_id))
        email = (claims.get("email") or "").strip()
        if not email or not email_is_verified(claims):
            return self.UserModel.objects.none()
        return self._active(self.UserModel.objects.filter(email__iexact=email)).exclude(sso_links__issuer=issuer)

    def create_user(self, claims):
        verified_email = (claims.get("email") or "").strip() if email_is_verified(claims) else ""
        return services.sso_person_create(
            issuer=claims["iss"],
            subject=str(claims["sub"]),
            preferred_username=str(claims.get("preferred_username") or ""),
            email=verified_email,
            first_name=str(claims.get("given_name") or ""),
            last_name=str(claims.get("family_name") or ""),
            request=self.request,
        )

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        if not self.verify_claims(claims):
            raise SuspiciousOperation("The ID token's issuer or subject is not acceptable.")
        issuer, subject = claims["iss"], str(claims["sub"])
        already_linked = SSOLink.objects.filter(issuer=issuer, subject=subject).exists()
        users = list(self.filter_users_by_claims(claims)[:2])
        if len(users) > 1:
            LOGGER.warning("SSO sign-in refused: %s matches several persons", self.describe_user_by_claims(claims))
            return None
        if users:
            user = users[0]
            if not already_linked:
                services.sso_link_create(user=user, issuer=issuer, subject=subject, request=self.request)
        elif already_linked:
            LOGGER.warning("SSO sign-in refused: the linked person is not active")
            return None
        elif self._email_belongs_to_someone(claims):
            # An existing person's e-mail that could not be linked (unverified, or that person is linked
            # to another account of this provider): never a second account for the same address.
            LOGGER.warning("SSO sign-in refused: %s cannot be linked", self.describe_user_by_claims(claims))
            return None
        elif self.get_settings("OIDC_CREATE_USER", False):
            user = self.create_user(claims)
        else:
            return None
        user.agentiam_idp_mfa = asserts_mfa(claims)
        return user

    def _email_belongs_to_someone(self, claims) -> bool:
        email = (claims.get("email") or "").strip()
        return bool(email) and self.UserModel.objects.filter(email__iexact=email).exists()
