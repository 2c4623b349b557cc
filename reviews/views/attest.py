""" "My reviews": a reviewer's items in open campaigns, grouped by identity with the evidence beside them, decided
one at a time in place (htmx: the item's row comes back with the progress and the navigation count out of
band), several at once, or by accepting every recommendation; and the reviewer's sign-off. Administrators
complete the privileged reduces waiting for them from the same item's API or the row's button."""

from __future__ import annotations

import uuid as uuid_module
from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Min, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from agentiam import slots
from agentiam.adapters import call_service
from agentiam.permissions import SEE_EVERYTHING, Role, roles_of
from reviews import attest_reading as reading
from reviews.attest_facts import eligible_reviewers
from reviews.forms_attest import ALIASES, AcceptForm, BulkForm, DecideForm, SignOffForm, shown_now
from reviews.models_campaigns import CampaignRun, ItemState, ReviewerSignOff, ReviewItem, RunState
from reviews.services import attest

# Who attests in the browser: identity owners and managers (the reviewer rule's owners and owners' managers), and
# anyone else an open campaign names as a reviewer (a fallback group's member of any role or none, a later stage's
# reviewer, a reassignee, an administrator reviewing AgentIAM's own role holders).
REVIEWERS = frozenset({Role.IDENTITY_OWNER, Role.MANAGER})


def may_review_here(user) -> bool:
    return bool(roles_of(user) & REVIEWERS) or reading.is_reviewer(user)


def nav_also(user) -> bool:
    """The "My reviews" entry for a reviewer the roles do not name — but not for the roles that see everything,
    whose one campaign entry is "Campaigns" (its page links here with their count, as the home page's work list
    does). Asked only of people no role names here: for the rest it costs no query."""
    return not (roles_of(user) & SEE_EVERYTHING) and reading.is_reviewer(user)


def reviewers_only(view):
    """Owners and managers, and anyone an open campaign names as a reviewer; anonymous → sign-in; else 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not may_review_here(request.user):
            raise PermissionDenied("Only a reviewer in an open review campaign has items here.")
        return view(request, *args, **kwargs)

    wrapper.allowed_roles = REVIEWERS  # and, beyond the roles, the reviewers open campaigns name
    wrapper.also_allowed = "reviewers named by an open campaign"
    return wrapper


IDENTITIES_PER_PAGE = 10
ITEMS_PER_IDENTITY = 50  # a page shows at most this many items of one identity (the rest: filter by identity)
SHOW = {"pending": "To decide", "decided": "Decided", "all": "All"}


def pending_count(user) -> int:
    return reading.pending_count(user)


SHOWN = {"pending": Q(state=ItemState.PENDING), "decided": ~Q(state=ItemState.PENDING), "all": Q()}


class _Counted:
    """A queryset whose count is already known (the figures query counted it): the paginator does not ask."""

    def __init__(self, queryset, count: int):
        self.queryset, self._count, self.ordered = queryset, count, True

    def count(self) -> int:
        return self._count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        return self.queryset[index]


def _runs(user) -> list[CampaignRun]:
    """Open runs the person has items in (signed off or not), soonest due first."""
    ids = ReviewItem.objects.filter(reviewer=user).values("run_id")
    runs = CampaignRun.objects.filter(state=RunState.OPEN, pk__in=ids).select_related("campaign")
    return list(runs.order_by("due_at", "pk"))


def _figures(request, runs, selected, show):
    """Per run: items, those done, the identities shown on this tab — one grouped query; plus, with several runs
    shown, the exact number of identities across them. Also primes the navigation's count."""
    shown_runs = [selected] if selected is not None else runs
    mine = reading.mine_in(request.user, shown_runs)
    identity = request.GET.get("identity")
    if identity:
        mine = mine.filter(identity__uuid=identity) if _is_uuid(identity) else mine.none()
    rows = {
        row["run_id"]: row
        for row in reading.mine_in(request.user, runs)
        .values("run_id")
        .annotate(
            total=Count("pk"),
            pending=Count("pk", filter=reading.STILL_PENDING),
            oldest=Min("due_at", filter=Q(state=ItemState.PENDING)),
            identities=Count("identity_id", distinct=True, filter=SHOWN[show]),
            roles=Count("pk", filter=SHOWN[show] & Q(identity__isnull=True)),
        )
    }
    signed = set(ReviewerSignOff.objects.filter(reviewer=request.user, run__in=runs).values_list("run_id", "stage"))
    for run in runs:
        row = rows.get(run.pk, {})
        run.mine = reading.Progress(row.get("total", 0), row.get("total", 0) - row.get("pending", 0), row.get("oldest"))
        # Signed off, unless a later stage's items reached them meanwhile (they sign that stage off once it starts).
        run.signed = (run.pk, run.stage) in signed and not row.get("total", 0)
    reading.remember_pending(request.user, sum(run.mine.pending for run in runs))
    chosen = [rows.get(run.pk, {}) for run in shown_runs]
    dues = [row["oldest"] for row in chosen if row.get("oldest")]
    total = reading.Progress(sum(r.get("total", 0) for r in chosen), sum(r.get("total", 0) - r.get("pending", 0)
                             for r in chosen), min(dues) if dues else None)  # fmt: skip
    groups = sum(r.get("identities", 0) + min(r.get("roles", 0), 1) for r in chosen)
    if len(shown_runs) > 1 or identity:
        groups = mine.filter(SHOWN[show]).aggregate(n=Count("identity_id", distinct=True))["n"] + int(
            mine.filter(SHOWN[show], identity__isnull=True).exists()
        )
    return mine.filter(SHOWN[show]), total, groups


def _page_items(request, mine, groups: int):
    """The items on this page: identities in name order, IDENTITIES_PER_PAGE of them, with their items."""
    keys = mine.values_list("identity__name", "identity_id").distinct().order_by("identity__name", "identity_id")
    page = Paginator(_Counted(keys, groups), IDENTITIES_PER_PAGE).get_page(request.GET.get("page"))
    ids = [key[1] for key in page.object_list]
    where = Q(identity_id__in=[i for i in ids if i is not None])
    if None in ids:  # AgentIAM role holdings: one group of their own
        where |= Q(identity__isnull=True)
    rows = mine.filter(where)
    order = ("identity__name", "identity_id", "entitlement__tool__key", "pk")
    items = list(reading.with_row(rows).order_by(*order)[: IDENTITIES_PER_PAGE * ITEMS_PER_IDENTITY])
    return page, items


def _is_uuid(value: str) -> bool:
    try:
        uuid_module.UUID(value)
    except ValueError:
        return False
    return True


def _decorate(items, request):
    shown = shown_now()
    for item in items:
        # The form's fields are written out by the template (a Form per row costs more than the row): the form
        # object comes back only to show a refusal's errors and values.
        item.prefix, item.shown_at, item.form = f"i{item.uuid.hex}", shown, None
        item.elsewhere = attest.revoked_elsewhere(item)
        item.may_change = item.signed_off_at is None and (item.state == "pending" or item.decision == "certify")
        item.may_change = item.may_change and not item.elsewhere and item.decided_via in ("", "reviewer")
    return items


@reviewers_only
@require_GET
def my_reviews(request):
    runs = _runs(request.user)
    selected = None
    if request.GET.get("run"):
        selected = next((run for run in runs if str(run.uuid) == request.GET["run"]), None)
        if selected is None:
            raise Http404
    show = request.GET.get("show") if request.GET.get("show") in SHOW else "pending"
    mine, total, groups = _figures(request, runs, selected, show)
    page, items = _page_items(request, mine, groups)
    briefs = reading.identity_briefs(_decorate(items, request))
    # Other apps' evidence beside each identity (recent chains: audit.events) reads for the whole page at once.
    slots.prime(request, "review_identity", [brief.identity for brief in briefs])
    context = {
        "runs": runs,
        "selected": selected,
        "page": page,
        "briefs": briefs,
        "show": show,
        "shows": SHOW,
        "progress": total,
        "accept_form": AcceptForm(initial={"run": selected.uuid if selected else None, "shown_at": shown_now()}),
        "bulk_form": BulkForm(initial={"shown_at": shown_now()}),
        "query": request.GET.urlencode(),
    }
    return render(request, "reviews/attest/my_reviews.html", context)


def _item_or_404(request, uuid) -> ReviewItem:
    return get_object_or_404(reading.with_details(reading.items_visible_to(request.user)), uuid=uuid)


def _row_response(request, item: ReviewItem, form=None, status=200, just=None, page=False):
    """The item's row (htmx, with the progress and the count out of band), or its own page without JavaScript
    when a decision was refused (the reason beside the form, the refusal's status)."""
    item = reading.with_details(ReviewItem.objects.all()).get(pk=item.pk)
    _decorate([item], request)
    if form is not None:
        item.form = form
    context = {
        "item": item,
        "oob": True,
        "just": just,
        "progress": reading.progress(reading.items_to_review(request.user)),
        "count": reading.pending_count(request.user),
    }
    if page:
        return render(request, "reviews/attest/item.html", {**context, "oob": False}, status=status)
    return render(request, "reviews/attest/my_reviews.html#item", context, status=status)


OUTCOME = {
    "certify": "Certified: the access stays. You may change this until you sign off.",
    "revoke": "Revoked: the access ends once fulfilment has run (usually seconds).",
    "reduce": "Reduced: the narrower access replaces it",
    "reassign": "Handed on: it waits for {who} now.",
}


@reviewers_only
@require_POST
def item_decide(request, uuid):
    item = _item_or_404(request, uuid)
    form = DecideForm(request.POST, prefix=f"i{item.uuid.hex}")
    ok, status = False, 400
    if form.is_valid():
        ok, decided, status = call_service(form, attest.review_item_decide, aliases=ALIASES, item=item,
                                           actor=request.user, request=request, **form.arguments())  # fmt: skip
        if ok:
            reading.forget(request.user)
            text = OUTCOME[form.cleaned_data["decision"]]
            if decided.decision == "reduce":
                text += " once an administrator completes it." if decided.fulfilment_status == "awaiting_admin" else "."
            who = form.cleaned_data.get("reassign_to")
            messages.success(request, text.format(who=who.get_full_name() or who.username if who else ""))
    if not request.htmx:
        if ok:
            return redirect(f"{reverse('reviews:my_reviews')}#item-{item.uuid.hex}")
        return _row_response(request, item, form, status, page=True)
    return _row_response(request, item, None if ok else form, 200 if ok else status, just=ok)


def _field_errors(form) -> str:
    parts = []
    for name, errors in form.errors.items():
        label = form.fields[name].label or name if name in form.fields else ""
        parts.append(f"{label}: {' '.join(errors)}" if label else " ".join(errors))
    return " ".join(parts)


@reviewers_only
@require_GET
def item_reassign(request, uuid):
    """The reassign form of one item, with the persons it may go to (loaded when the reviewer opens it)."""
    item = _item_or_404(request, uuid)
    if item.reviewer_id != request.user.pk:
        raise Http404
    candidates = eligible_reviewers(item)
    form = DecideForm(prefix=f"i{item.uuid.hex}", candidates=candidates, initial={"decision": "reassign"})
    context = {"item": item, "form": form, "candidates": candidates}
    template = "reviews/attest/_reassign.html" if request.htmx else "reviews/attest/reassign.html"
    return render(request, template, context)


def _back(request) -> str:
    url = reverse("reviews:my_reviews")
    run = request.POST.get("run")
    return f"{url}?run={run}" if run and _is_uuid(run) else url


@reviewers_only
@require_POST
def items_bulk(request):
    form = BulkForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        ok, decided, _ = call_service(form, attest.review_items_decide, items=data["items"], actor=request.user,
                                           decision=data["decision"], comment=data.get("comment") or "",
                                           time_spent_ms=form.time_spent(), request=request)  # fmt: skip
        if ok:
            word = "Certified" if data["decision"] == "certify" else "Revoked"
            messages.success(request, f"{word} {len(decided)} item{'s' if len(decided) != 1 else ''}.")
            return redirect(_back(request))
    messages.error(request, "Nothing was decided: " + (" ".join(form.non_field_errors()) or _field_errors(form)))
    return redirect(_back(request))


@reviewers_only
@require_POST
def items_accept(request):
    form = AcceptForm(request.POST)
    if form.is_valid():
        run = None
        if form.cleaned_data.get("run"):
            mine = CampaignRun.objects.filter(items__reviewer=request.user).distinct()
            run = get_object_or_404(mine, uuid=form.cleaned_data["run"])
        ok, accepted, _ = call_service(form, attest.review_items_accept_recommendations, actor=request.user, run=run,
                                       comment=form.cleaned_data.get("comment") or "",
                                       time_spent_ms=form.time_spent(), request=request)  # fmt: skip
        if ok:
            text = f"Accepted {accepted.certified + accepted.revoked} recommendations: {accepted.certified} certified, "
            text += f"{accepted.revoked} revoked."
            if accepted.left:
                text += f" {accepted.left} left for you to decide one by one (no recommendation, or a comment needed)."
            messages.success(request, text)
            return redirect(_back(request))
    messages.error(request, "Nothing was accepted: " + (" ".join(form.non_field_errors()) or _field_errors(form)))
    return redirect(_back(request))


@reviewers_only
@require_POST
def review_sign_off(request, uuid):
    run = get_object_or_404(CampaignRun.objects.filter(items__reviewer=request.user).distinct(), uuid=uuid)
    form = SignOffForm(request.POST)
    if form.is_valid():
        ok, signed, _ = call_service(form, attest.review_signoff, run=run, actor=request.user,
                                     note=form.cleaned_data.get("note") or "", request=request)  # fmt: skip
        if ok:
            messages.success(request, f"Signed off {signed.items} items of {run.campaign.name}: they no longer change.")
            return redirect(reverse("reviews:my_reviews"))
    messages.error(request, "Not signed off: " + (" ".join(form.non_field_errors()) or _field_errors(form)))
    return redirect(f"{reverse('reviews:my_reviews')}?run={run.uuid}")
