from django.urls import path  # noqa: F401  (used as pages are added)

# Elevation requests in the browser: the owner's request form, the manager's inbox, history, break-glass and
# approval rules. Each page family is a module of reviews/views/; add its lines here.
app_name = "reviews"
urlpatterns: list = []
