"""Completing a reviewer's reduce of write, admin or execute access (issue 11 item 3): owners never grant
privileged access, so the narrower replacement waits for an administrator who does not own the identity. The
page shows what the reviewer decided and why, and completes it through reviews.services.attest
(review_item_complete_reduce: the entitlement is replaced through the runtime, its tokens end). An administrator
who owns the identity is refused (403) before the form; a reduce already completed shows who did it. The home
page's work list counts the reduces waiting for each administrator and links to the oldest."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from agentiam.adapters import confirm
from agentiam.errors import PermissionDenied
from agentiam.permissions import Role, roles_required
from identities.models import current_ownerships
from reviews.attest_reading import reduces_waiting_for, with_details
from reviews.models_campaigns import FulfilmentStatus, ItemDecision, ReviewItem
from reviews.services.attest import ERR_ADMIN_ONLY, MAX_COMMENT, review_item_complete_reduce

__all__ = ["COMPLETERS", "CompleteReduceForm", "item_complete_reduce"]

COMPLETERS = frozenset({Role.ADMINISTRATOR})


class CompleteReduceForm(forms.Form):
    exception_reason = forms.CharField(
        label="Exception reason", required=False, max_length=MAX_COMMENT, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Only when the identity is high or critical risk and the access stays standing write or admin.",
    )  # fmt: skip
    exception_until = forms.DateTimeField(
        label="Exception ends", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="With an exception reason: when the exception ends (UTC).",
    )  # fmt: skip


def _refuse_owner(item: ReviewItem, person) -> None:
    if current_ownerships().filter(person=person, identity_id=item.identity_id).exists():
        raise PermissionDenied(ERR_ADMIN_ONLY)


@roles_required(COMPLETERS)
@require_http_methods(["GET", "POST"])
@never_cache
def item_complete_reduce(request, uuid):
    item = get_object_or_404(
        with_details(ReviewItem.objects.filter(decision=ItemDecision.REDUCE, reduce_scope__isnull=False)), uuid=uuid
    )
    _refuse_owner(item, request.user)
    waiting = item.fulfilment_status == FulfilmentStatus.AWAITING_ADMIN

    def completed(result):
        messages.success(request, f"Reduced: {item.identity.name} now holds {item.entitlement.tool.key} "
                         f"{item.entitlement.action} within the narrower scope only.")  # fmt: skip
        following = reduces_waiting_for(request.user).order_by("decided_at", "pk").first()
        if following is not None:
            return redirect("reviews:item_complete_reduce", uuid=following.uuid)
        return redirect(reverse("dashboard"))

    context = {"item": item, "waiting": waiting, "replacement": item.replacement}
    return confirm(request, "reviews/attest/complete_reduce.html", context, form_class=CompleteReduceForm,
                   service=review_item_complete_reduce, success=completed, item=item,
                   actor=request.user)  # fmt: skip
