from django.conf import settings


def product(request):
    return {"AGENTIAM_PROFILE": settings.PROFILE}
