from django.db import models


class Heartbeat(models.Model):
    """Last time each background component proved it was alive (written by a Celery task)."""

    component = models.CharField(max_length=40, unique=True)
    last_seen = models.DateTimeField()
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.IntegerField(null=True)

    def __str__(self):
        return f"{self.component} @ {self.last_seen:%Y-%m-%d %H:%M:%S}"
