"""Launch speed (issue 11, Performance): no foreign-key constraint on what a launch inserts a million times.

Review items' run, entitlement and identity and scope entries' run and entitlement lose their foreign-key
constraints (db_constraint=False; PROTECT still binds the ORM). A foreign key is checked row by row — one
lookup and one FOR KEY SHARE lock of the referenced row per inserted row — which took more than half of the
set-fixing statement (1M entries: 22 s of 34) and a fifth of every item batch. What the keys guaranteed
still holds:

- the referenced rows are never deleted: campaign runs (plain trigger agentiam_hard_campaign_run refuses
  DELETE), entitlements (their trigger refuses DELETE and db_grants gives the app role no DELETE); an
  item's identity is its entitlement's own (checked on insert, below) and the entitlement's real foreign key
  to its identity keeps that identity;
- the columns never change after insert: review items' plain trigger freezes them, scope entries are
  append-only (trigger and db_grants);
- every INSERT is checked set-wise by a statement-level trigger over the inserted rows (one anti-join per
  statement, not a lookup per row): the run and the entitlement exist, and — as before — an item's copies are
  its entitlement's.
"""

import importlib

import django.db.models.deletion
from django.db import migrations, models

from audit.hardening import PREFIX

_GUARDS = importlib.import_module("reviews.migrations.0006_campaign_guards")

# Set-wise over the inserted rows: the run exists (no foreign key any more), the entitlement exists, and an item's
# copies are its entitlement's (as 0006 checked).
_EXIST = """
IF EXISTS (SELECT 1 FROM added n WHERE NOT EXISTS (SELECT 1 FROM reviews_campaignrun run WHERE run.id = n.run_id))
THEN
    RAISE EXCEPTION 'a review item names a campaign run that does not exist' USING ERRCODE = '23503';
END IF;
IF EXISTS (SELECT 1 FROM added n WHERE n.entitlement_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM identities_entitlement e WHERE e.id = n.entitlement_id)) THEN
    RAISE EXCEPTION 'a review item names an entitlement that does not exist' USING ERRCODE = '23503';
END IF;
"""
REVIEW_ITEM_INSERTED = "".join([_EXIST, _GUARDS.REVIEW_ITEM_INSERTED])

SCOPE_ENTRY_INSERTED = """
IF EXISTS (SELECT 1 FROM added n WHERE NOT EXISTS (SELECT 1 FROM reviews_campaignrun run WHERE run.id = n.run_id))
THEN
    RAISE EXCEPTION 'a scope entry names a campaign run that does not exist' USING ERRCODE = '23503';
END IF;
IF EXISTS (SELECT 1 FROM added n WHERE n.entitlement_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM identities_entitlement e WHERE e.id = n.entitlement_id)) THEN
    RAISE EXCEPTION 'a scope entry names an entitlement that does not exist' USING ERRCODE = '23503';
END IF;
RETURN NULL;
"""


def _function(name: str, body: str) -> str:
    return (
        f"CREATE OR REPLACE FUNCTION {PREFIX}{name}() RETURNS trigger LANGUAGE plpgsql AS $hard$\nBEGIN\n"
        f"{body}\nEND;\n$hard$;"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("identities", "0005_grant_has_task"),
        ("reviews", "0009_review_item_stages"),
    ]

    operations = [
        migrations.AlterField(
            model_name="campaignscopeentry",
            name="entitlement",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="identities.entitlement",
            ),
        ),
        migrations.AlterField(
            model_name="campaignscopeentry",
            name="run",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="reviews.campaignrun",
            ),
        ),
        migrations.AlterField(
            model_name="reviewitem",
            name="entitlement",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="review_items",
                to="identities.entitlement",
            ),
        ),
        migrations.AlterField(
            model_name="reviewitem",
            name="identity",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="review_items",
                to="identities.identity",
            ),
        ),
        migrations.AlterField(
            model_name="reviewitem",
            name="run",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="items",
                to="reviews.campaignrun",
            ),
        ),
        migrations.RunSQL(
            sql=[_function("review_item_inserted", REVIEW_ITEM_INSERTED)],
            reverse_sql=[_function("review_item_inserted", _GUARDS.REVIEW_ITEM_INSERTED)],
        ),
        _GUARDS.statement_trigger(
            table="reviews_campaignscopeentry", name="scope_entry_inserted", body=SCOPE_ENTRY_INSERTED
        ),
    ]
