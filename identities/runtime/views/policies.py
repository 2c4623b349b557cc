"""Policy versions: list, one version (rules with explanations, test cases), the draft editor, diff,
simulation over the decision log, and activation (a second administrator, with step-up)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agentiam.adapters import call_service
from agentiam.errors import Conflict
from agentiam.permissions import Role, roles_of, roles_required
from agentiam.stepup import step_up_required
from identities.runtime.models import PolicyStatus, PolicyVersion
from identities.runtime.policy import SYSTEM_REASONS, explanations
from identities.runtime.roles import POLICY_READERS, POLICY_WRITERS
from identities.runtime.services import policies as services


class DraftForm(forms.Form):
    summary = forms.CharField(max_length=300, required=False, label="Summary of the change")
    policy_text = forms.CharField(widget=forms.Textarea(attrs={"rows": 24, "class": "mono", "spellcheck": "false"}),
                                  label="Policy (Cedar)", strip=False)  # fmt: skip
    test_cases = forms.CharField(widget=forms.Textarea(attrs={"rows": 14, "class": "mono", "spellcheck": "false"}),
                                 label="Test cases (JSON)", required=False,
                                 help_text="A list of {name, entities, request, expect, expect_reasons}.")  # fmt: skip


class SimulateForm(forms.Form):
    days = forms.IntegerField(min_value=1, max_value=90, initial=7, required=False)


def _version(uuid) -> PolicyVersion:
    version = PolicyVersion.objects.select_related("parent", "author", "activated_by").filter(uuid=uuid).first()
    if version is None:
        raise Http404
    return version


def _rules(version: PolicyVersion) -> list[tuple[str, str]]:
    try:
        return list(explanations(version.policy_text).items())
    except ValueError:  # a draft may not parse yet
        return []


@roles_required(POLICY_READERS)
@require_GET
def policy_list(request):
    versions = PolicyVersion.objects.select_related("author", "activated_by", "parent").order_by("-number")
    return render(request, "runtime/policies/list.html", {"versions": versions, "can_write": _writer(request)})


def _writer(request) -> bool:
    return Role.ADMINISTRATOR in roles_of(request.user)


@roles_required(POLICY_READERS)
@require_GET
def policy_detail(request, uuid):
    version = _version(uuid)
    errors = services.policy_validate(version=version) if version.status == PolicyStatus.DRAFT else []
    context = {
        "version": version,
        "rules": _rules(version),
        "system": sorted(SYSTEM_REASONS.items()),
        "cases": version.test_cases,
        "test_cases_json": json.dumps(version.test_cases, indent=2),
        "errors": errors,
        "can_write": _writer(request),
        "own": request.user.pk in services.policy_editors(version),
    }
    return render(request, "runtime/policies/detail.html", context)


@roles_required(POLICY_WRITERS)
@require_POST
def policy_draft_new(request, uuid):
    parent = _version(uuid)
    draft = services.policy_draft_create(actor=request.user, parent=parent, request=request)
    messages.success(request, f"Draft version {draft.number} was created from version {parent.number}.")
    return redirect("runtime:policy-edit", uuid=draft.uuid)


def _save_draft(*, version, actor, data, request):
    return services.policy_draft_update(
        actor=actor, version=version, policy_text=data["policy_text"],
        test_cases=services.parse_test_cases(data["test_cases"]), summary=data["summary"], request=request,
    )  # fmt: skip


@roles_required(POLICY_WRITERS)
@require_http_methods(["GET", "POST"])
@never_cache
def policy_edit(request, uuid):
    version = _version(uuid)
    if version.status != PolicyStatus.DRAFT:
        messages.error(request, services.ERR_NOT_DRAFT.format(status=version.get_status_display().lower()))
        return redirect("runtime:policy", uuid=version.uuid)
    initial = {"summary": version.summary, "policy_text": version.policy_text,
               "test_cases": json.dumps(version.test_cases, indent=2)}  # fmt: skip
    form = DraftForm(request.POST or None, initial=initial)
    errors: list[str] = []
    status = 200
    if request.method == "POST" and form.is_valid():
        ok, saved, _status = call_service(form, _save_draft, version=version, actor=request.user,
                                          data=form.cleaned_data, request=request)  # fmt: skip
        if ok:
            version = saved
            errors = services.policy_validate(version=version)
            if not errors:
                messages.success(request, "Saved. The draft passes validation and every test case.")
                return redirect("runtime:policy", uuid=version.uuid)
            # Saved, but show what blocks activation beside the field it is about (rule ids, test names).
            messages.warning(request, "Saved, but the draft cannot be activated until the errors below are fixed.")
            cases_errors = [error for error in errors if error.startswith(("test ", "a test case"))]
            text_errors = [error for error in errors if error not in cases_errors]
            if text_errors:
                form.add_error("policy_text", text_errors)
            if cases_errors:
                form.add_error("test_cases", cases_errors)
    if request.method == "POST" and form.errors:
        status = 400
    return render(request, "runtime/policies/edit.html",
                  {"version": version, "form": form, "errors": errors}, status=status)  # fmt: skip


def _against(version: PolicyVersion, which: str) -> PolicyVersion | None:
    if which == "active":
        return PolicyVersion.objects.filter(status=PolicyStatus.ACTIVE).first()
    return version.parent


@roles_required(POLICY_READERS)
@require_GET
def policy_diff(request, uuid):
    version = _version(uuid)
    which = "active" if request.GET.get("against") == "active" else "parent"
    against = _against(version, which)
    diff = services.policy_diff(version=version, against=against)
    context = {"version": version, "against": against, "which": which, "diff": diff}
    return render(request, "runtime/policies/diff.html", context)


@roles_required(POLICY_READERS)
@require_GET
def policy_simulate(request, uuid):
    version = _version(uuid)
    form = SimulateForm(request.GET or {"days": 7})  # bound, so a refusal below can be added to it
    days = (form.cleaned_data.get("days") or 7) if form.is_valid() else 7
    simulation = None
    try:
        rules = {**explanations(version.policy_text), **SYSTEM_REASONS}
    except ValueError:
        rules = dict(SYSTEM_REASONS)
        form.add_error(None, services.ERR_UNPARSABLE)
    if not form.errors:
        simulation = services.policy_simulate(version=version, days=days)
    context = {"version": version, "form": form, "simulation": simulation, "days": days, "rules": rules}
    return render(request, "runtime/policies/simulate.html", context, status=400 if form.errors else 200)


@roles_required(POLICY_WRITERS)
@require_http_methods(["GET", "POST"])
@step_up_required
@never_cache
def policy_activate(request, uuid):
    version = _version(uuid)
    problem = ""
    if request.method == "POST":
        try:
            services.policy_activate(
                actor=request.user, version=version, digest=request.POST.get("digest", ""), request=request
            )
        except ValidationError as error:
            problem = " ".join(error.messages)
        except (PermissionDenied, Conflict) as error:
            problem = str(error)
        else:
            messages.success(request, f"Version {version.number} is active; gateways use it from their next call.")
            return redirect("runtime:policy", uuid=version.uuid)
    active = PolicyVersion.objects.filter(status=PolicyStatus.ACTIVE).first()
    context = {"version": version, "active": active, "problem": problem, "digest": services.policy_digest(version),
               "own": request.user.pk in services.policy_editors(version)}  # fmt: skip
    return render(request, "runtime/policies/activate.html", context, status=409 if problem else 200)
