from django.urls import path

from agentiam.navigation import NavEntry, register
from identities.views import people, profile

urlpatterns = [
    path("people/", people.people_list, name="people"),
    path("people/new/", people.person_create, name="person_create"),
    path("people/<uuid:uuid>/", people.person_detail, name="person"),
    path("people/<uuid:uuid>/edit/", people.person_edit, name="person_edit"),
    path("people/<uuid:uuid>/status/", people.person_status, name="person_status"),
    path("people/<uuid:uuid>/roles/grant/", people.role_grant, name="role_grant"),
    path("people/<uuid:uuid>/roles/revoke/", people.role_revoke, name="role_revoke"),
    path("me/", profile.my_profile, name="my_profile"),
    path("me/tokens/", profile.token_create, name="token_create"),
    path("me/tokens/<uuid:uuid>/revoke/", profile.token_revoke, name="token_revoke"),
]

register(NavEntry("Administration", "People", "people", people.PEOPLE_READERS))
register(NavEntry("Account", "My profile", "my_profile", None))
