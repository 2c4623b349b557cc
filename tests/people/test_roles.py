"""Roles: only administrators grant or revoke them, never their own, only after a fresh step-up in a browser
session (never with an API token), and every change is in the audit trail."""

from __future__ import annotations

import time

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import NoReverseMatch, reverse

from agentiam.permissions import Role, roles_of
from agentiam.stepup import SESSION_AT, SESSION_USER
from audit.models import AuditEntry
from identities import services
from tests.cast import check_access

pytestmark = pytest.mark.django_db


def step_up(client: Client, user) -> Client:
    """What a successful step-up leaves in the session (the sign-in flow's own tests cover how)."""
    session = client.session
    session[SESSION_AT] = int(time.time())
    session[SESSION_USER] = user.pk
    session.save()
    return client


def group_names(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


# --- The service -------------------------------------------------------------------------------------


def test_an_administrator_grants_and_revokes_a_role_and_both_are_audited(cast):
    services.role_grant(actor=cast.administrator, person=cast.outsider, role=Role.AUDITOR)
    assert Role.AUDITOR in roles_of(type(cast.outsider).objects.get(pk=cast.outsider.pk))
    services.role_revoke(actor=cast.administrator, person=cast.outsider, role="auditor")
    assert group_names(cast.outsider) == set()
    entries = AuditEntry.objects.filter(object_id=str(cast.outsider.profile.uuid)).order_by("id")
    assert [(e.action, e.changes, e.actor_id) for e in entries] == [
        ("role.grant", {"role": "auditor"}, cast.administrator.pk),
        ("role.revoke", {"role": "auditor"}, cast.administrator.pk),
    ]


@pytest.mark.parametrize("change", [services.role_grant, services.role_revoke])
def test_nobody_changes_their_own_roles_not_even_an_administrator(cast, change):
    with pytest.raises(PermissionDenied, match=services.ROLE_SELF_CHANGE):
        change(actor=cast.administrator, person=cast.administrator, role=Role.AUDITOR)
    assert group_names(cast.administrator) == {"administrator"}
    assert not AuditEntry.objects.filter(action__startswith="role.").exists()


@pytest.mark.parametrize("actor", ["identity_owner", "manager", "compliance_officer", "security_analyst", "auditor"])
def test_only_administrators_grant_roles(cast, actor):
    with pytest.raises(PermissionDenied, match=services.NOT_ADMINISTRATOR):
        services.role_grant(actor=cast[actor], person=cast.outsider, role=Role.ADMINISTRATOR)
    assert group_names(cast.outsider) == set()


def test_an_unknown_role_a_held_role_and_a_missing_role_are_refused_naming_the_field(cast):
    with pytest.raises(ValidationError) as unknown:
        services.role_grant(actor=cast.administrator, person=cast.outsider, role="superuser")
    assert unknown.value.message_dict == {"role": [services.ROLE_UNKNOWN.format(role="superuser")]}
    with pytest.raises(ValidationError, match="already has the role Auditor"):
        services.role_grant(actor=cast.administrator, person=cast.auditor, role=Role.AUDITOR)
    with pytest.raises(ValidationError, match="does not have the role Manager"):
        services.role_revoke(actor=cast.administrator, person=cast.auditor, role=Role.MANAGER)


def test_a_disabled_person_cannot_be_granted_a_role_but_can_lose_one(cast):
    services.person_disable(actor=cast.administrator, profile=cast.auditor.profile, reason="left")
    with pytest.raises(ValidationError, match=services.ROLE_PERSON_INACTIVE):
        services.role_grant(actor=cast.administrator, person=cast.auditor, role=Role.MANAGER)
    services.role_revoke(actor=cast.administrator, person=cast.auditor, role=Role.AUDITOR)
    assert group_names(cast.auditor) == set()


# --- The pages ---------------------------------------------------------------------------------------


def test_granting_through_the_page_needs_a_fresh_step_up(cast, client_factory):
    url = reverse("role_grant", args=[cast.outsider.profile.uuid])
    client = client_factory(cast.administrator)
    response = client.post(url, {"role": "auditor"})
    assert response.status_code == 302
    try:
        step_up_url = reverse("step_up")
    except NoReverseMatch:  # the sign-in flow's page is not mounted yet: the redirect is all we can check
        step_up_url = "/"
    assert response.headers["Location"].startswith(step_up_url)
    assert group_names(cast.outsider) == set()
    step_up(client, cast.administrator)
    response = client.post(url, {"role": "auditor"})
    assert response.status_code == 302
    assert group_names(cast.outsider) == {"auditor"}
    assert AuditEntry.objects.filter(action="role.grant", object_id=str(cast.outsider.profile.uuid)).exists()


def test_an_old_step_up_no_longer_counts(cast, client_factory, settings):
    settings.STEP_UP_MAX_AGE = 300
    client = step_up(client_factory(cast.administrator), cast.administrator)
    session = client.session
    session[SESSION_AT] = int(time.time()) - 301
    session.save()
    client.post(reverse("role_grant", args=[cast.outsider.profile.uuid]), {"role": "auditor"})
    assert group_names(cast.outsider) == set()


def test_the_grant_page_shows_a_confirmation_with_the_roles_not_yet_held(cast, client_factory):
    client = step_up(client_factory(cast.administrator), cast.administrator)
    page = client.get(reverse("role_grant", args=[cast.auditor.profile.uuid]) + "?role=manager").content.decode()
    assert 'value="manager" checked' in page
    assert 'value="auditor"' not in page
    assert "recorded in the audit trail" in page


def test_the_role_pages_refuse_an_administrator_on_their_own_profile(cast, client_factory):
    client = step_up(client_factory(cast.administrator), cast.administrator)
    url = reverse("role_revoke", args=[cast.administrator.profile.uuid])
    assert "Nobody grants or revokes their own roles" in client.get(url).content.decode()
    assert client.post(url, {"role": "administrator"}).status_code == 403
    assert group_names(cast.administrator) == {"administrator"}


def test_a_bad_role_on_the_page_is_a_400_naming_the_field(cast, client_factory):
    client = step_up(client_factory(cast.administrator), cast.administrator)
    response = client.post(reverse("role_grant", args=[cast.outsider.profile.uuid]), {"role": "root"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert group_names(cast.outsider) == set()


def test_only_administrators_reach_the_role_pages(cast, client_factory):
    def stepped_up(user=None):
        client = client_factory(user)
        return step_up(client, user) if user is not None else client

    url = reverse("role_grant", args=[cast.outsider.profile.uuid])
    check_access(stepped_up, url, cast=cast, allowed=[Role.ADMINISTRATOR], expect_allowed=(200,))


# --- The API -----------------------------------------------------------------------------------------


def test_an_api_token_cannot_grant_a_role_even_an_administrators(cast):
    _, secret = services.api_token_create(actor=cast.administrator, name="automation")
    response = Client().post(
        f"/api/v1/people/{cast.outsider.profile.uuid}/roles/",
        {"role": "administrator"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 403
    assert response.json()["error"] == "step_up_required"
    assert group_names(cast.outsider) == set()
    assert not AuditEntry.objects.filter(action__startswith="role.").exists()


def test_a_stepped_up_administrator_session_grants_and_revokes_through_the_api(cast, client_factory):
    client = step_up(client_factory(cast.administrator), cast.administrator)
    base = f"/api/v1/people/{cast.outsider.profile.uuid}/roles/"
    granted = client.post(base, {"role": "manager"}, content_type="application/json")
    assert granted.status_code == 200 and granted.json()["roles"] == ["manager"]
    revoked = client.post(base + "revoke/", {"role": "manager"}, content_type="application/json")
    assert revoked.status_code == 200 and revoked.json()["roles"] == []
    assert AuditEntry.objects.filter(action__startswith="role.").count() == 2


def test_the_role_api_without_step_up_answers_step_up_required(cast, client_factory):
    response = client_factory(cast.administrator).post(
        f"/api/v1/people/{cast.outsider.profile.uuid}/roles/", {"role": "manager"}, content_type="application/json"
    )
    assert response.status_code == 403 and response.json()["error"] == "step_up_required"


def test_the_role_api_refuses_self_grants_and_bad_roles(cast, client_factory):
    client = step_up(client_factory(cast.administrator), cast.administrator)
    own = client.post(
        f"/api/v1/people/{cast.administrator.profile.uuid}/roles/", {"role": "auditor"}, content_type="application/json"
    )
    assert own.status_code == 403
    bad = client.post(
        f"/api/v1/people/{cast.outsider.profile.uuid}/roles/", {"role": "root"}, content_type="application/json"
    )
    assert bad.status_code == 400 and "role" in bad.json().get("fields", bad.json())


def test_only_administrators_may_call_the_role_api(cast, client_factory):
    def stepped_up(user=None):
        client = client_factory(user)
        return step_up(client, user) if user is not None else client

    check_access(
        stepped_up,
        f"/api/v1/people/{cast.outsider.profile.uuid}/roles/",
        cast=cast,
        method="post",
        data={"role": "auditor"},
        allowed=[Role.ADMINISTRATOR],
        expect_allowed=(200,),
    )
