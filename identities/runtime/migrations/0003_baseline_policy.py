"""The shipped baseline policy set becomes version 1, active, with its test cases beside it."""

from django.db import migrations
from django.utils import timezone


def seed_baseline(apps, schema_editor):
    from identities.runtime.policy import BASELINE_POLICY, SCHEMA
    from identities.runtime.policy.cases import baseline_cases

    PolicyVersion = apps.get_model("runtime", "PolicyVersion")
    if PolicyVersion.objects.exists():
        return
    now = timezone.now()
    PolicyVersion.objects.create(
        number=1,
        status="active",
        summary="Shipped baseline",
        policy_text=BASELINE_POLICY.strip() + "\n",
        schema_text=SCHEMA.strip() + "\n",
        test_cases=[case.as_json() for case in baseline_cases()],
        activated_at=now,
    )


class Migration(migrations.Migration):
    dependencies = [("runtime", "0002_decision_log")]

    operations = [migrations.RunPython(seed_baseline, migrations.RunPython.noop)]
