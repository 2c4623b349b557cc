"""Person look-up for the owner pickers: a few matches for what was typed, never the whole directory (an
estate has thousands of possible owners; a <select> of all of them made pages slow)."""

from __future__ import annotations

from django.db.models import Q
from django.shortcuts import render
from django.views.decorators.http import require_GET

from agentiam.permissions import Role, roles_required
from identities.filters import owner_candidates

MAX_MATCHES = 15
PICKER_PARAMS = ("q", "person", "owner", "to_person", "accountable_owner")


@require_GET
@roles_required(
    Role.ADMINISTRATOR, Role.IDENTITY_OWNER, Role.MANAGER, Role.COMPLIANCE_OFFICER, Role.SECURITY_ANALYST, Role.AUDITOR
)
def person_lookup(request):
    typed = next((request.GET[name] for name in PICKER_PARAMS if request.GET.get(name)), "").strip()[:100]
    people = []
    if typed:
        people = list(
            owner_candidates()
            .filter(
                Q(username__istartswith=typed)
                | Q(first_name__istartswith=typed)
                | Q(last_name__istartswith=typed)
                | Q(email__istartswith=typed)
            )
            .order_by("username")[:MAX_MATCHES]
        )
    return render(request, "identities/registry/_person_options.html", {"people": people})
