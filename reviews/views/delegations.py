"""Delegations while away: an approver names a delegate for a period, sees the delegations they made and those
made to them, and revokes theirs; administrators see all and may name one for any approver. Routing reads
them at decision time (reviews.services.facts.slots), so a revoked or ended delegation stops at once."""

from __future__ import annotations

from datetime import timedelta

import django_filters
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from agentiam.adapters import call_service, confirm, done, form_status
from agentiam.permissions import ALL_ROLES, Role, roles_of, roles_required
from agentiam.tables import Column, Table
from reviews.forms_rules import ConfirmForm, DelegationForm, no_arguments
from reviews.models import Delegation
from reviews.selectors import delegations_visible_to
from reviews.services.rule_changes import (
    ERR_DELEGATE_FOR,
    ERR_NOT_APPROVER,
    delegation_create,
    delegation_revoke,
    is_approver,
)

__all__ = ["delegation_create_page", "delegation_list", "delegation_revoke_page"]


def _is_admin(user) -> bool:
    return Role.ADMINISTRATOR in roles_of(user)


class DelegationFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(
        choices=[("live", "Live now"), ("upcoming", "Upcoming"), ("over", "Over"), ("revoked", "Revoked")],
        method="by_state",
        label="State",
        empty_label="Any state",
    )
    mine = django_filters.ChoiceFilter(
        choices=[("made", "Made by me"), ("to_me", "Made to me")],
        method="by_mine",
        label="Whose",
        empty_label="Every one I see",
    )

    class Meta:
        model = Delegation
        fields = ["state", "mine"]

    def by_state(self, queryset, name, value):
        now = timezone.now()
        if value == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        live = queryset.filter(revoked_at__isnull=True)
        return {
            "live": live.filter(starts_at__lte=now, ends_at__gt=now),
            "upcoming": live.filter(starts_at__gt=now),
            "over": live.filter(ends_at__lte=now),
        }[value]

    def by_mine(self, queryset, name, value):
        user = self.request.user
        return queryset.filter(approver=user) if value == "made" else queryset.filter(delegate=user)


class DelegationTable(Table):
    id = "delegations"
    caption = "Delegations"
    columns = (
        Column("ends", "Until", sort_field="ends_at", descending_first=True, css="nowrap"),
        Column("approver", "Away approver"),
        Column("delegate", "Delegate"),
        Column("state", "State"),
        Column("actions", ""),
    )
    default_sort = "-ends"
    filterset_class = DelegationFilter
    row_template = "reviews/delegations/list.html#row"
    empty_title = "No delegations"
    empty_text = "While you are away, name a delegate: requests routed to you go to them for that period."


def state_of(row: Delegation, now) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if row.ends_at <= now:
        return "over"
    return "live" if row.starts_at <= now else "upcoming"


@roles_required(ALL_ROLES)
@require_GET
def delegation_list(request):
    table = DelegationTable(request, delegations_visible_to(request.user))
    now = timezone.now()
    for row in table.rows:
        row.state = state_of(row, now)
        row.may_revoke = row.state in ("live", "upcoming") and (
            row.approver_id == request.user.pk or _is_admin(request.user)
        )
    partial = request.htmx and not request.htmx.history_restore_request
    template = "reviews/delegations/list.html#table" if partial else "reviews/delegations/list.html"
    context = {
        "table": table,
        "may_delegate": _is_admin(request.user) or is_approver(request.user),
        "all": _is_admin(request.user),
    }
    return render(request, template, context, status=200 if table.filters_valid else 400)


@roles_required(ALL_ROLES)
@require_http_methods(["GET", "POST"])
def delegation_create_page(request):
    """Approvers name their delegate; administrators may name one for any approver."""
    admin = _is_admin(request.user)
    if not admin and not is_approver(request.user):
        raise PermissionDenied(ERR_NOT_APPROVER)
    now = timezone.now().replace(second=0, microsecond=0)
    initial = {"starts_at": now, "ends_at": now + timedelta(days=7)}
    form = DelegationForm(request.POST or None, user=request.user, on_behalf=admin, initial=initial)
    status = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        ok, row, status = call_service(
            form,
            delegation_create,
            actor=request.user,
            delegate=data["delegate"],
            approver=data.get("approver"),
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            reason=data["reason"],
            request=request,
        )
        if ok:
            who = row.delegate.get_full_name() or row.delegate.username
            messages.success(
                request,
                f"{who} decides the requests routed to {_whom(row, request.user)} until {row.ends_at:%d %b %H:%M} UTC.",
            )
            return done(request, reverse("reviews:delegations"))
    return render(request, "reviews/delegations/new.html", {"form": form}, status=form_status(request, status))


def _whom(row: Delegation, user) -> str:
    return "you" if row.approver_id == user.pk else (row.approver.get_full_name() or row.approver.username)


@roles_required(ALL_ROLES)
@require_http_methods(["GET", "POST"])
def delegation_revoke_page(request, uuid):
    """The approver who made it, or an administrator, revokes a delegation after confirming; the delegate sees
    it but may not revoke it (403); anyone else: 404."""
    row = get_object_or_404(delegations_visible_to(request.user), uuid=uuid)
    if row.approver_id != request.user.pk and not _is_admin(request.user):
        raise PermissionDenied(ERR_DELEGATE_FOR)
    if state_of(row, timezone.now()) in ("revoked", "over") and request.method == "GET":
        messages.info(request, "This delegation is no longer live.")
        return redirect("reviews:delegations")

    def revoked(_):
        messages.success(request, "Revoked: requests are routed to the approver again.")
        return done(request, reverse("reviews:delegations"))

    return confirm(
        request,
        "reviews/delegations/revoke.html",
        {"row": row},
        form_class=ConfirmForm,
        arguments=no_arguments,
        service=delegation_revoke,
        success=revoked,
        actor=request.user,
        delegation=row,
    )
