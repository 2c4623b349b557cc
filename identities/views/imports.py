"""Registry import pages: upload a ZIP (or check it with a dry run), then follow the job — the page polls
with htmx while the worker runs and stops once the job is done — and read its row-by-row report."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import filesizeformat
from django.views.decorators.http import require_GET, require_http_methods

from agentiam.permissions import SEE_EVERYTHING, roles_of, roles_required
from identities.imports import formats
from identities.imports.jobs import UploadTooLarge, import_job_create, job_progress
from identities.models import ImportJob
from identities.rules import CHANGERS

IMPORTERS = CHANGERS  # an import registers and changes identities
IMPORT_READERS = IMPORTERS | SEE_EVERYTHING
POLL_SECONDS = 2
RECENT = 20

PHASES = [
    ("queued", "Queued"),
    ("loading", "Reading files"),
    ("checking", "Checking rows"),
    ("writing", "Writing"),
    ("refreshing", "Recomputing risk"),
    ("done", "Done"),
]


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label="Registry ZIP",
        help_text="One CSV or JSON Lines file per entity type: persons, systems, tools, identities, identifiers, "
        "entitlements, credentials.",
        widget=forms.ClearableFileInput(attrs={"accept": ".zip,application/zip"}),
    )
    dry_run = forms.BooleanField(
        label="Dry run: check everything and report what would change, write nothing",
        required=False,
        initial=True,
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.IMPORT_MAX_BYTES:
            raise forms.ValidationError(f"The file is larger than {filesizeformat(settings.IMPORT_MAX_BYTES)}.")
        return upload


def jobs_for(user):
    jobs = ImportJob.objects.select_related("created_by")
    return jobs if roles_of(user) & SEE_EVERYTHING else jobs.filter(created_by=user)


@roles_required(IMPORT_READERS)
@require_http_methods(["GET", "POST"])
def import_list(request):
    may_import = bool(roles_of(request.user) & IMPORTERS)
    form = ImportUploadForm()
    status = 200
    if request.method == "POST":
        if not may_import:
            raise PermissionDenied("Only administrators and identity owners may import into the registry.")
        form = ImportUploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = import_job_create(
                    actor=request.user, upload=upload, filename=upload.name, dry_run=form.cleaned_data["dry_run"]
                )
            except UploadTooLarge as error:
                form.add_error("file", str(error))
                status = 413
            else:
                return redirect("import_job", uuid=job.uuid)
        else:
            status = 413 if form.has_error("file") and "larger" in str(form.errors.get("file")) else 400
    context = {
        "form": form,
        "may_import": may_import,
        "jobs": jobs_for(request.user).order_by("-created_at")[:RECENT],
        "entities": formats.ENTITIES,
        "limit": settings.IMPORT_MAX_BYTES,
    }
    return render(request, "identities/registry/import_list.html", context, status=status)


@roles_required(IMPORT_READERS)
@require_GET
def import_job(request, uuid):
    job = get_object_or_404(jobs_for(request.user), uuid=uuid)
    progress = job_progress(job)
    finished = job.status in (ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED)
    context = {
        "job": job,
        "finished": finished,
        "progress": progress,
        "poll_seconds": POLL_SECONDS,
        "phases": _phases(job, progress),
        "counts": _count_rows(job.counts),
        "problems": (job.report or {}).get("problems", []),
        "report": job.report or {},
    }
    template = "identities/registry/import_detail.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#status"
    return render(request, template, context)


def _phases(job: ImportJob, progress: dict) -> list[dict]:
    """The steps, each done, current, failed (a refused import stops at its checks) or still to come."""
    keys = [key for key, _ in PHASES]
    if job.status == ImportJob.Status.SUCCEEDED:
        reached, failed = len(PHASES), None
    elif job.status == ImportJob.Status.FAILED:
        reached = failed = keys.index("checking")
    else:
        phase = progress.get("phase", "queued")
        reached, failed = (keys.index(phase) if phase in keys else 0), None
    return [
        {"label": label, "done": i < reached, "current": i == reached and failed is None, "failed": i == failed}
        for i, (_, label) in enumerate(PHASES)
    ]


COUNT_COLUMNS = ("created", "updated", "replaced", "unchanged", "owners_transferred", "revoked_not_granted")


def _count_rows(counts: dict) -> list[dict]:
    rows = []
    for entity in formats.ENTITIES:
        found = (counts or {}).get(entity.name)
        if found:
            rows.append({"entity": entity.name, **{c: found.get(c) for c in COUNT_COLUMNS}})
    return rows
