"""High-severity alerts told outside AgentIAM through the shared outbox (agentiam/outbox.py), in the
transaction that raised them: a signed webhook (ALERTS_WEBHOOK_URL, when set) and one e-mail to the security
analysts who have an address. Each carries a link to the alert, never a way to act on it. The dedupe keys
make a re-run enqueue nothing twice."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model

from agentiam.notifications import email_digest, webhook_send
from agentiam.permissions import Role
from audit.alerts.models import SEVERITY_RANK, Alert

NOTIFY_FROM = SEVERITY_RANK["high"]


def alert_link(alert: Alert) -> str:
    return f"{settings.NOTIFY_LINK_BASE}/alerts/{alert.uuid}/"


def _analyst_addresses() -> list[str]:
    people = get_user_model().objects.filter(groups__name=Role.SECURITY_ANALYST.value, is_active=True)
    return sorted({address for address in people.exclude(email="").values_list("email", flat=True)})[:50]


def alerts_raised(ids: list[int]) -> None:
    """Call inside the transaction that inserted the alerts."""
    severe = [
        alert
        for alert in Alert.objects.filter(pk__in=ids, state="open").select_related("identity").order_by("pk")
        if SEVERITY_RANK[alert.severity] >= NOTIFY_FROM
    ]
    if not severe:
        return
    addresses = _analyst_addresses()
    for alert in severe:
        line = f"{alert.get_severity_display()} alert on {alert.identity.name}: {alert.title}"
        if settings.ALERTS_WEBHOOK_URL:
            webhook_send(
                url=settings.ALERTS_WEBHOOK_URL,
                event="alert.raised",
                text=f"{line} — {alert_link(alert)}",
                data={
                    "alert": str(alert.uuid),
                    "rule": alert.rule,
                    "severity": alert.severity,
                    "identity": str(alert.identity.uuid),
                    "trace_id": alert.trace_id,
                    "url": alert_link(alert),
                },
                dedupe_key=f"alert-webhook:{alert.uuid}",
            )
        if addresses:
            email_digest(
                to=addresses,
                subject=line[:200],
                intro=f"{line}\n\n{alert_link(alert)}",
                items=list(alert.reasons),
                dedupe_key=f"alert-email:{alert.uuid}",
            )
