import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_the_demo_logins_and_prints_them():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    User = get_user_model()
    assert set(User.objects.values_list("username", flat=True)) >= {
        "admin",
        "owner",
        "manager",
        "compliance",
        "analyst",
        "auditor",
    }
    assert User.objects.get(username="owner").check_password("agentiam-demo-2026")
    assert "Demo logins" in out.getvalue() and "owner" in out.getvalue()


def test_seed_demo_twice_neither_duplicates_nor_resets():
    call_command("seed_demo", stdout=io.StringIO())
    owner = get_user_model().objects.get(username="owner")
    owner.set_password("changed-by-the-evaluator")
    owner.save()
    count = get_user_model().objects.count()
    call_command("seed_demo", stdout=io.StringIO())
    assert get_user_model().objects.count() == count
    owner.refresh_from_db()
    assert owner.check_password("changed-by-the-evaluator")


def test_seed_demo_scale_creates_many_rows_and_is_resumable():
    call_command("seed_demo", "--scale", "300", stdout=io.StringIO())
    call_command("seed_demo", "--scale", "500", stdout=io.StringIO())
    assert get_user_model().objects.filter(username__startswith="scale-").count() == 500


def test_seed_demo_refuses_a_non_positive_scale():
    with pytest.raises(CommandError, match="positive"):
        call_command("seed_demo", "--scale", "0")


def test_seed_demo_gives_a_second_manager_and_a_real_inbox_once():
    from reviews.models import ElevationRequest
    from reviews.selectors import requests_to_decide

    call_command("seed_demo", stdout=io.StringIO())
    User = get_user_model()
    manager, director = User.objects.get(username="manager"), User.objects.get(username="director")
    assert manager.profile.manager == director and director.groups.filter(name="manager").exists()
    states = set(ElevationRequest.objects.values_list("state", flat=True))
    assert states == {"pending", "approved", "denied", "expired"}
    assert requests_to_decide(manager).count() >= 4  # a manager signing in first sees a real inbox
    [two] = ElevationRequest.objects.filter(state="pending", approvals_needed=2)
    assert list(requests_to_decide(director)) == [two]  # the second approver of the two-approver request
    from reviews.models_admin import BreakGlass

    assert BreakGlass.objects.filter(closed_at__isnull=True, person__username="owner").count() == 1
    count = ElevationRequest.objects.count()
    call_command("seed_demo", stdout=io.StringIO())
    assert ElevationRequest.objects.count() == count and BreakGlass.objects.count() == 1
