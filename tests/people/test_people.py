"""Persons: the People pages, profiles, managers, and disabling (which ends sessions and tokens at once)."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse
from playwright.sync_api import expect

from agentiam.navigation import navigation_for
from agentiam.permissions import SEE_EVERYTHING, Role
from audit.models import AuditEntry
from identities import services
from identities.models import PersonSession, PersonStatus, Profile
from tests.cast import EVERYONE, check_access, make_person
from tests.support import enter_as

pytestmark = pytest.mark.django_db
User = get_user_model()
DEMO = {
    "admin": "administrator",
    "owner": "identity_owner",
    "manager": "manager",
    "compliance": "compliance_officer",
    "analyst": "security_analyst",
    "auditor": "auditor",
}
SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"
READERS = [Role.ADMINISTRATOR, Role.COMPLIANCE_OFFICER, Role.SECURITY_ANALYST, Role.AUDITOR]


def test_every_new_user_gets_a_profile_however_it_was_made(db):
    user = User.objects.create_user(username="made-elsewhere")
    assert Profile.objects.get(user=user).status == PersonStatus.ACTIVE


def test_the_see_everything_roles_are_exactly_the_people_readers():
    assert set(READERS) == SEE_EVERYTHING


# --- Access --------------------------------------------------------------------------------------------


def test_the_people_list_is_for_administrators_and_the_read_only_roles(cast, client_factory):
    check_access(client_factory, reverse("people"), cast=cast, allowed=READERS, expect_allowed=(200,))


def test_a_person_page_is_for_the_same_roles(cast, client_factory):
    url = reverse("person", args=[cast.outsider.profile.uuid])
    check_access(client_factory, url, cast=cast, allowed=READERS, expect_allowed=(200,))


def test_an_unknown_person_is_a_404(cast, client_factory):
    url = reverse("person", args=["00000000-0000-0000-0000-000000000000"])
    assert client_factory(cast.auditor).get(url).status_code == 404


@pytest.mark.parametrize("name", ["person_edit", "person_status"])
def test_only_administrators_open_the_management_pages(cast, client_factory, name):
    url = reverse(name, args=[cast.outsider.profile.uuid])
    check_access(client_factory, url, cast=cast, allowed=[Role.ADMINISTRATOR], expect_allowed=(200,))


def test_only_administrators_add_people(cast, client_factory):
    check_access(
        client_factory, reverse("person_create"), cast=cast, allowed=[Role.ADMINISTRATOR], expect_allowed=(200,)
    )
    check_access(
        client_factory,
        reverse("person_create"),
        cast=cast,
        method="post",
        data={"username": "new-hire"},
        allowed=[Role.ADMINISTRATOR],
        expect_allowed=(302,),
    )
    assert User.objects.filter(username="new-hire").count() == 1


def test_everyone_signed_in_has_their_own_profile_page(cast, client_factory):
    seen = check_access(client_factory, reverse("my_profile"), cast=cast, allowed=EVERYONE, expect_allowed=(200,))
    assert seen["outsider"] == 200
    page = client_factory(cast.outsider).get(reverse("my_profile")).content.decode()
    assert "You have no role yet" in page and "C-outsider" in page


def test_the_people_api_is_read_only_for_the_reading_roles(cast, client_factory):
    check_access(client_factory, "/api/v1/people/", cast=cast, allowed=READERS, expect_allowed=(200,))
    url = f"/api/v1/people/{cast.outsider.profile.uuid}/"
    check_access(client_factory, url, cast=cast, allowed=READERS, expect_allowed=(200,))
    assert client_factory(cast.administrator).delete(url).status_code == 405


def test_me_is_for_everyone_signed_in(cast, client_factory):
    check_access(client_factory, "/api/v1/me/", cast=cast, allowed=EVERYONE, expect_allowed=(200,))
    body = client_factory(cast.identity_owner).get("/api/v1/me/").json()
    assert body["roles"] == ["identity_owner"] and body["manager"]["username"] == "cast-manager"
    assert body["id"] == str(cast.identity_owner.profile.uuid) and "pk" not in body


def test_the_navigation_shows_people_only_to_those_who_may_open_it(cast):
    def labels(user):
        request = RequestFactory().get("/")
        request.user, request.resolver_match = user, None
        return {entry["label"] for section in navigation_for(request) for entry in section["entries"]}

    for name, user in cast.members().items():
        assert ("People" in labels(user)) == (name in {r.value for r in READERS}), name
        assert "My profile" in labels(user)


# --- The list ------------------------------------------------------------------------------------------


def test_the_list_searches_and_filters_by_status_and_role(cast, client_factory):
    services.person_disable(actor=cast.administrator, profile=cast.outsider.profile, reason="contract ended")
    client = client_factory(cast.auditor)

    def names(**query):
        response = client.get(reverse("people"), query)
        assert response.status_code == 200
        return {p.user.username for p in response.context["page"]}

    assert names(q="cast-man") == {"cast-manager"}
    assert names(q="C-auditor") == {"cast-auditor"}
    assert names(status="disabled") == {"cast-outsider"}
    assert names(role="security_analyst") == {"cast-security_analyst"}
    assert names(role="none") == {"cast-outsider"}
    assert client.get(reverse("people"), {"status": "bogus"}).status_code == 400


def test_the_list_answers_htmx_with_the_table_alone(cast, client_factory):
    client = client_factory(cast.auditor)
    response = client.get(reverse("people"), {"q": "cast"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="people-table">') and "<html" not in body


def test_the_list_pages_through_many_people(cast, client_factory):
    for i in range(30):
        make_person(f"bulk-{i:02d}")
    client = client_factory(cast.auditor)
    first = client.get(reverse("people"))
    assert len(first.context["page"]) == 25 and "Next" in first.content.decode()
    second = client.get(reverse("people"), {"page": 2})
    assert len(second.context["page"]) == 37 - 25


# --- A person's page -----------------------------------------------------------------------------------


def test_a_persons_page_shows_profile_manager_roles_tokens_and_activity(cast, client_factory):
    services.api_token_create(actor=cast.identity_owner, name="ci")
    services.person_update(actor=cast.administrator, profile=cast.identity_owner.profile, job_title="ML engineer")
    page = client_factory(cast.auditor).get(reverse("person", args=[cast.identity_owner.profile.uuid]))
    body = page.content.decode()
    assert "C-identity_owner" in body and "ML engineer" in body
    assert cast.manager.get_full_name() in body
    assert "Identity owner" in body and "1 active" in body
    assert "person.update" in body and "api_token.create" in body
    # Read-only roles see no management controls.
    assert "Grant role" not in body and "Disable…" not in body and "Edit" not in body


def test_administrators_see_management_controls_but_not_role_controls_on_themselves(cast, client_factory):
    client = client_factory(cast.administrator)
    other = client.get(reverse("person", args=[cast.auditor.profile.uuid])).content.decode()
    assert "Grant role" in other and "Revoke…" in other and "Disable…" in other
    own = client.get(reverse("person", args=[cast.administrator.profile.uuid])).content.decode()
    assert "Grant role" not in own and "Revoke…" not in own and "Disable…" not in own
    assert "another administrator must" in own


# --- Create and update ---------------------------------------------------------------------------------


def test_adding_a_person_records_their_profile_and_audits_it(cast, client_factory):
    response = client_factory(cast.administrator).post(
        reverse("person_create"),
        {"username": "dana", "first_name": "Dana", "employee_id": "E-77", "manager": "cast-manager"},
    )
    profile = Profile.objects.get(user__username="dana")
    assert response.headers["Location"] == reverse("person", args=[profile.uuid])
    assert (profile.employee_id, profile.manager) == ("E-77", cast.manager)
    assert not profile.user.has_usable_password() and not profile.user.groups.exists()
    entry = AuditEntry.objects.get(action="person.create")
    assert entry.object_id == str(profile.uuid) and entry.changes["manager"] == "cast-manager"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"username": "cast-auditor"}, "username", "already exists"),
        ({"username": "x", "employee_id": "C-auditor"}, "employee_id", "already has the employee id"),
        ({"username": "x", "manager": "ghost"}, "manager", "No person has the username"),
        ({"username": "bad name!"}, "username", "Letters, digits"),
    ],
)
def test_bad_input_when_adding_is_a_400_naming_the_field(cast, client_factory, data, field, message):
    response = client_factory(cast.administrator).post(reverse("person_create"), data)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert not AuditEntry.objects.filter(action__startswith="person.").exists()


def test_editing_audits_only_what_changed(cast, client_factory):
    client = client_factory(cast.administrator)
    url = reverse("person_edit", args=[cast.outsider.profile.uuid])
    initial = client.get(url).context["form"].initial
    response = client.post(url, {**initial, "job_title": "Contractor", "manager": "cast-auditor"})
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="person.update")
    assert entry.changes == {
        "job_title": {"from": "", "to": "Contractor"},
        "manager": {"from": "cast-manager", "to": "cast-auditor"},
    }


def test_a_manager_loop_is_refused(cast):
    with pytest.raises(ValidationError, match="reports, directly or not"):
        services.person_update(actor=cast.administrator, profile=cast.manager.profile, manager=cast.identity_owner)
    with pytest.raises(ValidationError, match="their own manager"):
        services.person_update(actor=cast.administrator, profile=cast.manager.profile, manager=cast.manager)


def test_only_administrators_change_persons(cast):
    with pytest.raises(PermissionDenied):
        services.person_update(actor=cast.auditor, profile=cast.outsider.profile, job_title="x")
    with pytest.raises(PermissionDenied):
        services.person_disable(actor=cast.security_analyst, profile=cast.outsider.profile, reason="x")


# --- Disable and enable --------------------------------------------------------------------------------


def test_disabling_a_person_ends_every_session_of_theirs_at_once(cast, client_factory):
    laptop, phone = client_factory(cast.auditor), client_factory(cast.auditor)
    bystander = client_factory(cast.compliance_officer)
    assert laptop.get(reverse("people")).status_code == 200
    assert PersonSession.objects.filter(user_id=cast.auditor.pk).count() == 2
    response = client_factory(cast.administrator).post(
        reverse("person_status", args=[cast.auditor.profile.uuid]), {"status": "departed", "reason": "left"}
    )
    assert response.status_code == 302
    assert not PersonSession.objects.filter(user_id=cast.auditor.pk).exists()
    for client in (laptop, phone):
        assert client.get(reverse("people")).status_code == 302  # back to the sign-in page
        assert client.get("/api/v1/me/").status_code in (401, 403)
    assert bystander.get(reverse("people")).status_code == 200
    profile = Profile.objects.select_related("user").get(user=cast.auditor)
    assert profile.status == PersonStatus.DEPARTED and not profile.user.is_active
    entry = AuditEntry.objects.get(action="person.disable")
    assert entry.changes["sessions_ended"] == 2 and entry.changes["reason"] == "left"


def test_a_disabled_person_cannot_sign_in_again(cast):
    services.person_disable(actor=cast.administrator, profile=cast.auditor.profile, reason="suspicious")
    request = RequestFactory().post("/accounts/login/")
    assert authenticate(request, username="cast-auditor", password=settings.AGENTIAM_DEMO_PASSWORD) is None


def test_the_disable_page_asks_for_a_reason_and_says_what_happens(cast, client_factory):
    client = client_factory(cast.administrator)
    url = reverse("person_status", args=[cast.auditor.profile.uuid])
    assert "takes effect immediately" in client.get(url).content.decode()
    response = client.post(url, {"status": "disabled", "reason": ""})
    assert response.status_code == 400 and "reason" in response.context["form"].errors
    assert Profile.objects.get(user=cast.auditor).status == PersonStatus.ACTIVE


def test_nobody_disables_themselves(cast, client_factory):
    with pytest.raises(PermissionDenied, match=services.SELF_DISABLE):
        services.person_disable(actor=cast.administrator, profile=cast.administrator.profile, reason="oops")
    client = client_factory(cast.administrator)
    url = reverse("person_status", args=[cast.administrator.profile.uuid])
    assert "You cannot disable yourself" in client.get(url).content.decode()
    assert client.post(url, {"status": "disabled", "reason": "x"}).status_code == 403


def test_enabling_lets_a_person_back_in_with_their_roles_but_not_their_old_tokens(cast, client_factory):
    token, _ = services.api_token_create(actor=cast.auditor, name="ci")
    services.person_disable(actor=cast.administrator, profile=cast.auditor.profile, reason="leave")
    client = client_factory(cast.administrator)
    url = reverse("person_status", args=[cast.auditor.profile.uuid])
    assert "stay revoked" in client.get(url).content.decode()
    assert client.post(url, {"reason": "back from leave"}).status_code == 302
    user = User.objects.get(pk=cast.auditor.pk)
    assert user.is_active and user.profile.status == PersonStatus.ACTIVE
    assert client_factory(user).get(reverse("people")).status_code == 200
    assert type(token).objects.get(pk=token.pk).revoked_at is not None
    actions = AuditEntry.objects.exclude(action__startswith="auth.").order_by("id").values_list("action", flat=True)
    assert list(actions) == [
        "api_token.create",
        "person.disable",
        "person.enable",
    ]


# --- Demo data -----------------------------------------------------------------------------------------


def test_seed_demo_gives_the_demo_people_profiles_managers_and_roles(db):
    call_command("seed_demo", stdout=StringIO())
    people = {p.user.username: p for p in Profile.objects.with_people().filter(user__username__in=DEMO)}
    assert people["owner"].manager.username == "manager" and people["owner"].employee_id == "E-1002"
    for username, role in DEMO.items():
        assert set(people[username].user.groups.values_list("name", flat=True)) == {role}


def test_seed_demo_again_does_not_undo_an_administrators_changes(db):
    call_command("seed_demo", stdout=StringIO())
    admin, owner = User.objects.get(username="admin"), User.objects.get(username="owner")
    services.role_revoke(actor=admin, person=owner, role=Role.IDENTITY_OWNER)
    services.person_update(actor=admin, profile=owner.profile, employee_id="X-9", manager=None)
    call_command("seed_demo", stdout=StringIO())
    owner = Profile.objects.get(user__username="owner")
    assert not owner.user.groups.exists() and owner.employee_id == "X-9" and owner.manager is None


def test_seed_demo_scale_gives_every_person_a_profile(db):
    call_command("seed_demo", "--scale", "200", stdout=StringIO())
    assert not User.objects.filter(profile__isnull=True).exists()
    assert Profile.objects.filter(user__username__startswith="scale-").count() == 200


# --- In a browser --------------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_administrator_finds_a_person_grants_a_role_and_disables_them(live_server, page):
    admin = make_person("priya", Role.ADMINISTRATOR, first_name="Priya", last_name="Raman", employee_id="E-1001")
    lead = make_person("maya", Role.MANAGER, first_name="Maya", last_name="Lindqvist", employee_id="E-1003")
    make_person(
        "oliver", Role.IDENTITY_OWNER, first_name="Oliver", last_name="Grant", manager=lead, employee_id="E-1002"
    )
    make_person("aiko", Role.AUDITOR, first_name="Aiko", last_name="Tanaka", employee_id="E-1006")
    enter_as(page, live_server, admin, step_up=True)

    page.goto(live_server.url + "/people/")
    expect(page.locator("#people-table tbody tr")).to_have_count(4)
    page.get_by_placeholder("Search name").fill("grant")
    expect(page.locator("#people-table tbody tr")).to_have_count(1)  # htmx swapped the table in place
    expect(page).to_have_url(re.compile(r"\?q=grant"))
    page.get_by_role("link", name="Oliver Grant").click()

    expect(page.locator("h1")).to_contain_text("Oliver Grant")
    expect(page.get_by_text("Maya Lindqvist")).to_be_visible()
    page.get_by_role("link", name="Grant role…").click()
    page.get_by_label("Security analyst").check()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "people_role_grant_confirmation.png"), full_page=True)
    page.get_by_role("button", name="Grant role").click()
    expect(page.locator(".toast")).to_contain_text("Security analyst granted to Oliver Grant")
    expect(page.locator(".panel").filter(has_text="Recent activity")).to_contain_text("role.grant")

    page.get_by_role("link", name="Disable…").click()
    expect(page.get_by_text("This takes effect immediately")).to_be_visible()
    page.get_by_label("Departed (left the organisation)").check()
    page.get_by_label("Reason").fill("Left the company on 30 November")
    page.screenshot(path=str(SHOTS / "people_disable_confirmation.png"), full_page=True)
    page.get_by_role("button", name="Disable Oliver Grant").click()
    expect(page.locator(".alert-warn")).to_contain_text("Departed")
    assert Profile.objects.get(user__username="oliver").status == PersonStatus.DEPARTED


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_auditor_reads_the_people_list_without_management_controls(live_server, page):
    auditor = make_person("aiko", Role.AUDITOR, first_name="Aiko", last_name="Tanaka", employee_id="E-1006")
    lead = make_person("maya", Role.MANAGER, first_name="Maya", last_name="Lindqvist", employee_id="E-1003")
    for i, (first, last, role) in enumerate(
        [
            ("Priya", "Raman", Role.ADMINISTRATOR),
            ("Oliver", "Grant", Role.IDENTITY_OWNER),
            ("Carlos", "Mendes", Role.COMPLIANCE_OFFICER),
            ("Sana", "Okafor", Role.SECURITY_ANALYST),
            ("Jonas", "Weber", None),
        ]
    ):
        roles = [role] if role else []
        make_person(first.lower(), *roles, first_name=first, last_name=last, manager=lead, employee_id=f"E-20{i}")
    enter_as(page, live_server, auditor)
    page.goto(live_server.url + "/people/")
    expect(page.locator("#people-table tbody tr")).to_have_count(7)
    expect(page.get_by_role("link", name="Add person")).to_have_count(0)
    page.locator("select[name=role]").select_option("none")
    expect(page.locator("#people-table tbody tr")).to_have_count(1)
    page.locator("select[name=role]").select_option("")
    expect(page.locator("#people-table tbody tr")).to_have_count(7)
