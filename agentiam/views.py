from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from agentiam.status import system_status


@require_GET
@never_cache
def healthz(request):
    """Liveness for load balancers and the supervisor: the database answers. Says nothing else."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "time": timezone.now().isoformat()})


@login_required
@require_GET
def dashboard(request):
    return render(request, "dashboard.html", {"status": system_status()})
