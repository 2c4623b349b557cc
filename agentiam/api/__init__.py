"""HTTP API conventions shared by every app: one error shape, pagination, the /api/v1/ root, schema helpers.

Apps register DRF viewsets on `agentiam.api.routers.router` from their own `api` module (discovered when
the URL configuration loads) and document plain Django views with `agentiam.api.schema.lean_endpoint`.
"""
