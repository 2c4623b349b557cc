"""POST /api/v1/runtime/tasks/{task_id}/complete: the task's own agent (with one of its access tokens), an
owner of its identity, or a security analyst (API token or session) ends the task, its tokens and grants."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from agentiam.adapters import ServiceErrors
from identities import rules
from identities.api_tokens import ApiTokenAuthentication
from identities.models import Identity, Task
from identities.models.registry import standing
from identities.rules import Right
from identities.runtime.agent_auth import AgentPrincipal, AgentTokenAuthentication
from identities.runtime.schema import TaskCompleteAnswer
from identities.runtime.services.ending import task_end


class TaskIdentityOwnerOrAnalyst(BasePermission):
    """Authenticated callers only; which task they may complete is decided on the task itself."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated)


class TaskCompleteView(ServiceErrors, APIView):
    authentication_classes = [AgentTokenAuthentication, ApiTokenAuthentication, SessionAuthentication]
    permission_classes = [TaskIdentityOwnerOrAnalyst]

    @extend_schema(
        operation_id="runtime_task_complete",
        summary="Complete a task: end its tokens and JIT grants at once",
        tags=["runtime"],
        request=None,
        responses={200: TaskCompleteAnswer},
    )
    def post(self, request, task_id):
        task = Task.objects.select_related("identity").filter(uuid=task_id).first()
        user = request.user
        if isinstance(user, AgentPrincipal):
            if task is None or task.identity_id != user.identity_id:
                raise NotFound()
            actor, agent_label = None, user.label
        else:
            if task is None or not Identity.objects.restrict(user).filter(pk=task.identity_id).exists():
                raise NotFound()
            rules.may(Right.COMPLETE_TASK, standing(task.identity, user)).check()
            actor, agent_label = user, None
        counts = task_end(task=task, actor=actor, agent_label=agent_label, request=request)
        body = {
            "task_id": str(task.uuid),
            "state": Task.State.COMPLETED,
            "tokens_revoked": counts["tokens"],
            "grants_ended": counts["grants"],
            "entitlements_revoked": counts["entitlements"],
        }
        return Response(body)
