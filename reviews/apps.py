from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Reviews and approvals"

    def ready(self):
        # The digest's outbox channel, and the insight on the dashboard and the identity page.
        from reviews import insight, notifications  # noqa: F401
        from reviews.services import breakglass
        from reviews.views import breakglass as _pages  # noqa: F401  (its identity_detail slot)

        insight.register_break_glass(breakglass.count_since)
