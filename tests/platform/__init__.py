"""Platform: settings, the supervisor, Celery, database grants, the UI shell, API conventions, permissions declared."""
