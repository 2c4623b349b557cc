"""Every grant has a task (a NOT NULL column). A grant written before this had none covered every task of
its identity; each such grant is bound to a task of its own (narrower, never wider), closed if the grant
has ended, so the column can be made NOT NULL (0005, its own transaction: the new rows' deferred checks must have
run before the constraint is altered) on any database."""

from django.db import migrations


def bind_taskless_grants(apps, schema_editor):
    Grant = apps.get_model("identities", "Grant")
    Task = apps.get_model("identities", "Task")
    for grant in Grant.objects.filter(task__isnull=True).iterator():
        ended = grant.ended_at is not None
        grant.task = Task.objects.create(
            identity_id=grant.identity_id,
            name=f"grant-{grant.uuid}",
            state="completed" if ended else "open",
            completed_at=grant.ended_at,
            end_reason="grant ended before every grant had a task" if ended else "",
        )
        grant.save(update_fields=["task"])


class Migration(migrations.Migration):
    dependencies = [("identities", "0003_registry")]

    operations = [migrations.RunPython(bind_taskless_grants, migrations.RunPython.noop)]
