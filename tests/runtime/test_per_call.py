"""Per-call re-authorisation on decide: for an identity (or a risk tier) in the mode, a write / admin / execute
call the policy allows is denied with an AuthZEN-like access request until a person approves exactly that
call; the approval allows one matching decision, consumed by a conditional UPDATE, within 5 minutes."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.db import IntegrityError, ProgrammingError, connections, transaction
from django.test import Client
from django.utils import timezone

from identities import services as registry
from identities.models import Identity, Task
from identities.runtime import services as runtime
from identities.runtime.models import CallAuthorisation, PerCallMode, PolicyDecision
from identities.runtime.services import decide as decide_service
from reviews import services as reviews
from tests.runtime_support import access_token, decide, decide_batch

pytestmark = pytest.mark.django_db

WRITE = {"tool": "github.create_pull_request", "action": "write"}
RESOURCE = {"repo": "acme/api"}


@pytest.fixture
def write_token(estate):
    first = access_token(scope="github.read_repo:read", task="fix-ci")
    task = Task.objects.get(uuid=first["task_id"])
    registry.grant_create(
        identity=estate.agent, task=task, entries=[(estate.create_pr, "write", {"repo": "acme/*"})],
        ends_at=timezone.now() + timedelta(hours=1), actor=estate.cast.manager,
    )  # fmt: skip
    return access_token(scope="github.create_pull_request:write github.read_repo:read", task="fix-ci")["access_token"]


@pytest.fixture
def gated(estate):
    return runtime.per_call_mode_create(actor=estate.cast.security_analyst, identity=estate.agent)


def write(estate, token, resource=RESOURCE, credential=None):
    response = decide(credential or estate.credential, token, resource=resource, **WRITE)
    assert response.status_code == 200, response.content
    return response


def asked(response) -> dict:
    body = response.json()
    assert body["decision"] == "deny" and body["reasons"] == ["deny-call-needs-approval"], body
    assert response["Retry-After"] == "5"
    context = body["context"]
    assert context["evaluation_id"] == body["decision_id"]
    request = context["access_request"]
    assert set(request) >= {"id", "endpoint", "expires_at", "retry_after", "form_url"}
    assert request["endpoint"].endswith(f"/api/v1/runtime/access-requests/{request['id']}")
    return request


def approve(request_id, estate):
    call = CallAuthorisation.objects.get(uuid=request_id)
    return reviews.call_approve(call=call, actor=estate.cast.manager, comment="ok once")


def test_a_per_call_approval_allows_exactly_one_matching_call_and_a_replay_is_denied(estate, write_token, gated):
    first = asked(write(estate, write_token))
    again = asked(write(estate, write_token))
    assert again["id"] == first["id"]  # the same request while pending, no duplicate
    assert CallAuthorisation.objects.filter(identity=estate.agent).count() == 1
    approve(first["id"], estate)
    allowed = write(estate, write_token).json()
    assert allowed["decision"] == "allow" and allowed["reasons"] == ["allow-jit", "allow-call-approved"]
    used = CallAuthorisation.objects.get(uuid=first["id"])
    assert used.state == "consumed" and str(used.consumed_decision) == allowed["decision_id"]
    assert PolicyDecision.objects.get(uuid=allowed["decision_id"]).evaluated["per_call"] == {
        "authorisation": first["id"], "used": True,
    }  # fmt: skip
    replay = asked(write(estate, write_token))
    assert replay["id"] != first["id"]  # used up: the same call asks again


def test_an_approval_does_not_cover_a_different_resource(estate, write_token, gated):
    first = asked(write(estate, write_token))
    approve(first["id"], estate)
    other = asked(write(estate, write_token, resource={"repo": "acme/web"}))
    assert other["id"] != first["id"]
    assert CallAuthorisation.objects.get(uuid=first["id"]).state == "approved"  # still unused


def test_the_same_call_more_than_5_minutes_after_the_approval_is_denied_and_asks_again(
    estate, write_token, gated, monkeypatch
):
    first = asked(write(estate, write_token))
    approve(first["id"], estate)
    later = timezone.now() + timedelta(minutes=5, seconds=1)
    monkeypatch.setattr(decide_service.timezone, "now", lambda: later)
    late = asked(write(estate, write_token))
    assert late["id"] != first["id"]
    assert CallAuthorisation.objects.get(uuid=first["id"]).state == "approved"  # lapsed, never used


def test_a_denied_call_stays_denied_and_the_next_one_asks_again(estate, write_token, gated):
    first = asked(write(estate, write_token))
    reviews.call_deny(call=CallAuthorisation.objects.get(uuid=first["id"]), actor=estate.cast.manager)
    assert asked(write(estate, write_token))["id"] != first["id"]


def test_reads_and_identities_outside_the_mode_are_not_gated(estate, write_token, gated):
    body = decide(estate.credential, write_token).json()
    assert body["decision"] == "allow" and "context" not in body  # a read
    PerCallMode.objects.filter(pk=gated.pk).update(disabled_at=timezone.now())
    assert write(estate, write_token).json()["decision"] == "allow"


def test_a_risk_tier_in_the_mode_gates_its_identities(estate, write_token):
    runtime.per_call_mode_create(actor=estate.cast.administrator, risk_tier="high")
    assert write(estate, write_token).json()["decision"] == "allow"
    Identity.objects.filter(pk=estate.agent.pk).update(risk_tier="high")
    asked(write(estate, write_token))


def test_a_call_the_policy_denies_opens_no_access_request(estate, write_token, gated):
    body = write(estate, write_token, resource={"repo": "other/x"}).json()
    assert body["decision"] == "deny" and "context" not in body
    assert not CallAuthorisation.objects.exists()


def test_a_lapsed_pending_request_is_renewed_not_duplicated(estate, write_token, gated, monkeypatch):
    first = asked(write(estate, write_token))
    later = timezone.now() + timedelta(minutes=11)
    monkeypatch.setattr(decide_service.timezone, "now", lambda: later)
    renewed = asked(write(estate, write_token))
    assert renewed["id"] == first["id"] and CallAuthorisation.objects.count() == 1
    assert CallAuthorisation.objects.get().expires_at > later


def test_in_a_batch_one_approval_allows_only_the_first_matching_call(estate, write_token, gated):
    first = asked(write(estate, write_token))
    approve(first["id"], estate)
    call = {"token": write_token, "resource": RESOURCE, **WRITE}
    decisions = decide_batch(estate.credential, [call, call]).json()["decisions"]
    assert [d["decision"] for d in decisions] == ["allow", "deny"]
    assert decisions[1]["context"]["access_request"]["id"] != first["id"]


@pytest.mark.django_db(transaction=True)
def test_decide_for_an_identity_outside_the_mode_still_costs_two_queries(
    estate, write_token, django_assert_max_num_queries
):
    write(estate, write_token)
    with django_assert_max_num_queries(2):
        assert write(estate, write_token).json()["decision"] == "allow"


@pytest.mark.django_db(transaction=True)
def test_a_gated_call_settles_and_logs_in_one_transaction(estate, write_token, gated, django_assert_max_num_queries):
    asked(write(estate, write_token))
    # lookup; BEGIN, settle, SAVEPOINT, log, RELEASE, COMMIT: the approval used and the decision it allowed
    # commit together.
    with django_assert_max_num_queries(7):
        asked(write(estate, write_token))


@pytest.mark.django_db(transaction=True)
def test_calls_racing_for_one_approval_get_exactly_one_allow(estate, write_token, gated):
    for _round in range(20):
        request_id = asked(write(estate, write_token))["id"]
        approve(request_id, estate)
        barrier, outcomes = threading.Barrier(4), []

        def run(barrier=barrier, outcomes=outcomes):
            try:
                barrier.wait(10)
                body = decide(estate.credential, write_token, resource=RESOURCE, **WRITE).json()
                outcomes.append(body["decision"])
            finally:
                connections.close_all()

        threads = [threading.Thread(target=run) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(outcomes) == ["allow", "deny", "deny", "deny"], outcomes
        assert CallAuthorisation.objects.get(uuid=request_id).state == "consumed"
        CallAuthorisation.objects.filter(state="pending").update(state="denied", decided_by=estate.cast.manager,
                                                                 decided_at=timezone.now())  # fmt: skip


def test_the_access_request_endpoint_says_where_it_stands_to_its_gateway_only(estate, write_token, gated):
    request_id = asked(write(estate, write_token))["id"]
    url = f"/api/v1/runtime/access-requests/{request_id}"

    def poll(credential):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {credential}"} if credential else {}
        return Client().get(url, **headers)

    pending = poll(estate.credential)
    assert pending.status_code == 200 and pending.json()["state"] == "pending" and pending["Retry-After"] == "5"
    assert poll(estate.other_credential).status_code == 404
    assert poll(None).status_code == 401
    assert poll("aiamgw_nothing_wrong").status_code == 401
    approve(request_id, estate)
    assert poll(estate.credential).json()["state"] == "approved"
    write(estate, write_token)
    assert poll(estate.credential).json()["state"] == "used"


def test_the_database_refuses_an_owner_or_the_identitys_person_deciding(estate, write_token, gated):
    request_id = asked(write(estate, write_token))["id"]
    rows = CallAuthorisation.objects.filter(uuid=request_id)
    for person in (estate.cast.identity_owner,):
        with pytest.raises(IntegrityError), transaction.atomic():
            rows.update(state="approved", decided_by=person, decided_at=timezone.now(),
                        valid_until=timezone.now() + timedelta(minutes=5))  # fmt: skip
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.update(state="consumed", consumed_at=timezone.now())  # never used before an approval
    rows.update(state="approved", decided_by=estate.cast.manager, decided_at=timezone.now(),
                valid_until=timezone.now() + timedelta(minutes=5))  # fmt: skip
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.update(valid_until=timezone.now() + timedelta(days=1))  # an approval is not stretched
    write(estate, write_token)
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.update(state="approved")  # a used approval never comes back
    with pytest.raises(ProgrammingError), transaction.atomic():
        rows.delete()


def test_the_decide_answer_is_json_with_the_access_request(estate, write_token, gated):
    body = json.loads(write(estate, write_token).content)
    assert body["context"]["access_request"]["expires_at"].endswith("Z")
