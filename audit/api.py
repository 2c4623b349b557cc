"""The audit trail over the API: read-only, newest first, cursor-paginated, with the page's filters."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets

from agentiam.api.routers import router
from agentiam.permissions import SEE_EVERYTHING, RolePermission
from audit.filters import AuditEntryFilter
from audit.models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "occurred_at",
            "actor_label",
            "actor_kind",
            "action",
            "object_type",
            "object_id",
            "object_label",
            "changes",
            "ip_address",
            "request_id",
            "prev_hash",
            "hash",
        ]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(summary="List audit trail entries, newest first", tags=["audit"]),
    retrieve=extend_schema(summary="One audit trail entry", tags=["audit"]),
)
class AuditEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """Entries of the append-only, hash-chained audit trail. Administrators, compliance officers,
    security analysts and auditors may read them; nobody may change them."""

    queryset = AuditEntry.objects.all()
    serializer_class = AuditEntrySerializer
    permission_classes = [RolePermission]
    read_roles = SEE_EVERYTHING
    write_roles = frozenset()
    filterset_class = AuditEntryFilter
    lookup_field = "uuid"
    lookup_url_kwarg = "id"
    lookup_value_converter = "uuid"


router.register("audit/entries", AuditEntryViewSet, basename="audit-entry")
