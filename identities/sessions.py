"""Session engine (SESSION_ENGINE = "identities.sessions"): Django's database sessions, plus the person's
id in an indexed column so that all of one person's sessions can be ended with one DELETE."""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DBStore


def _person_session():
    return apps.get_model("identities", "PersonSession")


class SessionStore(DBStore):
    @classmethod
    def get_model_class(cls):
        # By name: identities.models.PersonSession names this store (Django's own pair does the same), and
        # importing each other would be a cycle.
        return _person_session()

    def create_model_instance(self, data):
        instance = super().create_model_instance(data)
        try:
            instance.user_id = int(data.get(SESSION_KEY))
        except (TypeError, ValueError):
            instance.user_id = None
        return instance


def end_sessions_of(user_id: int) -> int:
    """Delete every session of one person; they are signed out on their next request."""
    deleted, _ = _person_session().objects.filter(user_id=user_id).delete()
    return deleted
