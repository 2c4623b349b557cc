"""Property-based robustness of the whole API: Schemathesis generates requests from our own OpenAPI schema
(valid and invalid bodies, parameters, headers) and sends them in-process, as an administrator with an API
token. Whatever it sends, the API must never answer 500, and every answer must be one the schema documents:
its status code, its content type and its body (response-schema conformance). A drift is fixed in the schema
or in the answer, never by leaving a check out."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from agentiam.permissions import Role
from agentiam.wsgi import application
from identities.services import api_token_create
from tests.cast import make_person

pytestmark = pytest.mark.slow
EXAMPLES_PER_OPERATION = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def keep_test_connection(db):
    """Requests go straight to the WSGI application; like Django's test client, keep the test's database
    connection (and its transaction) open across them."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_no_request_makes_the_api_answer_500_or_off_its_schema(keep_test_connection):
    admin = make_person("fuzz-admin", Role.ADMINISTRATOR)
    _, secret = api_token_create(actor=admin, name="fuzz", expires_in_days=1)
    headers = {"Authorization": f"Bearer {secret}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 10, "the schema should describe the whole API"
    failures = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        except (Exception, BaseExceptionGroup) as error:  # Schemathesis' FailureGroup is a BaseExceptionGroup
            failures.append(f"{operation.method.upper()} {operation.path}: {str(error)[:900]}")
    assert not failures, "\n\n".join(failures)
