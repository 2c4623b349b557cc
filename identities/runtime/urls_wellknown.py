"""/.well-known/: the JWKS of AgentIAM's access tokens."""

from django.urls import path

from identities.runtime.views.keys import jwks

urlpatterns = [path("jwks.json", jwks, name="jwks")]
