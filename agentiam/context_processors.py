from django.conf import settings
from django.utils.functional import SimpleLazyObject

from agentiam.navigation import navigation_for
from agentiam.permissions import Role, roles_of


def product(request):
    return {"AGENTIAM_PROFILE": settings.PROFILE}


def shell(request):
    """The navigation and the person's roles for base.html; lazy, so partial (htmx) renders pay nothing."""
    return {
        "nav_sections": SimpleLazyObject(lambda: navigation_for(request)),
        "person_roles": SimpleLazyObject(lambda: [role for role in Role if role in roles_of(request.user)]),
    }
