"""People pages: administrators manage persons and roles; the see-everything roles read."""

from __future__ import annotations

from functools import partial

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from agentiam.adapters import call_service, confirm, form_status
from agentiam.permissions import ROLE_LABELS, SEE_EVERYTHING, Role, has_role, roles_required
from agentiam.stepup import step_up_required
from identities import services
from identities.forms import DisableForm, EnableForm, PersonForm, RoleForm
from identities.models import PersonStatus, Profile
from identities.selectors import PersonFilter, people_visible_to, person_activity, roles_held, tokens_of

PAGE_SIZE = 25


def _person(request, uuid) -> Profile:
    return get_object_or_404(people_visible_to(request.user), uuid=uuid)


@roles_required(SEE_EVERYTHING)
@require_http_methods(["GET"])
def people_list(request):
    people = PersonFilter(request.GET or None, queryset=people_visible_to(request.user), request=request)
    page = Paginator(people.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    for profile in page:
        profile.roles = roles_held(profile.user)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "filter": people,
        "page": page,
        "query": query.urlencode(),
        "can_manage": has_role(request.user, Role.ADMINISTRATOR),
        "filtered": any(request.GET.get(name) for name in ("q", "status", "role")),
    }
    template = "identities/people/list.html#people-table" if request.htmx else "identities/people/list.html"
    return render(request, template, context, status=400 if people.errors else 200)


@roles_required(SEE_EVERYTHING)
@require_http_methods(["GET"])
def person_detail(request, uuid):
    profile = _person(request, uuid)
    held = roles_held(profile.user)
    is_admin = has_role(request.user, Role.ADMINISTRATOR)
    context = {
        "profile": profile,
        "person": profile.user,
        "roles": held,
        "grantable": [role for role in Role if role not in held],
        "reports": people_visible_to(request.user).filter(manager=profile.user)[:20],
        "tokens_active": tokens_of(profile.user).filter(revoked_at__isnull=True).count(),
        "tokens_all": tokens_of(profile.user).count(),
        "activity": person_activity(profile),
        "can_manage": is_admin,
        "can_change_roles": is_admin and profile.user_id != request.user.pk,
    }
    return render(request, "identities/people/detail.html", context)


@roles_required(Role.ADMINISTRATOR)
@require_http_methods(["GET", "POST"])
def person_create(request):
    def added(profile):
        messages.success(request, f"{profile} was added. Grant roles below if they need any.")
        return redirect("person", uuid=profile.uuid)

    return confirm(request, "identities/people/form.html", {"creating": True}, form_class=PersonForm,
                   service=services.person_create, success=added, actor=request.user)  # fmt: skip


@roles_required(Role.ADMINISTRATOR)
@require_http_methods(["GET", "POST"])
def person_edit(request, uuid):
    profile = _person(request, uuid)
    user = profile.user
    initial = {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "employee_id": profile.employee_id or "",
        "job_title": profile.job_title,
        "manager": profile.manager.get_username() if profile.manager else "",
    }

    def updated(_profile):
        messages.success(request, f"{profile} was updated.")
        return redirect("person", uuid=profile.uuid)

    return confirm(request, "identities/people/form.html", {"profile": profile, "creating": False},
                   form_class=partial(PersonForm, initial=initial, editing=True), service=services.person_update,
                   success=updated, actor=request.user, profile=profile)  # fmt: skip


@roles_required(Role.ADMINISTRATOR)
@require_http_methods(["GET", "POST"])
def person_status(request, uuid):
    """Disable (or mark departed) an active person, or enable an inactive one, after confirmation."""
    profile = _person(request, uuid)
    enabling = profile.status != PersonStatus.ACTIVE

    def changed(changed_profile):
        if enabling:
            messages.success(request, f"{profile} can sign in again.")
        else:
            messages.success(request, f"{profile} is {changed_profile.status}: signed out and tokens revoked.")
        return redirect("person", uuid=profile.uuid)

    context = {
        "profile": profile,
        "enabling": enabling,
        "is_self": profile.user_id == request.user.pk,
        "tokens_active": tokens_of(profile.user).filter(revoked_at__isnull=True).count(),
    }
    form_class, service = (EnableForm, services.person_enable) if enabling else (DisableForm, services.person_disable)
    return confirm(request, "identities/people/status.html", context, form_class=form_class,
                   service=service, success=changed, actor=request.user, profile=profile)  # fmt: skip


def _role_change(request, uuid, *, granting: bool):
    profile = _person(request, uuid)
    held = roles_held(profile.user)
    form = RoleForm(request.POST or request.GET or None)
    status = None
    if request.method == "POST" and form.is_valid():
        change = services.role_grant if granting else services.role_revoke
        ok, role, status = call_service(
            form, change, actor=request.user, person=profile.user, role=form.cleaned_data["role"], request=request
        )
        if ok:
            done = "granted to" if granting else "revoked from"
            messages.success(request, f"{ROLE_LABELS[role]} {done} {profile}.")
            return redirect("person", uuid=profile.uuid)
    choices = [role for role in Role if (role not in held) == granting]
    context = {
        "profile": profile,
        "form": form,
        "granting": granting,
        "choices": choices,
        "chosen": form["role"].value(),
        "is_self": profile.user_id == request.user.pk,
    }
    return render(request, "identities/people/role_change.html", context, status=form_status(request, status))


@roles_required(Role.ADMINISTRATOR)
@require_http_methods(["GET", "POST"])
@step_up_required
def role_grant(request, uuid):
    return _role_change(request, uuid, granting=True)


@roles_required(Role.ADMINISTRATOR)
@require_http_methods(["GET", "POST"])
@step_up_required
def role_revoke(request, uuid):
    return _role_change(request, uuid, granting=False)
