from django.urls import path

from reviews.views import breakglass

# Elevation requests in the browser: the owner's request form, the manager's inbox, history, break-glass and
# approval rules. Each page family is a module of reviews/views/; add its lines here.
app_name = "reviews"
urlpatterns: list = [
    path("break-glass/<uuid:uuid>/", breakglass.break_glass_detail, name="break-glass"),
    path("identities/<uuid:uuid>/break-glass/", breakglass.break_glass_start_page, name="break-glass-start"),
]
