import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentiam.settings")

app = Celery("agentiam")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
