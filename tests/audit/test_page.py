"""The audit page: who may read it, its filters, keyset pagination newest first, htmx partial rendering,
pinned query counts, and the entry detail with its changes and hashes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agentiam.permissions import Role
from audit.models import AuditEntry
from audit.trail import audit_record
from audit.views import AuditTable
from tests.cast import check_access
from tests.support import sign_in

pytestmark = pytest.mark.django_db

READERS = [Role.ADMINISTRATOR, Role.COMPLIANCE_OFFICER, Role.SECURITY_ANALYST, Role.AUDITOR]


def record(action: str, *, actor="system", object_type="", object_id="", label="", changes=None) -> AuditEntry:
    with transaction.atomic():
        return audit_record(
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            object_label=label,
            changes=changes or {},
        )


@pytest.fixture
def reader(client, cast):
    # The trail is append-only and other tests' entries stay: each test filters on its own actions.
    sign_in(client, cast.auditor)
    return client


def rows(response) -> list[AuditEntry]:
    return list(response.context["table"].rows)


def test_the_audit_page_is_for_administrators_compliance_security_and_auditors(cast, client_factory):
    check_access(client_factory, "/audit/", cast=cast, allowed=READERS)


def test_an_entry_page_is_for_the_same_roles(cast, client_factory):
    entry = record("test.detail")
    check_access(client_factory, f"/audit/{entry.uuid}/", cast=cast, allowed=READERS)


def test_the_audit_trail_is_in_the_governance_navigation_of_readers_only(client, cast):
    sign_in(client, cast.compliance_officer)
    sections = {s["name"]: [e["label"] for e in s["entries"]] for s in client.get("/").context["nav_sections"]}
    assert "Audit trail" in sections["Governance"]
    sign_in(client, cast.identity_owner)
    labels = [e["label"] for s in client.get("/").context["nav_sections"] for e in s["entries"]]
    assert "Audit trail" not in labels


def test_entries_are_listed_newest_first(reader):
    older, newer = record("test.first"), record("test.second")
    listed = rows(reader.get("/audit/?action=test."))
    assert [entry.pk for entry in listed] == [newer.pk, older.pk]


def test_filters_by_actor_action_prefix_object_and_time(reader):
    role_grant = record("role.grant", actor="alice", object_type="auth.user", object_id="u-1", label="Bob")
    record("role.revoke", actor="carol", object_type="auth.user", object_id="u-2", label="Dan")
    record("person.disable", actor="alice", object_type="auth.user", object_id="u-1", label="Bob")
    assert {e.action for e in rows(reader.get("/audit/?actor=alice"))} == {"role.grant", "person.disable"}
    assert {e.action for e in rows(reader.get("/audit/?action=role."))} == {"role.grant", "role.revoke"}
    assert {e.action for e in rows(reader.get("/audit/?object_type=auth.user&object_id=u-2"))} == {"role.revoke"}
    assert {e.pk for e in rows(reader.get("/audit/?actor=alice&action=role.grant"))} == {role_grant.pk}
    now = timezone.now()
    since = (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    until = (now + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    assert len(rows(reader.get(f"/audit/?actor=alice&since={since}&until={until}"))) == 2
    later = (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert rows(reader.get(f"/audit/?actor=alice&since={later}")) == []


def test_free_text_search_looks_at_actor_action_and_object_names(reader):
    record("role.grant", actor="alice", label="Quentin Blake")
    record("role.grant", actor="alice", label="Someone else")
    assert [e.object_label for e in rows(reader.get("/audit/?q=quentin"))] == ["Quentin Blake"]


def test_an_invalid_time_is_a_field_error_on_the_page_not_a_500(reader):
    response = reader.get("/audit/?since=not-a-time")
    assert response.status_code == 200
    form = response.context["table"].filterset.form
    assert "since" in form.errors
    assert b"These filters need fixing" in response.content and b'class="field-error"' in response.content


def test_a_time_range_that_ends_before_it_starts_is_refused_on_the_until_field(reader):
    response = reader.get("/audit/?since=2026-05-02T10:00&until=2026-05-01T10:00")
    assert "until" in response.context["table"].filterset.form.errors


def test_a_nul_character_in_a_filter_gets_a_400_page(reader):
    response = reader.get("/audit/?actor=a%00b")
    assert response.status_code == 400 and b"NUL characters" in response.content


def test_cursor_pagination_walks_forward_and_back_without_gaps_or_repeats(reader):
    made = [record(f"test.page.{n:02d}") for n in range(60)]
    first = reader.get("/audit/?action=test.page.")
    table = first.context["table"]
    assert len(table.rows) == 50 and table.previous_url is None and table.next_url
    assert table.rows[0].pk == made[-1].pk  # newest first
    second = reader.get(table.next_url)
    table2 = second.context["table"]
    assert [e.pk for e in table2.rows] == [e.pk for e in reversed(made[:10])]
    assert table2.next_url is None and table2.previous_url
    back = reader.get(table2.previous_url).context["table"]
    assert [e.pk for e in back.rows] == [e.pk for e in table.rows]
    assert back.previous_url is None


def test_sorting_by_a_whitelisted_column_pages_through_ties_correctly(reader, monkeypatch):
    for n in range(7):
        record("test.sort.b" if n % 2 else "test.sort.a")
    monkeypatch.setattr(AuditTable, "page_size", 3)
    seen, url = [], "/audit/?action=test.sort.&sort=action"
    while url:
        table = reader.get(url).context["table"]
        seen += [(e.action, e.pk) for e in table.rows]
        url = table.next_url
    assert seen == sorted(seen)  # ascending by action, then id
    assert len(seen) == len(set(seen)) == 7


def test_an_unknown_sort_column_falls_back_to_newest_first(reader):
    older, newer = record("test.unsorted.a"), record("test.unsorted.b")
    listed = rows(reader.get("/audit/?action=test.unsorted.&sort=hash"))
    assert [e.pk for e in listed] == [newer.pk, older.pk]


def test_a_tampered_cursor_shows_the_first_page(reader):
    record("test.cursor")
    response = reader.get("/audit/?action=test.cursor&cursor=forged:cursor")
    assert response.status_code == 200
    assert [e.action for e in rows(response)] == ["test.cursor"]


def test_sort_headers_and_pager_keep_real_links_and_the_filters(reader):
    for n in range(51):
        record(f"test.links.{n}")
    response = reader.get("/audit/?action=test.links.")
    table = response.context["table"]
    assert "action=test.links." in table.next_url and "cursor=" in table.next_url
    action_header = next(h for h in table.headers if h["label"] == "Action")
    assert "sort=action" in action_header["url"] and "cursor" not in action_header["url"]
    assert f'href="{table.next_url.replace("&", "&amp;")}"'.encode() in response.content


def test_an_htmx_request_gets_only_the_table_region(reader):
    record("test.htmx")
    response = reader.get("/audit/?action=test.htmx", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="audit-table"')
    assert "<html" not in html and "test.htmx" in html


def test_a_history_restore_gets_the_whole_page(reader):
    response = reader.get("/audit/", HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in response.content.decode()


def test_an_empty_trail_view_explains_itself(reader):
    response = reader.get("/audit/?action=nothing.matches.this")
    assert b"Nothing matches these filters" in response.content


def test_the_list_runs_the_same_number_of_queries_for_2_and_50_rows(reader):
    for n in range(2):
        record(f"test.few.{n}")
    for n in range(50):
        record(f"test.many.{n}", actor="bulk", object_type="auth.user", object_id=str(n), label=f"P{n}")
    reader.get("/audit/")  # warm the session and caches
    with CaptureQueriesContext(connection) as few:
        assert len(rows(reader.get("/audit/?action=test.few."))) == 2
    with CaptureQueriesContext(connection) as many:
        assert len(rows(reader.get("/audit/?action=test.many."))) == 50
    assert len(few) == len(many) <= 5  # session, person, second-factor device, roles, one page of entries
    assert not any("COUNT(" in query["sql"].upper() for query in many.captured_queries)


def test_the_entry_page_shows_the_changes_json_and_both_hashes(reader):
    before = record("test.before")
    entry = record("role.grant", actor="alice", label="Bob", changes={"role": "auditor", "z": [1, 2]})
    html = reader.get(f"/audit/{entry.uuid}/").content.decode()
    assert entry.hash in html and entry.prev_hash in html and entry.prev_hash == before.hash
    assert "&quot;role&quot;: &quot;auditor&quot;" in html
    assert "Hash matches" in html and "Chain intact" in html
    assert f"/audit/{before.uuid}/" in html


def test_an_unknown_entry_is_404(reader):
    assert reader.get("/audit/00000000-0000-0000-0000-000000000000/").status_code == 404
