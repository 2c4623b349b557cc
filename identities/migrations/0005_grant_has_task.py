"""Every grant has a task: identities_grant.task_id is NOT NULL (0004 bound the grants that had none)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("identities", "0004_bind_taskless_grants")]

    operations = [
        migrations.AlterField(
            model_name="grant",
            name="task",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="grants", to="identities.task"
            ),
        ),
    ]
