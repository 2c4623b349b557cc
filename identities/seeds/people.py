"""Demo persons: one per role, with profiles, employee ids, managers and roles, and a shared demo password
(for evaluation only). Idempotent and never resetting: a second run fills only what is missing, so what
an administrator changed since stays changed."""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import connection

from agentiam.permissions import Role
from audit.models import AuditEntry
from identities.models import Profile

DEMO_PEOPLE = [
    # username, first, last, email, role, employee id, job title, manager's username
    ("admin", "Priya", "Raman", "priya.raman@example.com", Role.ADMINISTRATOR, "E-1001", "IAM platform lead", None),
    ("owner", "Oliver", "Grant", "oliver.grant@example.com", Role.IDENTITY_OWNER, "E-1002", "ML engineer", "manager"),
    ("manager", "Maya", "Lindqvist", "maya.lindqvist@example.com", Role.MANAGER, "E-1003", "Head of AI platform",
     "director"),
    ("compliance", "Carlos", "Mendes", "carlos.mendes@example.com", Role.COMPLIANCE_OFFICER, "E-1004", "GRC", None),
    ("analyst", "Sana", "Okafor", "sana.okafor@example.com", Role.SECURITY_ANALYST, "E-1005", "SOC analyst", "admin"),
    ("auditor", "Aiko", "Tanaka", "aiko.tanaka@example.com", Role.AUDITOR, "E-1006", "Internal auditor", None),
    # A second manager, Maya's own: the second approver of a two-approver request routes to her.
    ("director", "Elena", "Voss", "elena.voss@example.com", Role.MANAGER, "E-1010", "VP engineering", None),
]  # fmt: skip


def _changed_by_someone(profile: Profile, action_prefix: str) -> bool:
    """Whether a person changed this (roles: "role.", profile fields: "person.") since it was seeded."""
    return AuditEntry.objects.filter(
        object_type="identities.profile", object_id=str(profile.uuid), action__startswith=action_prefix
    ).exists()


def seed(password: str) -> list[str]:
    """The demo persons (one per role), idempotently; returns the demo logins to print."""
    User = get_user_model()
    people = {}
    for username, first, last, email, *_ in DEMO_PEOPLE:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_user(
                username=username, password=password, first_name=first, last_name=last, email=email
            )
        people[username] = user
    for username, _, _, _, role, employee_id, job_title, manager in DEMO_PEOPLE:
        user = people[username]
        profile, _ = Profile.objects.get_or_create(user=user)
        # Fill what is missing, unless someone has edited this person since: then their edits stand.
        if not _changed_by_someone(profile, "person."):
            changed = []
            if profile.employee_id is None and not Profile.objects.filter(employee_id=employee_id).exists():
                profile.employee_id = employee_id
                changed.append("employee_id")
            if not profile.job_title:
                profile.job_title = job_title
                changed.append("job_title")
            if manager and profile.manager_id is None:
                profile.manager = people[manager]
                changed.append("manager")
            if changed:
                profile.save(update_fields=[*changed, "updated_at"])
        # Grant the demo role only to someone who has none and whose roles nobody has changed since.
        if not user.groups.exists() and not _changed_by_someone(profile, "role."):
            user.groups.add(Group.objects.get_or_create(name=role.value)[0])
    lines = [f"Demo logins (password: {password}):"]
    for username, first, last, _, role, *_ in DEMO_PEOPLE:
        lines.append(f"  {username:<11} {first} {last}, {role.label.lower()}")
    return lines


def scale(n: int, out) -> None:
    """n persons (`scale-0000000`…) with profiles, for benchmarks."""
    User = get_user_model()
    started = time.monotonic()
    unusable = make_password(None)
    existing = User.objects.filter(username__startswith="scale-").count()
    batch = [
        User(username=f"scale-{i:07d}", email=f"person{i}@scale.example.com", password=unusable)
        for i in range(existing, n)
    ]
    User.objects.bulk_create(batch, batch_size=5000)
    # bulk_create sends no post_save, so the profiles are written here in one statement.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO identities_profile
                (user_id, uuid, status, status_reason, job_title, employee_id, created_at, updated_at)
            SELECT u.id, gen_random_uuid(), 'active', '', '', 'S-' || lpad(u.id::text, 9, '0'), now(), now()
            FROM auth_user u
            WHERE NOT EXISTS (SELECT 1 FROM identities_profile p WHERE p.user_id = u.id)
            ON CONFLICT DO NOTHING
            """
        )
        profiles = cursor.rowcount
    out.write(f"persons: {len(batch)} created ({n} in all), {profiles} profiles, in {time.monotonic() - started:.1f} s")
