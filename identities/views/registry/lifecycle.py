"""The kill switch: suspend at once (owners, administrators, security analysts) and resume (administrators
or security analysts who do not own it, with a reason and a fresh step-up)."""

from __future__ import annotations

from django.contrib import messages
from django.views.decorators.http import require_http_methods

from agentiam.adapters import confirm, done
from agentiam.permissions import roles_required
from agentiam.stepup import step_up_required
from identities import services
from identities.forms import ReasonForm
from identities.rules import RESUMERS, SUSPENDERS, Right
from identities.runtime.services import ending
from identities.services import ERR_RESUME_ROLE, ERR_SUSPEND_ROLE
from identities.views.registry.common import abilities, identity_or_404, identity_url, require


def suspension_summary(name: str, counts: dict[str, int]) -> str:
    """What the kill switch did, in words, naming only what there was to end."""
    parts = [
        f"{n} {what}{'' if n == 1 else 's'} {verb}"
        for n, what, verb in (
            (counts["jit_entitlements"], "JIT entitlement", "ended"),
            (counts["grants"], "grant", "ended"),
            (counts["tasks"], "open task", "closed"),
            (counts["credentials"], "credential revocation", "requested"),
        )
        if n
    ]
    if not parts:
        return f"{name} is suspended. It held no JIT access, open tasks or credentials to revoke."
    return f"{name} is suspended: " + ", ".join(parts) + "."


@roles_required(SUSPENDERS)
@require_http_methods(["GET", "POST"])
def identity_suspend(request, uuid):
    """From the identity page this runs inline (htmx, after a confirmation); a refusal comes back into the
    kill-switch panel, a success reloads the page (access, tasks and credentials all changed)."""
    identity = identity_or_404(request, uuid)
    can = abilities(request, identity)
    if identity.status == "active":
        require(can.can_suspend, ERR_SUSPEND_ROLE)

    def suspended(counts):
        messages.warning(request, suspension_summary(identity.name, counts))
        return done(request, identity_url(identity))

    return confirm(request, "identities/registry/identity_suspend.html", {"identity": identity, "can": can},
                   form_class=ReasonForm, service=ending.identity_suspend, success=suspended,
                   partial="identities/registry/identity_detail.html#kill-switch", stale=identity_url(identity),
                   identity=identity, actor=request.user)  # fmt: skip


@roles_required(RESUMERS)
@require_http_methods(["GET", "POST"])
@step_up_required
def identity_resume(request, uuid):
    identity = identity_or_404(request, uuid)
    can = abilities(request, identity)
    require(can.may(Right.RESUME), ERR_RESUME_ROLE)

    def resumed(_identity):
        messages.success(request, f"{identity.name} is active again. Nothing was restored: grant access anew.")
        return done(request, identity_url(identity))

    context = {"identity": identity, "can": can}
    return confirm(request, "identities/registry/identity_resume.html", context, form_class=ReasonForm,
                   service=services.identity_resume, success=resumed, identity=identity,
                   actor=request.user)  # fmt: skip
