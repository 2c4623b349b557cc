"""Demo persons: one per role, with a shared demo password (for evaluation only)."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

ORDER = 10

DEMO_PEOPLE = [
    # username, first, last, email, what they do
    ("admin", "Priya", "Raman", "priya.raman@example.com", "administrator"),
    ("owner", "Oliver", "Grant", "oliver.grant@example.com", "identity owner"),
    ("manager", "Maya", "Lindqvist", "maya.lindqvist@example.com", "manager"),
    ("compliance", "Carlos", "Mendes", "carlos.mendes@example.com", "compliance officer"),
    ("analyst", "Sana", "Okafor", "sana.okafor@example.com", "security analyst"),
    ("auditor", "Aiko", "Tanaka", "aiko.tanaka@example.com", "auditor"),
]


def demo(out) -> list[str]:
    User = get_user_model()
    password = settings.AGENTIAM_DEMO_PASSWORD
    for username, first, last, email, _ in DEMO_PEOPLE:
        if not User.objects.filter(username=username).exists():
            User.objects.create_user(
                username=username, password=password, first_name=first, last_name=last, email=email
            )
    lines = [f"Demo logins (password: {password}):"]
    lines += [f"  {username:<11} {first} {last}, {role}" for username, first, last, _, role in DEMO_PEOPLE]
    return lines


def scale(n: int, out) -> None:
    User = get_user_model()
    started = time.monotonic()
    unusable = make_password(None)
    existing = User.objects.filter(username__startswith="scale-").count()
    batch = [
        User(username=f"scale-{i:07d}", email=f"person{i}@scale.example.com", password=unusable)
        for i in range(existing, n)
    ]
    User.objects.bulk_create(batch, batch_size=5000)
    out.write(f"persons: {len(batch)} created ({n} in all) in {time.monotonic() - started:.1f} s")
