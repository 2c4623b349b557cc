"""/api/v1/review-items/: the review items a person may see, deciding one (certify, revoke, reduce,
reassign), deciding many at once, accepting every recommendation, and a reviewer's sign-off.

Reads start from reviews.attest_reading.items_visible_to (an item the caller may not see is a 404); every
write goes through reviews.services.attest, whose refusals answer in the API's error shape: 400 naming the
field, 403 with the reason (not your item, separation of duties), 409 for the item's state (final, signed
off, decided by someone else at the same moment)."""

from __future__ import annotations

import uuid

import django_filters
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from agentiam.adapters import ServiceErrors
from agentiam.api.schema import ErrorSerializer
from agentiam.errors import invalid
from agentiam.permissions import ALL_ROLES, RolePermission
from reviews.attest_reading import items_visible_to, with_details
from reviews.models_campaigns import CampaignRun, FulfilmentStatus, ItemState, Recommendation, ReviewItem
from reviews.services import attest

from . import items_io as io

TAGS = ["review items"]
CONFLICT = OpenApiResponse(
    ErrorSerializer, description="The item's state refuses it: final, signed off, revoked elsewhere, or decided by "
    "someone else at the same moment.",
)  # fmt: skip
ERR_REVIEWER = "Give `me` or a person's id."


class ReviewItemFilter(django_filters.FilterSet):
    campaign = django_filters.UUIDFilter(field_name="run__campaign__uuid", label="Campaign (its id)")
    run = django_filters.UUIDFilter(field_name="run__uuid", label="Campaign run (its id)")
    reviewer = django_filters.CharFilter(method="by_reviewer", label="Reviewer: `me` or a person's id")
    identity = django_filters.UUIDFilter(field_name="identity__uuid", label="Identity (its id)")
    state = django_filters.ChoiceFilter(choices=ItemState.choices)
    fulfilment = django_filters.ChoiceFilter(
        field_name="fulfilment_status", choices=FulfilmentStatus.choices, label="Fulfilment (awaiting_admin: for you)"
    )
    recommendation = django_filters.ChoiceFilter(choices=Recommendation.choices)

    class Meta:
        model = ReviewItem
        fields = ["campaign", "run", "reviewer", "identity", "state", "recommendation", "fulfilment"]

    def by_reviewer(self, queryset, name, value):
        if value == "me":
            return queryset.filter(reviewer=self.request.user)
        try:
            return queryset.filter(reviewer__profile__uuid=uuid.UUID(value))
        except ValueError:
            raise invalid("reviewer", ERR_REVIEWER) from None


@extend_schema_view(
    list=extend_schema(summary="List the review items you may see", tags=TAGS),
    retrieve=extend_schema(summary="One review item: what is attested, the recommendation and why, the decision",
                           tags=TAGS),
)  # fmt: skip
class ReviewItemViewSet(ServiceErrors, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Access certification: each item is one entitlement (or AgentIAM role) for one reviewer, with a
    recommendation and its reason frozen at launch."""

    permission_classes = [RolePermission]
    read_roles = ALL_ROLES
    write_roles = ALL_ROLES  # who may decide is the services' to say, on the item itself
    lookup_field = "uuid"
    lookup_url_kwarg = "id"
    lookup_value_converter = "uuid"
    serializer_class = io.ReviewItemSerializer
    filterset_class = ReviewItemFilter

    def get_queryset(self):
        return with_details(items_visible_to(self.request.user))

    def _body(self, serializer) -> dict:
        given = serializer(data=self.request.data, context=self.get_serializer_context())
        given.is_valid(raise_exception=True)
        return dict(given.validated_data)

    def _run(self, given) -> CampaignRun | None:
        if given is None:
            return None
        run = CampaignRun.objects.filter(uuid=given, items__in=items_visible_to(self.request.user)).first()
        if run is None:
            raise invalid("run", "No campaign run with this id has items you may see.")
        return run

    @extend_schema(
        summary="Decide one item: certify, revoke, reduce (a narrower scope or JIT only) or reassign",
        tags=TAGS,
        request=io.DecideSerializer,
        responses={200: io.ReviewItemSerializer, 409: CONFLICT},
        description="A certify may change until you sign off; a revoke or reduce is final and is fulfilled by a "
        "worker (a reduce of write, admin or execute access waits for an administrator who does not own the "
        "identity). reassign hands the item to another person the campaign's reviewer rule names.",
    )
    @action(detail=True, methods=["post"])
    def decide(self, request, id=None):
        item = self.get_object()
        body = self._body(io.DecideSerializer)
        decided = attest.review_item_decide(item=item, actor=request.user, request=request, **body)
        return Response(io.ReviewItemSerializer(with_details(ReviewItem.objects.all()).get(pk=decided.pk)).data)

    @extend_schema(
        summary="Certify or revoke many of your items at once (all or nothing)",
        tags=TAGS,
        request=io.BulkDecideSerializer,
        responses={200: io.ReviewItemSerializer(many=True), 409: CONFLICT},
    )
    @action(detail=False, methods=["post"], url_path="bulk-decide")
    def bulk_decide(self, request):
        body = self._body(io.BulkDecideSerializer)
        decided = attest.review_items_decide(actor=request.user, request=request, **body)
        rows = with_details(ReviewItem.objects.filter(pk__in=[d.pk for d in decided])).order_by("pk")
        return Response(io.ReviewItemSerializer(rows, many=True).data)

    @extend_schema(
        summary="Accept the recommendation of every pending item of yours (keep → certify, revoke → revoke)",
        tags=TAGS,
        request=io.AcceptSerializer,
        responses={200: io.AcceptedSerializer},
    )
    @action(detail=False, methods=["post"], url_path="accept-recommendations")
    def accept_recommendations(self, request):
        body = self._body(io.AcceptSerializer)
        run = self._run(body.pop("run"))
        accepted = attest.review_items_accept_recommendations(actor=request.user, run=run, request=request, **body)
        return Response(io.AcceptedSerializer(accepted).data)

    @extend_schema(
        summary="Sign off your part of a campaign run's current stage: after this your items never change",
        tags=TAGS,
        request=io.SignOffSerializer,
        responses={200: io.SignedOffSerializer, 409: CONFLICT},
    )
    @action(detail=False, methods=["post"], url_path="sign-off")
    def sign_off(self, request):
        body = self._body(io.SignOffSerializer)
        run = self._run(body["run"])
        if run is None:
            raise Http404
        signed = attest.review_signoff(run=run, actor=request.user, note=body["note"], request=request)
        return Response(io.SignedOffSerializer(signed).data)

    @extend_schema(
        summary="Complete a reduce of write, admin or execute access (an administrator who does not own the identity)",
        tags=TAGS,
        request=io.CompleteReduceSerializer,
        responses={200: io.ReviewItemSerializer, 409: CONFLICT},
        description="The entitlement is replaced by the narrower one the reviewer chose, through the runtime (its "
        "tokens end). On a high or critical identity a standing write or admin needs an exception: give its reason "
        "and end.",
    )
    @action(detail=True, methods=["post"], url_path="complete-reduce")
    def complete_reduce(self, request, id=None):
        item = self.get_object()
        body = self._body(io.CompleteReduceSerializer)
        done = attest.review_item_complete_reduce(item=item, actor=request.user, request=request, **body)
        return Response(io.ReviewItemSerializer(with_details(ReviewItem.objects.all()).get(pk=done.pk)).data)
