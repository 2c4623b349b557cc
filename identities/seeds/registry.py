"""The demo estate: systems and tools, agents and service accounts across risk tiers, clouds and
environments, owners (and orphans), acceptable use, standing and JIT access, an exception, static and
short-lived credentials, fan-out and a suspension — written through the services, so the audit trail tells
its story. Seeded once: if the estate exists, nothing is added or reset."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from itertools import cycle

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from agentiam.permissions import Role
from identities import services
from identities.models import Identity, PersonStatus, Profile, System, Tool, Workflow
from identities.runtime.services.ending import identity_suspend

from .estate import DEMO_PREFIX, EXTRA_OWNERS, HAND_MADE, PLACES, PURPOSES, SYSTEMS, TEAMS, TRUST_DOMAIN


def _person(username, first, last, title, employee_id, password):
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User.objects.create_user(
            username=username,
            password=password,
            first_name=first,
            last_name=last,
            email=f"{first.lower()}.{last.lower()}@example.com",
        )
        Profile.objects.filter(user=user).update(job_title=title, employee_id=employee_id)
        user.groups.add(Group.objects.get_or_create(name=Role.IDENTITY_OWNER.value)[0])
    return user


def _fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def seed(password: str) -> list[str]:
    if Identity.objects.filter(external_id__startswith=DEMO_PREFIX).exists():
        return []
    User = get_user_model()
    admin, owner, manager, analyst = (User.objects.get(username=u) for u in ("admin", "owner", "manager", "analyst"))
    people = {"owner": owner}
    for username, first, last, title, employee_id in EXTRA_OWNERS:
        people[username] = _person(username, first, last, title, employee_id, password)
        Profile.objects.filter(user=people[username], manager__isnull=True).update(manager=manager)
    now = timezone.now()

    tools: dict[str, Tool] = {}
    for key, name, kind, vendor, tool_rows in SYSTEMS:
        system = System.objects.filter(name=name).first() or services.system_create(
            actor=admin, name=name, kind=kind, vendor=vendor, external_id=f"{DEMO_PREFIX}system:{key}"
        )
        for tkey, tname, actions, sensitivity, data_class, prod, secrets, third in tool_rows:
            tools[tkey] = Tool.objects.filter(key=tkey).first() or services.tool_create(
                actor=admin,
                system=system,
                key=tkey,
                name=tname,
                actions=actions,
                sensitivity=sensitivity,
                data_class=data_class,
                production=prod,
                production_secrets=secrets,
                third_party=third,
                external_id=f"{DEMO_PREFIX}tool:{tkey}",
            )

    rows = list(HAND_MADE)
    owners = cycle(["owner", "nadia", "tom", "lars", "owner", "nadia"])
    places = cycle(PLACES)
    envs = cycle(["prod", "staging", "dev", "prod", "test"])
    for team in TEAMS:
        for purpose, caps, model in PURPOSES:
            hosting, account, region = next(places)
            rows.append(
                (
                    f"{team}-{purpose}",
                    "agent",
                    next(envs),
                    hosting,
                    account,
                    region,
                    "customer_facing" if team == "support" else "internal",
                    caps,
                    model,
                    next(owners),
                    [f"{team}-{purpose.split('-')[0]}"],
                )
            )

    identities: dict[str, Identity] = {}
    workflows: dict[str, Workflow] = {}
    for name, kind, env, hosting, account, region, exposure, caps, (provider, model), owner_name, wfs in rows:
        creator = people[owner_name] if owner_name else admin
        identity = services.identity_create(
            actor=creator,
            accountable_owner=people[owner_name] if owner_name else None,
            kind=kind,
            name=name,
            description=f"{name.replace('-', ' ').capitalize()} ({'agent' if kind == 'agent' else 'service account'})",
            environment=env,
            hosting=hosting,
            cloud_account=account,
            region=region,
            exposure=exposure,
            capabilities=caps,
            model_provider=provider,
            model_name=model,
            external_id=f"{DEMO_PREFIX}{name}",
            source_repository=f"github.com/acme/{name}",
            allowed_image_digests=["sha256:" + _fingerprint(name + "-image")],
        )
        identities[name] = identity
        actor = people[owner_name] if owner_name else admin
        services.identifier_add(
            identity=identity,
            actor=actor,
            kind="spiffe",
            value=f"spiffe://{TRUST_DOMAIN}/{'agent' if kind == 'agent' else 'svc'}/{name}",
        )
        for wf in wfs:
            workflow = (
                workflows.get(wf)
                or Workflow.objects.get_or_create(
                    name=wf, defaults={"description": f"The {wf.replace('-', ' ')} workflow"}
                )[0]
            )
            workflows[wf] = workflow
            services.workflow_attach(identity=identity, workflow=workflow, actor=actor)
        if owner_name and kind == "agent" and name not in ("sales-research-agent", "growth-web-researcher"):
            expired = name in ("docs-summariser", "data-sql-analyst")
            services.aup_add_version(
                identity=identity,
                actor=people[owner_name],
                purpose=f"Act as the {name.replace('-', ' ')} within its workflow; no other use.",
                allowed_tools=sorted(
                    {t.split(".")[0] + ".*" for t in tools if t.startswith(("jira", "github", "slack"))}
                ),
                data_classes=["internal", "confidential"],
                prohibited_actions="No changes outside its workflow.",
                human_in_the_loop="A person approves any write to production.",
                valid_from=now - timedelta(days=200 if expired else 20),
                valid_until=now - timedelta(days=10) if expired else now + timedelta(days=180),
            )

    def read(name, tool, scope=None):
        identity = identities[name]
        owner_of = next((p for p in people.values() if services.is_current_owner(identity, p)), None)
        services.entitlement_grant(
            identity=identity,
            tool=tools[tool],
            action="read",
            actor=owner_of or admin,
            scope=scope or {},
            reason="Needed for its workflow",
        )

    read("triage-bot", "jira.search_issues")
    read("triage-bot", "slack.read_channel", {"channel": "support-*"})
    read("code-review-agent", "github.read_repository", {"repo": "acme/*"})
    read("release-captain", "github.read_repository", {"repo": "acme/**"})
    read("refund-assistant", "orders.query", {"region": "eu-*"})
    read("refund-policy-checker", "orders.query")
    read("oncall-copilot", "k8s.get_pods", {"namespace": "payments"})
    read("oncall-copilot", "aws.secretsmanager.get_secret", {"secret": "oncall/*"})
    read("warehouse-analyst", "warehouse.query")
    read("docs-summariser", "jira.search_issues")
    read("infra-drift-fixer", "aws.s3.read_object", {"bucket": "terraform-state"})
    for team in TEAMS:
        read(f"{team}-sql-analyst", "warehouse.query", {"schema": team})
        read(f"{team}-ticket-router", "jira.search_issues", {"project": team.upper()})
        read(f"{team}-pr-author", "github.read_repository", {"repo": f"acme/{team}-*"})

    # Standing write on high-risk identities, each under an accepted exception: (identity, tool, scope, reason,
    # exception reason, days the exception lasts).
    for name, key, scope, reason, exception, days in (
        (
            "code-review-agent",
            "github.create_pull_request",
            {"repo": "acme/*"},
            "Posts review comments",
            "Review comments only; PR creation monitored by the platform team",
            60,
        ),
        (
            "release-captain",
            "k8s.apply_manifest",
            {"namespace": "release-*"},
            "Rolls out approved releases",
            "Release automation, approved by the change board (CAB-2291)",
            30,
        ),
        (
            "ci-deployer",
            "aws.ec2.modify_instance",
            None,
            "Deploys application servers",
            "Legacy deploy path until the GitOps migration (PLAT-88)",
            45,
        ),
    ):
        services.entitlement_grant(
            identity=identities[name],
            tool=tools[key],
            action="write",
            actor=admin,
            scope=scope,
            reason=reason,
            exception_reason=exception,
            exception_until=now + timedelta(days=days),
        )

    # Just-in-time access under a task: (identity, task, tool, action, scope, minutes, reason).
    for name, work, key, action, scope, minutes, reason in (
        (
            "oncall-copilot",
            "INC-4821 restart payments workers",
            "k8s.apply_manifest",
            "write",
            {"namespace": "payments"},
            45,
            "Approved for incident INC-4821",
        ),
        (
            "refund-assistant",
            "refund batch 2026-11-28",
            "orders.refund",
            "execute",
            {"region": "eu-*"},
            30,
            "Daily refund batch",
        ),
    ):
        services.grant_create(
            identity=identities[name],
            task=services.task_open(identity=identities[name], name=work),
            entries=[(tools[key], action, scope)],
            ends_at=now + timedelta(minutes=minutes),
            actor=manager,
            reason=reason,
        )

    old = now - timedelta(days=240)
    creds = [
        ("triage-bot Jira API key", "api_key", ["triage-bot"], True, None, "vault", "kv/agents/triage-bot/jira", old),
        ("release-captain deploy key", "ssh_key", ["release-captain"], True, None, "vault", "kv/release/deploy", old),
        (
            "shared analytics password",
            "password",
            ["warehouse-analyst", "metrics-exporter"],
            True,
            None,
            "env_var",
            "WAREHOUSE_PASSWORD",
            now - timedelta(days=400),
        ),
        ("oncall-copilot SVID", "jwt_svid", ["oncall-copilot"], False, 300, "managed_identity", "spire-agent", now),
        (
            "refund-assistant SVID",
            "x509_svid",
            ["refund-assistant"],
            False,
            3600,
            "managed_identity",
            "spire-agent",
            now,
        ),
        (
            "ci-deployer OIDC federation",
            "oidc_federation",
            ["ci-deployer"],
            False,
            900,
            "managed_identity",
            "github-actions → aws",
            now,
        ),
        (
            "code-review GitHub app secret",
            "oauth_client_secret",
            ["code-review-agent"],
            True,
            None,
            "secrets_manager",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:code-review",
            now - timedelta(days=30),
        ),
    ]
    for name, kind, holders, static, ttl, storage, location, issued in creds:
        holder_objs = [identities[h] for h in holders]
        owner_of = next((p for p in people.values() if services.is_current_owner(holder_objs[0], p)), admin)
        actor = owner_of if all(services.is_current_owner(h, owner_of) for h in holder_objs) else admin
        services.credential_register(
            actor=actor,
            holders=holder_objs,
            name=name,
            kind=kind,
            fingerprint=_fingerprint(name),
            is_static=static,
            ttl_seconds=ttl,
            storage_kind=storage,
            storage_location=location,
            issued_at=issued,
            external_id=f"{DEMO_PREFIX}credential:{name}",
        )

    identity_suspend(
        identity=identities["security-web-researcher"],
        actor=analyst,
        reason="Unexpected egress to a paste site; under investigation (SEC-311)",
    )
    services.person_disable(
        actor=admin,
        profile=Profile.objects.get(user=people["lars"]),
        status=PersonStatus.DEPARTED,
        reason="Left the company on 2026-11-20",
    )
    return [f"Demo estate: {Identity.objects.count()} identities, {Tool.objects.count()} tools"]
