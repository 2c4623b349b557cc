"""reviews' writes (`<entity>_<action>`, keyword-only, one transaction, audit entry last): elevation
requests (`requests`), their decisions and grants (`decisions`, `granting`), per-call re-authorisations
(`calls`), and what they read (`facts`)."""

from reviews.services import calls, decisions, requests
from reviews.services.calls import *  # noqa: F403
from reviews.services.decisions import *  # noqa: F403
from reviews.services.requests import *  # noqa: F403

__all__ = [*requests.__all__, *decisions.__all__, *calls.__all__]
