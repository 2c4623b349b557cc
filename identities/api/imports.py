"""/api/v1/import/: upload a registry ZIP (202 and a job to follow), read jobs, and export the registry in
the same format (GET /api/v1/import/export/)."""

from __future__ import annotations

import tempfile

from django.http import FileResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from agentiam.api.parsers import JSONParser
from agentiam.permissions import SEE_EVERYTHING, roles_of
from identities.imports.export import registry_export
from identities.imports.jobs import ERR_EMPTY_UPLOAD, UploadTooLarge, import_job_create
from identities.models import ImportJob
from identities.rules import CHANGERS, READERS

from . import inputs
from .access_serializers import ImportJobSerializer
from .base import RegistryViewSet
from .filters import ImportJobFilter

TRUE = ("1", "true", "yes", "on")

CELLS = ("exact", "spreadsheet")
ERR_CELLS = "cells must be exact (the import format) or spreadsheet (formula-like cells get a leading apostrophe)."


class UploadTooLargeError(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = "The upload is too large."


DRY_RUN = OpenApiParameter(
    "dry_run", OpenApiTypes.BOOL, description="Check everything and report what would change; write nothing."
)


@extend_schema_view(
    list=extend_schema(summary="List import jobs (yours; all of them for roles that see everything)", tags=["import"]),
    retrieve=extend_schema(summary="One import job: status, progress, counts and the report", tags=["import"]),
)
class ImportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, RegistryViewSet):
    """Bulk import of the registry from a ZIP holding one CSV or JSON Lines file per entity type (persons,
    systems, tools, identities, identifiers, entitlements, credentials). The import runs in the background,
    all or nothing, by the same rules as the browser; its report names file, line and field."""

    serializer_class = ImportJobSerializer
    filterset_class = ImportJobFilter
    read_roles = READERS
    write_roles = CHANGERS
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self):
        jobs = ImportJob.objects.select_related("created_by")
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reading the model
            return jobs.none()
        if roles_of(self.request.user) & SEE_EVERYTHING:
            return jobs
        return jobs.filter(created_by=self.request.user)

    @extend_schema(
        summary="Upload a registry ZIP to import (202: follow the job)",
        tags=["import"],
        parameters=[DRY_RUN],
        request={"multipart/form-data": inputs.ImportUploadSerializer},
        responses={
            202: ImportJobSerializer,
            413: OpenApiResponse(description="The file is larger than IMPORT_MAX_BYTES."),
        },
    )
    def create(self, request):
        upload = request.FILES.get("file")
        if upload is None:
            raise exceptions.ValidationError({"file": [ERR_EMPTY_UPLOAD]})
        dry_run = str(request.query_params.get("dry_run", request.data.get("dry_run", ""))).lower() in TRUE
        try:
            job = import_job_create(actor=request.user, upload=upload, filename=upload.name, dry_run=dry_run)
        except UploadTooLarge as error:
            raise UploadTooLargeError(str(error)) from None
        except ValueError as error:
            raise exceptions.ValidationError({"file": [str(error)]}) from None
        data = ImportJobSerializer(job, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["page"]})

    @extend_schema(
        summary="Export the registry you may see, in the import format (a ZIP of CSV files)",
        tags=["import"],
        parameters=[
            OpenApiParameter(
                "cells",
                str,
                enum=CELLS,
                description="exact (default: importing it changes nothing) or "
                "spreadsheet (cells starting with = + - @, tab or CR get a leading apostrophe)",
            )
        ],
        responses={(200, "application/zip"): OpenApiTypes.BINARY},
    )
    @action(detail=False, methods=["get"], url_path="export", url_name="export")
    def export(self, request):
        archive = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it, which deletes it
        cells = request.query_params.get("cells", "exact")
        if cells not in CELLS:
            raise exceptions.ValidationError({"cells": [ERR_CELLS]})
        registry_export(archive, actor=request.user, spreadsheet_safe=cells == "spreadsheet")
        archive.seek(0)
        name = f"agentiam-registry-{timezone.now():%Y%m%d-%H%M%S}.zip"
        return FileResponse(archive, as_attachment=True, filename=name, content_type="application/zip")
