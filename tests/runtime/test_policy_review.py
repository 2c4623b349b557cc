"""Four eyes on policy activation — nobody who wrote or edited a draft activates it, and activation names
the digest of exactly the text reviewed — and simulating a draft that does not parse is a 400 naming the
policy text, on the API (every reader) as on the page."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from agentiam.errors import Conflict
from agentiam.permissions import Role
from audit.models import AuditEntry
from identities.runtime.models import PolicyVersion
from identities.runtime.services import policies as services
from tests.cast import make_person
from tests.runtime.test_policy_governance import active, stepped_up, stricter_draft
from tests.support import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def admins(db):
    return [make_person(f"admin-{n}", Role.ADMINISTRATOR, employee_id=f"C-admin-{n}") for n in (2, 3)]


def edit(draft, actor, suffix="\n// reviewed wording\n") -> PolicyVersion:
    return services.policy_draft_update(
        actor=actor, version=draft, policy_text=draft.policy_text + suffix, test_cases=draft.test_cases
    )


def test_an_administrator_who_edited_anothers_draft_cannot_activate_it(cast, admins):
    editor, reviewer = admins
    draft = edit(stricter_draft(cast.administrator), editor)
    for person in (cast.administrator, editor):
        with pytest.raises(PermissionDenied, match="wrote or edited"):
            services.policy_activate(actor=person, version=draft, digest=services.policy_digest(draft))
    assert services.policy_editors(draft) == {cast.administrator.pk, editor.pk}
    services.policy_activate(actor=reviewer, version=draft, digest=services.policy_digest(draft))
    assert active() == draft
    assert AuditEntry.objects.get(action="policy.activate").changes["digest"] == services.policy_digest(draft)


def test_activation_names_the_digest_of_the_text_reviewed_and_a_later_change_needs_a_new_review(cast, admins):
    reviewer = admins[1]
    draft = stricter_draft(cast.administrator)
    with pytest.raises(ValidationError) as missing:
        services.policy_activate(actor=reviewer, version=draft)
    assert missing.value.message_dict == {"digest": [services.ERR_DIGEST_MISSING]}
    reviewed = services.policy_digest(draft)
    changed = edit(draft, cast.administrator)
    with pytest.raises(Conflict, match="changed after it was reviewed"):
        services.policy_activate(actor=reviewer, version=changed, digest=reviewed)
    assert active().number == 1 and PolicyVersion.objects.get(pk=draft.pk).status == "draft"
    services.policy_activate(actor=reviewer, version=changed, digest=services.policy_digest(changed))
    assert active() == changed


def test_the_api_and_the_page_say_why_activation_is_refused(cast, admins, client):
    editor, reviewer = admins
    draft = stricter_draft(cast.administrator)
    api = f"/api/v1/policies/{draft.uuid}/activate/"
    sign_in(client, reviewer)
    reviewed = client.get(f"/api/v1/policies/{draft.uuid}/").json()["digest"]
    assert reviewed == services.policy_digest(draft)
    edit(draft, editor)
    sign_in(client, editor)
    response = stepped_up(client, editor).post(api, {"digest": reviewed}, content_type="application/json")
    assert response.status_code == 403 and response.json()["detail"] == services.ERR_OWN_CHANGE
    sign_in(client, reviewer)
    client = stepped_up(client, reviewer)
    response = client.post(api, {}, content_type="application/json")
    assert response.status_code == 400 and response.json()["fields"] == {"digest": [services.ERR_DIGEST_MISSING]}
    response = client.post(api, {"digest": reviewed}, content_type="application/json")
    assert response.status_code == 409 and "review it again" in response.json()["detail"]
    page = reverse("runtime:policy-activate", args=[draft.uuid])
    response = client.post(page, {"digest": reviewed})
    assert response.status_code == 409 and "review it again" in response.content.decode()
    fresh = client.get(page)
    assert services.policy_digest(PolicyVersion.objects.get(pk=draft.pk)) in fresh.content.decode()
    assert active().number == 1
    response = client.post(page, {"digest": services.policy_digest(PolicyVersion.objects.get(pk=draft.pk))})
    assert response.status_code == 302 and active().pk == draft.pk


@pytest.mark.parametrize("reader", ["administrator", "auditor"])
def test_simulating_an_unparsable_draft_is_a_400_naming_the_policy_text(cast, client, reader):
    sign_in(client, cast.administrator)
    draft_id = client.post("/api/v1/policies/", {"parent": str(active().uuid)}, content_type="application/json")
    draft_id = draft_id.json()["id"]
    response = client.put(
        f"/api/v1/policies/{draft_id}/", {"policy_text": "0", "test_cases": []}, content_type="application/json"
    )
    assert response.status_code == 200
    sign_in(client, getattr(cast, reader))
    response = client.get(f"/api/v1/policies/{draft_id}/simulate/")
    assert response.status_code == 400, response.content[:300]
    assert response.json()["fields"] == {"policy_text": [services.ERR_UNPARSABLE]}
    page = client.get(reverse("runtime:policy-simulate", args=[draft_id]))
    assert page.status_code == 400 and services.ERR_UNPARSABLE in page.content.decode()
