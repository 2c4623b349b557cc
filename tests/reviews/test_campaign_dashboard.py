"""A campaign run's dashboard (figures, burn-down, per reviewer, fulfilment), the compliance officer's
stepped-up sign-off that closes it and freezes the report, the report's printable page, CSV and JSON, and the
`export_campaign_report` command. Who may open each page: anonymous, wrong role, allowed, unknown run."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
import uuid
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.html import escape

from agentiam import outbox
from agentiam.permissions import SEE_EVERYTHING
from agentiam.stepup import SESSION_AT, SESSION_USER
from audit.models import AuditEntry
from reviews.campaign_figures import figures
from reviews.campaign_report import canonical
from reviews.models import CampaignRun, ReviewItem
from reviews.services.signoff import ERR_SIGN_PENDING, ERR_SIGN_REVIEWER, ERR_SIGN_ROLE, campaign_run_sign_off
from tests.cast import check_access, make_person
from tests.factories import EntitlementFactory, IdentityFactory, ToolFactory
from tests.reviews.campaign_support import decide, item_for, open_run

READERS = sorted(role.value for role in SEE_EVERYTHING)


def stepped_up(client, user):
    session = client.session
    session[SESSION_AT], session[SESSION_USER] = int(time.time()), user.pk
    session.save()
    return client


def entitlements(identity, n: int) -> list:
    return [EntitlementFactory(identity=identity, tool=ToolFactory(key=f"tool.n{uuid.uuid4().hex[:8]}"))
            for _ in range(n)]  # fmt: skip


@pytest.fixture
def campaign(cast):
    """alice: 4 items — certified (4 s), revoked and fulfilled, two pending (one past due); bob: 3 bulk certifies."""
    alice = make_person("alice", "identity_owner", manager=cast.manager, email="alice@example.com")
    bob = make_person("bob", "identity_owner", manager=cast.manager, email="bob@example.com")
    run = open_run(days_left=5, started_days_ago=6)
    a_agent, b_agent = IdentityFactory(owner=alice, name="alpha-bot"), IdentityFactory(owner=bob, name="beta-bot")
    a = [item_for(run, e, alice, recommendation=rec, reason="unused for 90 days" if rec == "revoke" else "")
         for e, rec in zip(entitlements(a_agent, 4), ["keep", "revoke", "revoke", "none"], strict=True)]  # fmt: skip
    decide(a[0], "certify")
    decide(a[1], "revoke", comment="=cmd|' /C calc'!A0")  # a cell a spreadsheet would run
    outbox.deliver_due()
    ReviewItem.objects.filter(pk=a[3].pk).update(due_at=timezone.now() - timedelta(hours=1))  # overdue
    b = [item_for(run, e, bob, recommendation="keep") for e in entitlements(b_agent, 3)]
    for item in b:
        decide(item, "certify", bulk=True)
    return {"run": run, "alice": alice, "bob": bob, "a": a, "b": b}


def test_the_figures_count_progress_rates_and_reviewers(campaign):
    shown = figures(campaign["run"])
    t = shown.totals
    assert (t["total"], t["pending"], t["fulfilled"], t["overdue"]) == (7, 2, 1, 1)
    assert (t["rec_revoke"], t["rec_keep"], t["rec_none"]) == (2, 4, 1)
    assert (t["dec_certify"], t["dec_revoke"], t["dec_reduce"], t["ful_done"]) == (4, 1, 0, 1)
    assert shown.revoke_rate == 20 and shown.bulk_share == 60  # 1 of 5 decided; 3 of 5 in bulk
    assert shown.median_seconds == 4.0  # bulk decisions left out: they record no time of their own
    assert shown.followed_share == 100  # a keep certified and a revoke revoked; bob's keeps certified
    rows = {row.username: row for row in shown.reviewers}
    assert rows["alice"].overdue == 1 and rows["alice"].pending == 2 and rows["alice"].done_percent == 50
    assert rows["bob"].bulk_percent == 100 and rows["bob"].pending == 0
    assert [row.username for row in shown.reviewers] == ["alice", "bob"]  # most overdue first
    assert shown.chart is not None and shown.chart.last.label == "2"


def test_the_figures_cost_the_same_queries_for_2_items_as_for_50(cast):
    counts = []
    for n in (2, 50):
        owner = make_person(f"owner-{n}", "identity_owner")
        run = open_run()
        for e in entitlements(IdentityFactory(owner=owner), n):
            item_for(run, e, owner)
        with CaptureQueriesContext(connection) as queries:
            figures(run)
        counts.append(len(queries))
    assert counts[0] == counts[1] == 5


def test_the_dashboard_is_for_the_roles_that_see_everything(campaign, cast, client_factory):
    url = f"/reviews/campaigns/runs/{campaign['run'].uuid}/dashboard/"
    check_access(client_factory, url, cast=cast, allowed=READERS)
    assert client_factory(cast.auditor).get(f"/reviews/campaigns/runs/{uuid.uuid4()}/dashboard/").status_code == 404


def test_the_dashboard_draws_the_burn_down_as_svg_without_inline_style(campaign, cast, client_factory):
    response = client_factory(cast.compliance_officer).get(f"/reviews/campaigns/runs/{campaign['run'].uuid}/dashboard/")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<svg viewBox="0 0 640 240"' in html and 'id="burndown-actual"' in html and "polyline" in html
    assert "style=" not in html and "<script>" not in html  # the CSP: colours come from reviews/campaigns.css
    assert 'id="stat-revoke-rate">20%' in html and 'id="stat-overdue">1<' in html and 'id="stat-bulk">60%' in html
    assert "alice" in html and "bob" in html and 'id="sign-off-link"' in html
    assert "Content-Security-Policy" in response.headers
    # An auditor reads it too, without the sign-off link.
    auditor = client_factory(cast.auditor).get(f"/reviews/campaigns/runs/{campaign['run'].uuid}/dashboard/")
    assert auditor.status_code == 200 and 'id="sign-off-link"' not in auditor.content.decode()


# --- sign-off -----------------------------------------------------------------------------------------------------


def finish(campaign):
    for item in campaign["a"][2:]:
        decide(item, "certify", comment="still needed")


def test_sign_off_is_for_a_stepped_up_compliance_officer(campaign, cast, client_factory):
    finish(campaign)
    url = f"/reviews/campaigns/runs/{campaign['run'].uuid}/sign-off/"
    check_access(client_factory, url, cast=cast, allowed=["compliance_officer"])  # allowed: sent to step-up
    response = client_factory(cast.compliance_officer).get(url)
    assert response.status_code == 302 and "step-up" in response.headers["Location"]
    assert (
        client_factory(cast.compliance_officer).get(f"/reviews/campaigns/runs/{uuid.uuid4()}/sign-off/").status_code
        == 404
    )
    officer = stepped_up(client_factory(cast.compliance_officer), cast.compliance_officer)
    assert officer.get(url).status_code == 200
    response = officer.post(url, {"note": "Quarterly certification complete."})
    assert response.status_code == 302 and response.headers["Location"].endswith("/dashboard/")
    run = CampaignRun.objects.get(pk=campaign["run"].pk)
    assert run.state == "closed" and run.signed_off_by == cast.compliance_officer
    assert run.report["final"] is True and run.report["sign_off"]["note"] == "Quarterly certification complete."
    assert hashlib.sha256(canonical(run.report).encode()).hexdigest() == run.report_digest
    entry = AuditEntry.objects.get(action="campaign_run.sign_off")
    assert entry.changes["report_digest"] == run.report_digest and entry.changes["items"] == 7


def test_sign_off_is_refused_while_items_wait_and_writes_nothing(campaign, cast, client_factory):
    officer = stepped_up(client_factory(cast.compliance_officer), cast.compliance_officer)
    response = officer.post(f"/reviews/campaigns/runs/{campaign['run'].uuid}/sign-off/", {"note": "done"})
    assert response.status_code == 409 and escape(ERR_SIGN_PENDING.format(count=2)) in response.content.decode()
    run = CampaignRun.objects.get(pk=campaign["run"].pk)
    assert run.state == "open" and run.report is None
    assert not AuditEntry.objects.filter(action="campaign_run.sign_off").exists()
    bad = officer.post(f"/reviews/campaigns/runs/{campaign['run'].uuid}/sign-off/", {"note": "x" * 2001})
    assert bad.status_code == 400 and "note" in bad.content.decode()


def test_sign_off_refuses_other_roles_and_a_compliance_officer_who_reviewed(campaign, cast):
    finish(campaign)
    run = campaign["run"]
    with pytest.raises(Exception, match=ERR_SIGN_ROLE):
        campaign_run_sign_off(run=run, actor=cast.administrator)
    reviewer = make_person("co-reviewer", "compliance_officer")
    item = item_for(run, entitlements(IdentityFactory(owner=reviewer), 1)[0], reviewer)
    decide(item, "certify")
    with pytest.raises(Exception, match=ERR_SIGN_REVIEWER):
        campaign_run_sign_off(run=run, actor=reviewer)


def test_a_signed_off_run_never_changes_in_the_database(campaign, cast):
    finish(campaign)
    run = campaign_run_sign_off(run=campaign["run"], actor=cast.compliance_officer, note="")
    with pytest.raises(DatabaseError, match="never changes"), transaction.atomic():
        CampaignRun.objects.filter(pk=run.pk).update(report={"forged": True})
    with pytest.raises(Exception, match="open"):
        campaign_run_sign_off(run=run, actor=cast.compliance_officer)


# --- the frozen report --------------------------------------------------------------------------------------------


def test_the_report_exists_only_once_signed_off_and_every_form_is_the_frozen_one(campaign, cast, client_factory):
    base = f"/reviews/campaigns/runs/{campaign['run'].uuid}"
    auditor = client_factory(cast.auditor)
    for suffix in ("/report/", "/report.csv", "/report.json"):
        assert auditor.get(base + suffix).status_code == 404
    finish(campaign)
    run = campaign_run_sign_off(run=campaign["run"], actor=cast.compliance_officer, note="ok")
    for suffix in ("/report/", "/report.csv", "/report.json"):
        check_access(client_factory, base + suffix, cast=cast, allowed=READERS, expect_allowed=(200,))

    body = auditor.get(base + "/report.json")
    assert body.headers["Content-Disposition"].startswith("attachment;") and body.headers["Cache-Control"] == "no-store"
    document = json.loads(body.content)
    assert document["sha256"] == run.report_digest
    assert hashlib.sha256(canonical(document["report"]).encode()).hexdigest() == run.report_digest
    report = document["report"]
    assert report["ipe"]["item_digest"] == run.item_digest and report["ipe"]["extracted_at"]
    assert report["summary"]["revoke_rate_percent"] == 14 and len(report["items"]) == 7  # 1 of 7 decided
    revoked = next(item for item in report["items"] if item["decision"] == "revoke")
    assert revoked["fulfilment_status"] == "done" and revoked["decided_by"] == "alice"

    rows = list(csv.DictReader(io.StringIO(auditor.get(base + "/report.csv").content.decode())))
    assert len(rows) == 7
    assert next(row for row in rows if row["decision"] == "revoke")["comment"].startswith("'=cmd")  # not a formula

    page = auditor.get(base + "/report/").content.decode()
    assert run.report_digest in page and "alpha-bot" in page and "style=" not in page

    # Live rows changing afterwards (an entitlement revoked elsewhere) leave the frozen report as it was.
    frozen = run.report
    from identities.runtime.services import entitlement_revoke

    entitlement_revoke(entitlement=campaign["a"][0].entitlement, actor=campaign["alice"], reason="later")
    assert CampaignRun.objects.get(pk=run.pk).report == frozen


def test_the_export_command_writes_the_frozen_report_or_a_marked_draft(campaign, cast, tmp_path):
    run = campaign["run"]
    with pytest.raises(CommandError, match="only a signed-off run has a report"):
        call_command("export_campaign_report", str(run.uuid))
    draft = tmp_path / "draft.json"
    call_command("export_campaign_report", str(run.uuid), "--draft", "--output", str(draft))
    assert json.loads(draft.read_text())["report"]["final"] is False
    with pytest.raises(CommandError, match="No campaign run"):
        call_command("export_campaign_report", "not-a-uuid")
    finish(campaign)
    campaign_run_sign_off(run=run, actor=cast.compliance_officer, note="")
    run.refresh_from_db()
    out = io.StringIO()
    call_command("export_campaign_report", str(run.uuid), stdout=out)
    assert json.loads(out.getvalue())["sha256"] == run.report_digest
    csv_out = io.StringIO()
    call_command("export_campaign_report", str(run.uuid), "--format", "csv", stdout=csv_out)
    assert len(list(csv.DictReader(io.StringIO(csv_out.getvalue())))) == 7


# --- retrying failed fulfilments ----------------------------------------------------------------------------------


def test_retrying_failed_fulfilments_is_a_compliance_officers_post(campaign, cast, client_factory):
    url = f"/reviews/campaigns/runs/{campaign['run'].uuid}/retry/"
    check_access(
        client_factory, url, cast=cast, allowed=["compliance_officer"], method="post", expect_allowed=(409,)
    )  # fmt: skip  (nothing has failed: refused, nothing written)
    ReviewItem.objects.filter(pk=campaign["a"][2].pk).update(
        state="failed", decision="revoke", decided_via="reviewer", decided_by=campaign["alice"],
        decided_at=timezone.now(), fulfilment_status="failed", fulfilment_error="database: lock timeout",
    )  # fmt: skip
    page = client_factory(cast.compliance_officer).get(f"/reviews/campaigns/runs/{campaign['run'].uuid}/dashboard/")
    assert "database: lock timeout" in page.content.decode() and 'id="ful-failed">1<' in page.content.decode()
    response = client_factory(cast.compliance_officer).post(url)
    assert response.status_code == 302
    assert ReviewItem.objects.get(pk=campaign["a"][2].pk).fulfilment_status == "pending"
