"""/api/v1/runtime/…: the machine endpoints (lean views) and task completion."""

from django.urls import path

from identities.runtime.views import machine, tasks

app_name = "runtime_api"
urlpatterns = [
    path("token", machine.token, name="token"),
    path("decide", machine.decide, name="decide"),
    path("introspect", machine.introspect, name="introspect"),
    path("access-requests/<uuid:request_id>", machine.access_request, name="access-request"),
    path("tasks/<uuid:task_id>/complete", tasks.TaskCompleteView.as_view(), name="task-complete"),
]
