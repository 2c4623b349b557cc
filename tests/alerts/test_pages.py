"""Alert pages and API: who may open and change what (anonymous, wrong role, another owner's identity, allowed),
filters, triage with its audit entries and refusals (nothing written), time-to-triage, suspending the identity
from the alert through the registry's kill switch, the analysts' count in the navigation and on the home page."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.alerts.evaluate import evaluate_new_events
from audit.alerts.models import Alert
from audit.alerts.services import ERR_OWN_IDENTITY, ERR_REASON, ERR_RESOLVED
from audit.models import AuditEntry
from identities.models import Identity
from tests.alerts.support import sensitive_secrets, widening_chain
from tests.cast import check_access, make_person
from tests.factories import OwnershipFactory, PersonFactory

pytestmark = pytest.mark.django_db
SEE_ALL = ["administrator", "compliance_officer", "security_analyst", "auditor"]
ROLES = ["identity_owner", "manager", *SEE_ALL]


@pytest.fixture
def alerts(estate, keys):
    sensitive_secrets()
    trace = widening_chain(estate, keys.all)
    evaluate_new_events()
    widened = Alert.objects.get(rule="privilege_widening")
    return {"trace": trace, "widened": widened, "other": Alert.objects.get(rule="outside_entitlement")}


@pytest.fixture
def other_owner():
    return PersonFactory(username="other-owner", roles=["identity_owner"])


def url(alert, tail: str = "") -> str:
    return f"/alerts/{alert.uuid}/{tail}"


def test_who_may_open_the_list_and_an_alert(cast, client_factory, alerts, other_owner):
    check_access(client_factory, "/alerts/", cast=cast, allowed=ROLES)
    check_access(client_factory, url(alerts["widened"]), cast=cast, allowed=ROLES, object_denied=[other_owner])
    assert alerts["widened"].title not in client_factory(other_owner).get("/alerts/").content.decode()


def test_the_list_filters_by_severity_state_rule_and_identity(cast, client_factory, alerts, estate):
    client = client_factory(cast.security_analyst)
    critical = client.get("/alerts/?severity=critical").content.decode()
    assert alerts["widened"].title in critical and alerts["other"].title not in critical
    by_rule = client.get("/alerts/?rule=outside_entitlement").content.decode()
    assert alerts["other"].title in by_rule and alerts["widened"].title not in by_rule
    assert (
        alerts["widened"].title in client.get(f"/alerts/?identity={estate.agent.uuid}&state=waiting").content.decode()
    )
    assert client.get("/alerts/?severity=loud").status_code == 400  # the filter names the field
    assert "2 waiting for triage" in client.get("/alerts/").content.decode()


def test_the_alert_shows_its_events_and_links_its_chain(cast, client_factory, alerts):
    page = client_factory(cast.security_analyst).get(url(alerts["widened"])).content.decode()
    assert f'href="/events/chains/{alerts["trace"]}/"' in page
    assert "write a secret" in page and "read the repo" in page and "Acknowledge" in page
    owner = client_factory(cast.identity_owner).get(url(alerts["widened"])).content.decode()
    assert "Acknowledge" not in owner and "Suspend" in owner  # owners may suspend, never triage


def test_triage_matrix_writes_nothing_refused(cast, client_factory, alerts, other_owner, estate):
    alert = alerts["widened"]
    target = url(alert, "triage/acknowledge/")
    check_access(client_factory, target, cast=cast, method="post", allowed=["security_analyst"],
                 expect_allowed=(302,))  # fmt: skip
    assert client_factory(other_owner).post(target).status_code == 403  # no analyst's role
    alert.refresh_from_db()
    assert alert.state == "acknowledged" and alert.assignee == cast.security_analyst and alert.triaged_at
    assert AuditEntry.objects.filter(action="alert.acknowledge", object_id=str(alert.uuid)).count() == 1
    entry = AuditEntry.objects.get(action="alert.acknowledge")
    assert "time_to_triage_seconds" in entry.changes
    # An analyst who owns the identity may not triage its alerts.
    owning = make_person("owning-analyst", "security_analyst", employee_id="C-oa")
    OwnershipFactory(identity=estate.agent, person=owning, role="backup")
    refused = client_factory(owning).post(url(alerts["other"], "triage/resolve/"), {"reason": "fine"})
    assert refused.status_code == 403 and ERR_OWN_IDENTITY in refused.content.decode()
    assert Alert.objects.get(pk=alerts["other"].pk).state == "open"


def test_resolve_needs_a_reason_and_is_final(cast, client_factory, alerts):
    client = client_factory(cast.security_analyst)
    alert = alerts["other"]
    blank = client.post(url(alert, "triage/resolve/"), {"reason": " "})
    assert blank.status_code == 400 and Alert.objects.get(pk=alert.pk).state == "open"
    assert client.post(url(alert, "triage/resolve/"), {"reason": "expected: a new integration"}).status_code == 302
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.resolution == "expected: a new integration"
    again = client.post(url(alert, "triage/acknowledge/"))
    assert again.status_code == 409 and ERR_RESOLVED in again.content.decode()
    assert client.post(url(alert, "triage/nonsense/")).status_code == 404
    assert AuditEntry.objects.filter(action__startswith="alert.", object_id=str(alert.uuid)).count() == 1


def test_suppress_until_a_date_leaves_the_count_until_then(cast, client_factory, alerts):
    client = client_factory(cast.security_analyst)
    alert = alerts["other"]
    past = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert client.post(url(alert, "triage/suppress/"), {"until": past, "reason": "x"}).status_code == 400
    soon = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    assert client.post(url(alert, "triage/suppress/"), {"until": soon, "reason": "known job"}).status_code == 302
    assert Alert.objects.get(pk=alert.pk).state == "suppressed"
    assert 'id="nav-count-alerts"' in client.get("/").content.decode()
    work = client.get("/worklist/").content.decode()  # the home page's work list, loaded after the page
    assert "Alerts to triage" in work and "?state=waiting" in work
    assert Alert.objects.waiting(timezone.now()).count() == 1
    assert Alert.objects.waiting(timezone.now() + timedelta(days=3)).count() == 2  # back once the date passes


def test_suspend_the_identity_from_the_alert(cast, client_factory, alerts, other_owner, estate):
    alert = alerts["widened"]
    target = url(alert, "suspend/")
    check_access(client_factory, target, cast=cast, allowed=["identity_owner", "administrator", "security_analyst"],
                 object_denied=[other_owner])  # fmt: skip
    assert client_factory(cast.auditor).post(target, {"reason": "x"}).status_code == 403
    answer = client_factory(cast.security_analyst).post(target, {"reason": "widened into secrets"})
    assert answer.status_code == 302 and answer["Location"] == url(alert)
    assert Identity.objects.get(pk=estate.agent.pk).status == "suspended"
    assert AuditEntry.objects.filter(action="identity.suspend", object_id=str(estate.agent.uuid)).count() == 1
    entry = AuditEntry.objects.get(action="alert.suspend_identity")
    assert entry.changes["reason"] == "widened into secrets" and entry.object_id == str(alert.uuid)
    blank = client_factory(cast.administrator).post(target, {"reason": ""})
    assert blank.status_code in (400, 409)  # already suspended or no reason: nothing more written
    assert AuditEntry.objects.filter(action="identity.suspend").count() == 1


def test_the_api_lists_filters_and_triages(cast, client_factory, alerts, other_owner):
    check_access(client_factory, "/api/v1/alerts/", cast=cast, allowed=ROLES)
    check_access(client_factory, f"/api/v1/alerts/{alerts['widened'].uuid}/", cast=cast, allowed=ROLES,
                 object_denied=[other_owner])  # fmt: skip
    analyst = client_factory(cast.security_analyst)
    listed = analyst.get("/api/v1/alerts/?severity=critical").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [row["rule"] for row in rows] == ["privilege_widening"]
    triage = f"/api/v1/alerts/{alerts['other'].uuid}/triage/"
    post = lambda client, body: client.post(triage, json.dumps(body), content_type="application/json")  # noqa: E731
    bad = post(analyst, {"action": "explode"})
    assert bad.status_code == 400 and "action" in bad.content.decode()
    nobody = post(analyst, {"action": "assign", "assignee": "cast-auditor"})
    assert nobody.status_code == 400 and "assignee" in nobody.content.decode()
    no_reason = post(analyst, {"action": "resolve"})
    assert no_reason.status_code == 400 and ERR_REASON in no_reason.content.decode()
    assert post(client_factory(cast.auditor), {"action": "acknowledge"}).status_code == 403
    assert post(client_factory(cast.identity_owner), {"action": "acknowledge"}).status_code == 403
    assert post(client_factory(other_owner), {"action": "acknowledge"}).status_code == 404
    done = post(analyst, {"action": "acknowledge"})
    assert done.status_code == 200 and done.json()["state"] == "acknowledged"
    assert done.json()["time_to_triage_seconds"] is not None
    suspend = f"/api/v1/alerts/{alerts['widened'].uuid}/suspend-identity/"
    refused = client_factory(cast.auditor).post(suspend, json.dumps({"reason": "x"}), content_type="application/json")
    assert refused.status_code == 403
    ok = client_factory(cast.identity_owner).post(suspend, json.dumps({"reason": "mine, gone wrong"}),
                                                  content_type="application/json")  # fmt: skip
    assert ok.status_code == 200 and Identity.objects.get(pk=alerts["widened"].identity_id).status == "suspended"
