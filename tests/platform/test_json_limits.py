"""One depth and size limit for every JSON document the product parses (agentiam/jsonsafe.py): past it, a
400 naming the limit, never a 500 or a RecursionError — on DRF writes and in the request guard; the AuthZEN
interop vectors parse under it unchanged. The runtime's endpoints and token payloads:
tests/runtime/test_hostile_input.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings

from agentiam import jsonsafe
from audit.models import AuditEntry
from identities.models import Entitlement, Identity

VECTORS = sorted((Path(__file__).parent / "authzen").glob("*.json"))


def nested(levels: int, inner: str = "0") -> str:
    return "[" * levels + inner + "]" * levels


def test_the_limit_is_64_levels_and_counts_arrays_and_objects_but_not_brackets_in_strings():
    assert settings.JSON_MAX_DEPTH == 64
    assert jsonsafe.loads(nested(64)) is not None
    with pytest.raises(jsonsafe.JsonRefused) as refused:
        jsonsafe.loads('{"a": ' + nested(64) + "}")
    assert refused.value.code == "json_too_deep" and "64 levels" in refused.value.detail
    assert jsonsafe.loads(json.dumps({"text": "[[[[" * 100 + '\\"{{{'})) == {"text": "[[[[" * 100 + '\\"{{{'}


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", "parse_error"),
        (b'{"a": "\xff\xfe"}', "parse_error"),
        (bytes(range(1, 256)), "parse_error"),
        (b'{"a": NaN}', "parse_error"),
        (b"[Infinity]", "parse_error"),
        (nested(100_000).encode(), "json_too_deep"),
    ],
    ids=["malformed", "invalid utf-8", "binary", "nan", "infinity", "100000 deep"],
)
def test_every_malformed_or_deep_document_is_refused_with_its_code(raw, code):
    with pytest.raises(jsonsafe.JsonRefused) as refused:
        jsonsafe.loads(raw)
    assert refused.value.code == code


def test_a_document_over_the_size_limit_is_refused_naming_it(settings):
    settings.JSON_MAX_BYTES = 4096
    assert jsonsafe.loads(json.dumps(["x" * 4000]))
    with pytest.raises(jsonsafe.JsonRefused) as refused:
        jsonsafe.loads(json.dumps(["x" * 4100]))
    assert refused.value.code == "json_too_large" and "4096 bytes" in refused.value.detail


@pytest.mark.parametrize("path", VECTORS, ids=lambda path: path.name[:60])
def test_the_authzen_interop_vectors_parse_under_the_limits(path):
    raw = path.read_bytes()
    assert jsonsafe.loads(raw) == json.loads(raw)
    for cases in json.loads(raw).values():
        for case in cases:
            body = json.dumps(case["request"]).encode()
            assert jsonsafe.loads(body) == case["request"]
            assert jsonsafe.depth(body.decode()) < settings.JSON_MAX_DEPTH


def counts() -> tuple[int, int, int]:
    return Identity.objects.count(), Entitlement.objects.count(), AuditEntry.objects.count()


@pytest.mark.parametrize(
    ("body", "code", "names"),
    [
        ("{not json", "parse_error", "not valid JSON"),
        (b"\xff\xfe\x80", "parse_error", "not UTF-8"),
        (nested(100_000), "json_too_deep", "64 levels"),
        ('{"kind": "agent", "scope": ' + nested(3000) + "}", "json_too_deep", "64 levels"),
        ('{"name": "nan", "risk": NaN}', "parse_error", "NaN"),
    ],
    ids=["malformed", "invalid utf-8", "100000 deep", "3000 deep field", "nan"],
)
@pytest.mark.parametrize("path", ["/api/v1/identities/", "/api/v1/entitlements/", "/api/v1/tokens/"])
def test_every_drf_write_refuses_them_with_400_naming_the_limit_and_writes_nothing(
    cast, client_factory, path, body, code, names
):
    client = client_factory(cast.administrator)
    before = counts()
    response = client.post(path, data=body, content_type="application/json")
    assert response.status_code == 400, response.content[:200]
    answer = response.json()
    assert answer["error"] == code and names in answer["detail"], answer
    assert counts() == before


def test_the_nul_guard_does_not_recurse_into_a_deep_body(cast, client_factory):
    body = '{"name": "\\u0000", "deep": ' + nested(5000) + "}"
    client = client_factory(cast.administrator)
    response = client.post("/api/v1/identities/", data=body, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"] == "json_too_deep"
