from datetime import UTC, datetime, timedelta

import pytest
from django import forms

from agentiam.filtering import OUT_OF_RANGE, UTCDateTimeField


def test_a_date_time_with_an_offset_postgresql_refuses_is_normalised_to_utc():
    value = UTCDateTimeField().clean("0395-08-22T17:32:21+23:18")
    assert value.tzinfo == UTC
    assert value == datetime(395, 8, 22, 17, 32, 21, tzinfo=UTC) - timedelta(hours=23, minutes=18)


def test_a_date_time_that_overflows_in_utc_is_a_field_error():
    with pytest.raises(forms.ValidationError, match=OUT_OF_RANGE):
        UTCDateTimeField().clean("0001-01-01T00:00:00+10:00")


@pytest.mark.django_db
def test_the_audit_api_answers_400_or_200_never_500_for_extreme_times(client):
    from agentiam.permissions import Role
    from tests.cast import make_person
    from tests.support import sign_in

    sign_in(client, make_person("time-auditor", Role.AUDITOR))
    ok = client.get("/api/v1/audit/entries/", {"since": "0395-08-22T17:32:21+23:18"})
    bad = client.get("/api/v1/audit/entries/", {"since": "0001-01-01T00:00:00+10:00"})
    assert ok.status_code == 200
    assert bad.status_code == 400 and "since" in bad.json()["fields"]
