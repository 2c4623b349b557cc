from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Reviews and approvals"

    def ready(self):
        # The digest's outbox channel, and the insight on the dashboard and the identity page.
        from reviews import insight, notifications  # noqa: F401
        from reviews.services import breakglass

        insight.register_break_glass(breakglass.count_since)
