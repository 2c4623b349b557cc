"""Public ids for approval rules and delegations (their pages and the API name them by UUID, never by the
integer key): added nullable, filled row by row, then unique and required."""

import uuid

from django.db import migrations, models


def fill(apps, schema_editor):
    for label in ("ApprovalRule", "Delegation"):
        model = apps.get_model("reviews", label)
        for pk in model.objects.filter(uuid__isnull=True).values_list("pk", flat=True):
            model.objects.filter(pk=pk).update(uuid=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [("reviews", "0006_campaign_guards")]

    operations = [
        migrations.AddField("approvalrule", "uuid", models.UUIDField(null=True, editable=False)),
        migrations.AddField("delegation", "uuid", models.UUIDField(null=True, editable=False)),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AlterField(
            "approvalrule", "uuid", models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
        ),
        migrations.AlterField("delegation", "uuid", models.UUIDField(default=uuid.uuid4, unique=True, editable=False)),
    ]
