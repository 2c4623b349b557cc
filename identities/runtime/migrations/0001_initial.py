import uuid

import django.contrib.postgres.fields
import django.contrib.postgres.indexes
import django.db.models.deletion
import pgtrigger.compiler
import pgtrigger.migrations
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("identities", "0003_registry"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="TokenRevocation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("jti", models.CharField(max_length=64, unique=True)),
                ("reason", models.CharField(max_length=300)),
                ("actor_label", models.CharField(blank=True, max_length=200)),
                ("revoked_at", models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name="TrustBundle",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("uuid", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("description", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("disabled_at", models.DateTimeField(blank=True, null=True)),
                ("disable_reason", models.TextField(blank=True)),
                ("trust_domain", models.CharField(max_length=255, unique=True)),
                ("audience", models.CharField(max_length=500)),
                ("bundle", models.JSONField(blank=True, null=True)),
                ("bundle_url", models.URLField(blank=True, max_length=500)),
            ],
        ),
        migrations.CreateModel(
            name="AssertionKey",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("uuid", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("description", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("disabled_at", models.DateTimeField(blank=True, null=True)),
                ("disable_reason", models.TextField(blank=True)),
                ("kid", models.CharField(max_length=200)),
                (
                    "algorithm",
                    models.CharField(
                        choices=[("EdDSA", "EdDSA (Ed25519)"), ("ES256", "ES256 (P-256)"), ("ES384", "ES384 (P-384)")],
                        max_length=10,
                    ),
                ),
                ("jwk", models.JSONField()),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "disabled_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "identity",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="assertion_keys",
                        to="identities.identity",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="DelegationRule",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("uuid", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("description", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("disabled_at", models.DateTimeField(blank=True, null=True)),
                ("disable_reason", models.TextField(blank=True)),
                (
                    "actor",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="identities.identity"
                    ),
                ),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "disabled_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "subject",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="identities.identity"
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="Gateway",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("uuid", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("description", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("disabled_at", models.DateTimeField(blank=True, null=True)),
                ("disable_reason", models.TextField(blank=True)),
                ("name", models.CharField(max_length=200, unique=True)),
                (
                    "audiences",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.CharField(max_length=300), default=list, size=None
                    ),
                ),
                ("prefix", models.CharField(max_length=12, unique=True)),
                ("digest", models.CharField(max_length=64)),
                ("credential_issued_at", models.DateTimeField()),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "disabled_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "identity",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT, related_name="gateway", to="identities.identity"
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="IssuedToken",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("jti", models.CharField(max_length=64, unique=True)),
                ("kid", models.CharField(max_length=64)),
                ("subject", models.CharField(max_length=2048)),
                ("proof_kind", models.CharField(max_length=20)),
                (
                    "act_chain",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.CharField(max_length=2048), blank=True, default=list, size=None
                    ),
                ),
                (
                    "scopes",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.CharField(max_length=220), default=list, size=None
                    ),
                ),
                ("audience", models.CharField(max_length=300)),
                ("issued_at", models.DateTimeField()),
                ("expires_at", models.DateTimeField()),
                (
                    "actor",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="identities.identity",
                    ),
                ),
                (
                    "identity",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="identities.identity"
                    ),
                ),
                (
                    "task",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="identities.task",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="JtiLedgerEntry",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("client_id", models.CharField(max_length=200)),
                ("jti", models.CharField(max_length=255)),
                ("expires_at", models.DateTimeField(db_index=True)),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("client_id", "jti"), name="runtime_jti_once")],
            },
        ),
        migrations.CreateModel(
            name="OidcIssuer",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("uuid", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("description", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("disabled_at", models.DateTimeField(blank=True, null=True)),
                ("disable_reason", models.TextField(blank=True)),
                ("issuer", models.CharField(max_length=500, unique=True)),
                ("audience", models.CharField(max_length=500)),
                ("jwks", models.JSONField(blank=True, null=True)),
                ("jwks_url", models.URLField(blank=True, max_length=500)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "disabled_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="PolicyVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("uuid", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("number", models.PositiveIntegerField(unique=True)),
                (
                    "status",
                    models.CharField(
                        choices=[("draft", "Draft"), ("active", "Active"), ("retired", "Retired")],
                        default="draft",
                        max_length=10,
                    ),
                ),
                ("summary", models.CharField(blank=True, max_length=300)),
                ("policy_text", models.TextField()),
                ("schema_text", models.TextField()),
                ("test_cases", models.JSONField(blank=True, default=list)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("activated_at", models.DateTimeField(blank=True, null=True)),
                ("retired_at", models.DateTimeField(blank=True, null=True)),
                (
                    "activated_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "author",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "parent",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="children",
                        to="runtime.policyversion",
                    ),
                ),
            ],
            options={
                "ordering": ["-number"],
            },
        ),
        migrations.CreateModel(
            name="ProvenanceRule",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("uuid", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("description", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("disabled_at", models.DateTimeField(blank=True, null=True)),
                ("disable_reason", models.TextField(blank=True)),
                (
                    "issuer",
                    models.CharField(help_text='"spiffe://<trust domain>" or an OIDC issuer URL', max_length=500),
                ),
                ("claim", models.CharField(max_length=100)),
                (
                    "allowed_values",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.CharField(max_length=300), blank=True, default=list, size=None
                    ),
                ),
                (
                    "identity_field",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("", "No per-identity check"),
                            ("allowed_image_digests", "Allowed image digests"),
                            ("source_repository", "Source repository"),
                            ("source_commit", "Source commit"),
                            ("attestation_signer", "Attestation signer"),
                        ],
                        max_length=30,
                    ),
                ),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "disabled_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "abstract": False,
            },
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="tokenrevocation",
            trigger=pgtrigger.compiler.Trigger(
                name="runtime_token_revocation_append_only",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;",
                    hash="cabdcb3a1e4255b561149a46d5e1eab650bd7fb0",
                    operation="UPDATE OR DELETE",
                    pgid="pgtrigger_runtime_token_revocation_append_only_8fd04",
                    table="runtime_tokenrevocation",
                    when="BEFORE",
                ),
            ),
        ),
        migrations.AddField(
            model_name="trustbundle",
            name="created_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="trustbundle",
            name="disabled_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddConstraint(
            model_name="assertionkey",
            constraint=models.UniqueConstraint(
                condition=models.Q(("disabled_at__isnull", True)),
                fields=("identity", "kid"),
                name="runtime_assertion_key_kid",
            ),
        ),
        migrations.AddConstraint(
            model_name="delegationrule",
            constraint=models.UniqueConstraint(
                condition=models.Q(("disabled_at__isnull", True)),
                fields=("actor", "subject"),
                name="runtime_delegation_once",
            ),
        ),
        migrations.AddConstraint(
            model_name="delegationrule",
            constraint=models.CheckConstraint(
                condition=models.Q(("actor", models.F("subject")), _negated=True), name="runtime_delegation_not_self"
            ),
        ),
        migrations.AddIndex(
            model_name="gateway",
            index=django.contrib.postgres.indexes.GinIndex(fields=["audiences"], name="runtime_gateway_aud_gin"),
        ),
        migrations.AddIndex(
            model_name="issuedtoken",
            index=models.Index(fields=["kid", "expires_at"], name="runtime_token_kid_exp_idx"),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="issuedtoken",
            trigger=pgtrigger.compiler.Trigger(
                name="runtime_issued_token_append_only",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;",
                    hash="4b171971d034a5015c17c4b9205518db92984111",
                    operation="UPDATE OR DELETE",
                    pgid="pgtrigger_runtime_issued_token_append_only_aeeae",
                    table="runtime_issuedtoken",
                    when="BEFORE",
                ),
            ),
        ),
        migrations.AddConstraint(
            model_name="oidcissuer",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("jwks__isnull", False), ("jwks_url", "")),
                    models.Q(("jwks__isnull", True), models.Q(("jwks_url", ""), _negated=True)),
                    _connector="OR",
                ),
                name="runtime_issuer_inline_or_url",
            ),
        ),
        migrations.AddConstraint(
            model_name="policyversion",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "active")), fields=("status",), name="runtime_one_active_policy"
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="policyversion",
            trigger=pgtrigger.compiler.Trigger(
                name="runtime_policy_text_frozen",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition='WHEN (OLD."status" IN (\'active\', \'retired\') AND (OLD."policy_text" IS DISTINCT FROM (NEW."policy_text") OR OLD."schema_text" IS DISTINCT FROM (NEW."schema_text") OR OLD."test_cases" IS DISTINCT FROM (NEW."test_cases")))',
                    func="RAISE EXCEPTION 'pgtrigger: Cannot update rows from % table', TG_TABLE_NAME;",
                    hash="70a95f53f29fb3edc8387f8adda1d2346066c331",
                    operation="UPDATE",
                    pgid="pgtrigger_runtime_policy_text_frozen_6211b",
                    table="runtime_policyversion",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="policyversion",
            trigger=pgtrigger.compiler.Trigger(
                name="runtime_policy_status_forward",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition="WHEN ((NEW.\"status\" IN ('draft', 'active') AND OLD.\"status\" = 'retired') OR (NEW.\"status\" = 'draft' AND OLD.\"status\" = 'active'))",
                    func="RAISE EXCEPTION 'pgtrigger: Cannot update rows from % table', TG_TABLE_NAME;",
                    hash="f3357b33dca8f21d88ec889abc79ce920edfa9d1",
                    operation="UPDATE",
                    pgid="pgtrigger_runtime_policy_status_forward_8ad3b",
                    table="runtime_policyversion",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="policyversion",
            trigger=pgtrigger.compiler.Trigger(
                name="runtime_policy_kept",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition="WHEN (OLD.\"status\" IN ('active', 'retired'))",
                    func="RAISE EXCEPTION 'pgtrigger: Cannot delete rows from % table', TG_TABLE_NAME;",
                    hash="565304d82f693d6ac9aba834d9fdda804b407d23",
                    operation="DELETE",
                    pgid="pgtrigger_runtime_policy_kept_3ac7e",
                    table="runtime_policyversion",
                    when="BEFORE",
                ),
            ),
        ),
        migrations.AddConstraint(
            model_name="trustbundle",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("bundle__isnull", False), ("bundle_url", "")),
                    models.Q(("bundle__isnull", True), models.Q(("bundle_url", ""), _negated=True)),
                    _connector="OR",
                ),
                name="runtime_bundle_inline_or_url",
            ),
        ),
    ]
