"""Right.LOWER_TIER: an owner declares their identity's environment, exposure and capabilities, so a change that
would lower its derived risk tier needs an administrator who does not own it; raising it stays free. The same
rule on the service, the edit page, the API's PATCH and the import."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from agentiam.permissions import Role
from identities import rules, services
from identities.imports.runner import registry_import
from identities.models import Identity, RiskTier
from identities.rules import Right, Standing
from tests.imports.test_registry_import import make_zip, problems

pytestmark = pytest.mark.django_db

HIGH = {"environment": "prod", "capabilities": ["generates_code"]}
DEV = {"environment": "dev", "capabilities": ["generates_code"]}  # medium


@pytest.fixture
def high(cast, agent):
    """The owner's agent, raised to high by its owner (raising is free)."""
    identity = services.identity_update(identity=agent, actor=cast.identity_owner, **HIGH)
    assert identity.derived_tier == RiskTier.HIGH
    return identity


def tier_of(identity) -> str:
    return Identity.objects.get(pk=identity.pk).derived_tier


def test_the_rule_lets_only_an_administrator_who_does_not_own_it_lower_the_tier():
    assert tuple(RiskTier.values) == rules.TIERS
    assert rules.lowers("critical", "high") and not rules.lowers("low", "medium") and not rules.lowers("high", "high")
    owner = Standing(frozenset({Role.IDENTITY_OWNER}), frozenset({"accountable"}))
    admin_owner = Standing(frozenset({Role.ADMINISTRATOR, Role.IDENTITY_OWNER}), frozenset({"technical"}))
    assert rules.may(Right.LOWER_TIER, owner).reason == rules.ERR_LOWER_TIER
    assert not rules.may(Right.LOWER_TIER, admin_owner)
    assert rules.may(Right.LOWER_TIER, Standing(frozenset({Role.ADMINISTRATOR})))


def test_the_service_refuses_an_owner_lowering_and_changes_nothing(cast, high):
    with pytest.raises(PermissionDenied, match="only an administrator who does not own it"):
        services.identity_update(identity=high, actor=cast.identity_owner, **DEV)
    assert Identity.objects.get(pk=high.pk).environment == "prod" and tier_of(high) == RiskTier.HIGH
    # A change that keeps the tier is free, and an administrator who does not own it may lower it.
    services.identity_update(identity=high, actor=cast.identity_owner, description="still prod")
    services.identity_update(identity=high, actor=cast.administrator, **DEV)
    assert tier_of(high) == RiskTier.MEDIUM


def test_the_api_patch_answers_403_saying_who_may(cast, client_factory, high):
    url = f"/api/v1/identities/{high.uuid}/"
    response = client_factory(cast.identity_owner).patch(url, {"environment": "dev"}, content_type="application/json")
    assert response.status_code == 403 and response.json()["detail"] == rules.ERR_LOWER_TIER
    assert tier_of(high) == RiskTier.HIGH
    raised = client_factory(cast.identity_owner).patch(
        url, {"capabilities": ["generates_code", "production_secrets"]}, content_type="application/json"
    )
    assert raised.status_code == 200 and tier_of(high) == RiskTier.CRITICAL
    lowered = client_factory(cast.administrator).patch(url, {"capabilities": []}, content_type="application/json")
    assert lowered.status_code == 200 and tier_of(high) == RiskTier.LOW


def test_the_edit_page_shows_the_refusal(cast, client_factory, high):
    edit = {"name": high.name, "environment": "dev", "exposure": high.exposure, "hosting": high.hosting}
    response = client_factory(cast.identity_owner).post(
        reverse("identity_edit", args=[high.uuid]), {**edit, "capabilities": ["generates_code"]}
    )
    assert response.status_code == 403 and rules.ERR_LOWER_TIER in response.content.decode().replace("&#x27;", "'")
    assert tier_of(high) == RiskTier.HIGH


@pytest.fixture(autouse=True)
def uploads_in_tmp(settings, tmp_path):
    settings.VAR_DIR = tmp_path


def test_the_import_refuses_an_owner_lowering_and_lets_an_administrator(cast, tmp_path, high):
    high.external_id = "bot"
    high.save(update_fields=["external_id"])
    row = {"external_id": "bot", "kind": "agent", "name": high.name, "capabilities": "generates_code"}
    lower = make_zip(tmp_path, "lower.zip", identities__csv=[{**row, "environment": "dev"}])
    result = registry_import(path=lower, actor=cast.identity_owner)
    assert problems(result) == [("identities.csv", 2, "environment", rules.ERR_LOWER_TIER)]
    assert tier_of(high) == RiskTier.HIGH and Identity.objects.get(pk=high.pk).environment == "prod"
    bare = make_zip(tmp_path, "bare.zip", identities__csv=[{**row, "environment": "prod", "capabilities": ""}])
    assert problems(registry_import(path=bare, actor=cast.identity_owner)) == [
        ("identities.csv", 2, "capabilities", rules.ERR_LOWER_TIER)
    ]
    secrets = {**row, "environment": "prod", "capabilities": "generates_code;production_secrets"}
    assert registry_import(path=make_zip(tmp_path, "up.zip", identities__csv=[secrets]), actor=cast.identity_owner).ok
    assert tier_of(high) == RiskTier.CRITICAL
    assert registry_import(path=lower, actor=cast.administrator).ok
    assert tier_of(high) == RiskTier.MEDIUM
