from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Reviews and approvals"

    def ready(self):
        # The digest's outbox channel, the insight on the dashboard and the identity page, the inbox's work item
        # and the identity page's request panel: each registers with agentiam's registries.
        from reviews import (  # noqa: F401
            insight,
            notifications,
            slots,
            slots_calls,
            worklist,
        )
        from reviews.services import breakglass, fulfilment  # noqa: F401  (fulfilment: its outbox channel)
        from reviews.views import breakglass as _pages  # noqa: F401  (its identity_detail slot)

        insight.register_break_glass(breakglass.count_since)
