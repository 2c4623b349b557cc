"""/api/v1/runtime-config/…: the runtime's trust configuration over the API. The see-everything roles
read; administrators create and disable (POST …/{id}/disable/), through the same services as the pages
(per-call approval settings: security analysts too)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from agentiam.adapters import api_call
from agentiam.api.routers import router
from agentiam.permissions import RolePermission
from identities.runtime import serializers as s
from identities.runtime import services
from identities.runtime.models import (
    AssertionKey,
    DelegationRule,
    Gateway,
    OidcIssuer,
    PerCallMode,
    ProvenanceRule,
    TrustBundle,
)
from identities.runtime.roles import CONFIG_READERS, CONFIG_WRITERS, PER_CALL_WRITERS


class ConfigViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    permission_classes = [RolePermission]
    read_roles = CONFIG_READERS
    write_roles = CONFIG_WRITERS
    lookup_field = "uuid"
    lookup_url_kwarg = "id"
    lookup_value_converter = "uuid"
    filter_backends = []
    related: tuple[str, ...] = ()
    create_service = None

    def get_queryset(self):
        return self.queryset.select_related(*self.related, "created_by", "disabled_by").order_by("-created_at", "-pk")

    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        row = self.performapi_call(request, dict(body.validated_data))
        return Response(self.get_serializer(row).data, status=status.HTTP_201_CREATED)

    def performapi_call(self, request, data):
        return api_call(type(self).create_service, actor=request.user, request=request, **data)

    @extend_schema(request=s.DisableSerializer, summary="Disable (it stays on record)")
    @action(detail=True, methods=["post"])
    def disable(self, request, id=None):
        row = self.get_object()
        body = s.DisableSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        row = api_call(services.config_disable, row=row, actor=request.user, reason=body.validated_data["reason"],
                       request=request)  # fmt: skip
        return Response(self.get_serializer(row).data)


def _documented(name: str):
    return extend_schema_view(
        list=extend_schema(summary=f"List {name}", tags=["runtime-config"]),
        retrieve=extend_schema(summary=f"One of the {name}", tags=["runtime-config"]),
        create=extend_schema(summary=f"Add one of the {name}", tags=["runtime-config"]),
        disable=extend_schema(tags=["runtime-config"]),
    )


@_documented("gateways")
class GatewayViewSet(ConfigViewSet):
    """Enforcement points. Creating one registers its service-account identity and returns its credential once."""

    queryset = Gateway.objects.all()
    serializer_class = s.GatewaySerializer
    related = ("identity",)

    def get_serializer_class(self):
        return s.GatewayCreateSerializer if self.action == "create" else s.GatewaySerializer

    @extend_schema(request=s.GatewayCreateSerializer, responses={201: s.GatewayCredentialSerializer})
    def create(self, request, *args, **kwargs):
        body = s.GatewayCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        gateway, credential = api_call(
            services.gateway_create, actor=request.user, request=request, **body.validated_data
        )
        gateway.credential = credential
        return Response(s.GatewayCredentialSerializer(gateway).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: s.GatewayCredentialSerializer}, summary="Issue a new credential",
                   tags=["runtime-config"])  # fmt: skip
    @action(detail=True, methods=["post"], url_path="rotate-credential")
    def rotate_credential(self, request, id=None):
        gateway, credential = api_call(
            services.gateway_rotate_credential, gateway=self.get_object(), actor=request.user, request=request
        )
        gateway.credential = credential
        return Response(s.GatewayCredentialSerializer(gateway).data)


@_documented("SPIFFE trust bundles")
class TrustBundleViewSet(ConfigViewSet):
    """SPIFFE trust domains whose JWT-SVIDs are accepted (inline bundle or https URL)."""

    queryset = TrustBundle.objects.all()
    serializer_class = s.TrustBundleSerializer
    create_service = services.trust_bundle_create


@_documented("OIDC issuers")
class OidcIssuerViewSet(ConfigViewSet):
    """OpenID Connect issuers whose ID tokens are accepted."""

    queryset = OidcIssuer.objects.all()
    serializer_class = s.OidcIssuerSerializer
    create_service = services.oidc_issuer_create


@_documented("assertion keys")
class AssertionKeyViewSet(ConfigViewSet):
    """Public keys registered on identities for RFC 7523 client assertions."""

    queryset = AssertionKey.objects.all()
    serializer_class = s.AssertionKeySerializer
    related = ("identity",)
    create_service = services.assertion_key_create


@_documented("provenance rules")
class ProvenanceRuleViewSet(ConfigViewSet):
    """Claims proofs must carry, with the values allowed."""

    queryset = ProvenanceRule.objects.all()
    serializer_class = s.ProvenanceRuleSerializer
    create_service = services.provenance_rule_create


@_documented("delegation rules")
class DelegationRuleViewSet(ConfigViewSet):
    """Who may act for whom in a token exchange."""

    queryset = DelegationRule.objects.all()
    serializer_class = s.DelegationRuleSerializer
    related = ("actor", "subject")

    def performapi_call(self, request, data):
        return api_call(
            services.delegation_rule_create, actor=request.user, actor_identity=data.pop("actor"), request=request,
            **data,
        )  # fmt: skip


@_documented("per-call approval settings")
class PerCallModeViewSet(ConfigViewSet):
    """Identities or risk tiers whose every write, admin or execute call needs a person's approval first.
    Administrators and security analysts turn it on (never for an identity they own) and off."""

    queryset = PerCallMode.objects.all()
    serializer_class = s.PerCallModeSerializer
    write_roles = PER_CALL_WRITERS
    related = ("identity",)
    create_service = services.per_call_mode_create


router.register("runtime-config/gateways", GatewayViewSet, basename="runtime-gateway")
router.register("runtime-config/trust-bundles", TrustBundleViewSet, basename="runtime-trust-bundle")
router.register("runtime-config/oidc-issuers", OidcIssuerViewSet, basename="runtime-oidc-issuer")
router.register("runtime-config/assertion-keys", AssertionKeyViewSet, basename="runtime-assertion-key")
router.register("runtime-config/provenance-rules", ProvenanceRuleViewSet, basename="runtime-provenance-rule")
router.register("runtime-config/delegation-rules", DelegationRuleViewSet, basename="runtime-delegation-rule")
router.register("runtime-config/per-call-approval", PerCallModeViewSet, basename="runtime-per-call-approval")

# Policy versions (/api/v1/policies/…) live in their own module; importing it registers them.
from identities.runtime import api_policies  # noqa: E402, F401
