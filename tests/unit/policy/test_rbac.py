"""RBAC: deny by default, deployers per environment, --force for admins, four eyes across identities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bot.config import Config, load_config, parse_config
from bot.domain import Actor, Approval, DeployRequest, Platform, RequestKind, RequestState
from bot.identity.rbac import can_cancel, can_decide, can_deploy, can_lock, can_view
from bot.identity.teams import TeamView

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "chatops.yml"
ENV = {"TEAMS_OPS_WEBHOOK_URL": "https://example.invalid/hook"}
CONFIG: Config = load_config(EXAMPLE, env=ENV)
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
VERIFIED = TeamView("someone-gh")  # a verified GitHub identity (what Pipeline.who finds for config people)


def slack(user: str, channel: str = "C0DEPLOYS") -> Actor:
    """An actor the way a handler builds one: the platform id mapped to a person (or None)."""
    person = CONFIG.person_by("slack", user)
    return Actor(Platform.SLACK, user, person.key if person else None, channel)


DEV, LEAD, SRE, GUEST = slack("U0DEV"), slack("U0LEAD"), slack("U0SRE"), slack("U0GUEST")


def request(*, requester: str = "dev", state: RequestState = RequestState.PENDING_APPROVAL,
            environment: str = "production", expires_at: datetime | None = NOW + timedelta(hours=2)) -> DeployRequest:
    return DeployRequest(
        id="r-abcd2345", kind=RequestKind.DEPLOY, service="api", environment=environment, ref="v1.4.2",
        requester=requester, requester_platform=Platform.SLACK, requester_id=f"U0{requester.upper()}",
        channel="C0DEPLOYS",
        state=state, created_at=NOW, workflow="api-ci.yml", approvals_required=1, expires_at=expires_at,
    )


def approval(person: str, decision: str = "approve") -> Approval:
    return Approval("r-abcd2345", person, Platform.SLACK, f"U0{person.upper()}", decision, "", NOW)


# ------------------------------------------------------------------------------------------ deny by default


def test_guest_has_no_person() -> None:
    assert GUEST.person is None


@pytest.mark.parametrize("env", ["dev", "staging", "production"])
def test_unknown_people_are_refused_everywhere(env: str) -> None:
    for actor in (GUEST, Actor(Platform.SLACK, "U0DEV", "someone-else"), Actor(Platform.TEAMS, "29:x", None)):
        for decision in (can_deploy(CONFIG, actor, env, teams=VERIFIED), can_deploy(CONFIG, actor, env, force=True),
                         can_lock(CONFIG, actor, env), can_view(CONFIG, actor),
                         can_decide(CONFIG, actor, request(), [], at=NOW, teams=VERIFIED)):
            assert not decision.allowed
            assert "people list" in decision.reason


def test_unknown_environment_is_refused() -> None:
    assert not can_deploy(CONFIG, DEV, "qa").allowed
    assert not can_lock(CONFIG, SRE, "qa").allowed
    assert not can_decide(CONFIG, LEAD, request(environment="qa"), [], at=NOW, teams=VERIFIED).allowed


# ------------------------------------------------------------------------------------------ deploy


@pytest.mark.parametrize(
    ("actor", "env", "allowed"),
    [
        (DEV, "dev", True), (DEV, "staging", True), (DEV, "production", True),
        (LEAD, "production", True),
        (SRE, "dev", False), (SRE, "staging", False), (SRE, "production", False),  # an approver, not a deployer
    ],
)
def test_deployers_per_environment(actor: Actor, env: str, allowed: bool) -> None:
    decision = can_deploy(CONFIG, actor, env, teams=VERIFIED)
    assert decision.allowed is allowed
    if not allowed:
        assert "not a deployer" in decision.reason and env in decision.reason


def test_known_people_may_view() -> None:
    assert can_view(CONFIG, SRE).allowed and can_view(CONFIG, DEV).allowed


def admin_deployer_config() -> Config:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["groups"]["deployers"] = ["dev", "lead", "sre"]
    return parse_config(data, env=ENV)


def test_force_is_for_admins_only() -> None:
    config = admin_deployer_config()
    sre = Actor(Platform.SLACK, "U0SRE", "sre")
    assert can_deploy(config, sre, "production", force=True, teams=VERIFIED).allowed
    for who in ("dev", "lead"):
        decision = can_deploy(config, Actor(Platform.SLACK, f"U0{who.upper()}", who), "production", force=True,
                              teams=VERIFIED)
        assert not decision.allowed and "--force" in decision.reason
        assert can_deploy(config, Actor(Platform.SLACK, f"U0{who.upper()}", who), "production",
                          teams=VERIFIED).allowed


def test_locks_for_deployers_and_admins() -> None:
    assert can_lock(CONFIG, DEV, "production").allowed
    assert can_lock(CONFIG, SRE, "production").allowed  # admin
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["environments"]["staging"]["deployers"] = ["lead"]
    config = parse_config(data, env=ENV)
    decision = can_lock(config, Actor(Platform.SLACK, "U0DEV", "dev"), "staging")
    assert not decision.allowed and "staging" in decision.reason


# ------------------------------------------------------------------------------------------ decide (approve / reject)


def test_an_approver_may_decide() -> None:
    assert can_decide(CONFIG, LEAD, request(), [], at=NOW, teams=VERIFIED).allowed
    assert can_decide(CONFIG, SRE, request(), [approval("lead")], at=NOW, teams=VERIFIED).allowed


def test_four_eyes_refuses_the_requester() -> None:
    decision = can_decide(CONFIG, LEAD, request(requester="lead"), [], at=NOW, teams=VERIFIED)
    assert not decision.allowed and "four eyes" in decision.reason


@pytest.mark.parametrize(
    "other_identity",
    [
        Actor(Platform.TEAMS, "29:lead-teams-id", "lead"),
        Actor(Platform.GITHUB, "lead-gh", "lead"),
        Actor(Platform.SLACK, "U0LEAD", "lead", channel="C0APPROVALS"),
    ],
)
def test_four_eyes_compares_people_not_platform_ids(other_identity: Actor) -> None:
    """The requester asked on Slack; their click from another platform identity is still refused."""
    r = request(requester="lead")
    assert r.requester_id != other_identity.platform_id or other_identity.platform is Platform.SLACK
    decision = can_decide(CONFIG, other_identity, r, [], at=NOW, teams=VERIFIED)
    assert not decision.allowed and "four eyes" in decision.reason


def test_github_identity_maps_to_the_same_person() -> None:
    person = CONFIG.person_by("github", "lead-gh")
    assert person is not None
    actor = Actor(Platform.GITHUB, "lead-gh", person.key)
    assert not can_decide(CONFIG, actor, request(requester="lead"), [], at=NOW, teams=VERIFIED).allowed


def test_non_approver_is_refused() -> None:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["people"]["ops"] = {"slack": "U0OPS"}
    config = parse_config(data, env=ENV)
    decision = can_decide(config, Actor(Platform.SLACK, "U0OPS", "ops"), request(), [], at=NOW, teams=VERIFIED)
    assert not decision.allowed and "not an approver" in decision.reason
    # a deployer who is not an approver, on someone else's request
    decision = can_decide(CONFIG, DEV, request(requester="lead"), [], at=NOW, teams=VERIFIED)
    assert not decision.allowed and "not an approver" in decision.reason


@pytest.mark.parametrize("late", [timedelta(0), timedelta(seconds=1), timedelta(days=1)])
def test_expired_request_is_refused(late: timedelta) -> None:
    r = request(expires_at=NOW)
    decision = can_decide(CONFIG, LEAD, r, [], at=NOW + late, teams=VERIFIED)
    assert not decision.allowed and "expired" in decision.reason
    assert can_decide(CONFIG, LEAD, r, [], at=NOW - timedelta(seconds=1), teams=VERIFIED).allowed


@pytest.mark.parametrize("decision_word", ["approve", "reject"])
def test_already_decided_is_refused(decision_word: str) -> None:
    decision = can_decide(CONFIG, SRE, request(), [approval("sre", decision_word)], at=NOW, teams=VERIFIED)
    assert not decision.allowed and "already decided" in decision.reason


@pytest.mark.parametrize("state", [s for s in RequestState if s is not RequestState.PENDING_APPROVAL])
def test_wrong_state_is_refused(state: RequestState) -> None:
    decision = can_decide(CONFIG, LEAD, request(state=state), [], at=NOW, teams=VERIFIED)
    assert not decision.allowed and "not waiting for approval" in decision.reason


def test_gated_environments_need_a_verified_identity() -> None:
    """environments.<env>.require_verified_identity (default true where approvals are required)."""
    decision = can_deploy(CONFIG, DEV, "production")
    assert not decision.allowed and "environments.production.require_verified_identity" in decision.reason
    assert can_deploy(CONFIG, DEV, "staging").allowed  # no approvals: no requirement
    decision = can_decide(CONFIG, LEAD, request(), [], at=NOW)
    assert not decision.allowed and "require_verified_identity" in decision.reason


def test_four_eyes_compares_every_frozen_identity() -> None:
    """A request made from Slack by an account later linked elsewhere: the Teams identity of the same person
    (same GitHub account in the frozen set) is refused, whatever person key it resolves to now."""
    from dataclasses import replace
    r = replace(request(requester="github:4242"), requester_identities=("github:4242", "slack:U0X"))
    teams_me = Actor(Platform.TEAMS, "aad-x", "lead", identities=frozenset({"teams:aad-x", "github:4242"}))
    decision = can_decide(CONFIG, teams_me, r, [], at=NOW, teams=VERIFIED)
    assert not decision.allowed and "four eyes" in decision.reason
    other = Actor(Platform.TEAMS, "aad-y", "lead", identities=frozenset({"teams:aad-y", "github:777"}))
    assert can_decide(CONFIG, other, r, [], at=NOW, teams=VERIFIED).allowed
    earlier = Approval(r.id, "sre", Platform.SLACK, "U0SRE", "approve", "", NOW, identities=("github:777",))
    decision = can_decide(CONFIG, other, r, [earlier], at=NOW, teams=VERIFIED)
    assert not decision.allowed and "already decided" in decision.reason


def test_cancel_is_for_the_requester_an_approver_or_an_admin() -> None:
    """Issue 23 item 5: `/deploy cancel`. The requester is recognised by any identity frozen on the request."""
    from dataclasses import replace
    r = replace(request(state=RequestState.APPROVED), requester_identities=("github:4242", "slack:U0DEV"))
    assert can_cancel(CONFIG, DEV, r).allowed  # the requester
    teams_me = Actor(Platform.TEAMS, "aad-x", "github:4242", identities=frozenset({"teams:aad-x", "github:4242"}))
    assert can_cancel(CONFIG, teams_me, r).allowed  # the same person from another platform
    assert can_cancel(CONFIG, LEAD, r, teams=VERIFIED).allowed  # an approver (verified, as production wants)
    assert not can_cancel(CONFIG, LEAD, r).allowed  # ... unverified approvers count nowhere in production
    assert can_cancel(CONFIG, SRE, r).allowed  # an admin
    other = parse_config({**_example(), "people": {**_example()["people"], "ops": {"slack": "U0OPS"}}}, env=ENV)
    decision = can_cancel(other, slack_in(other, "U0OPS"), r)
    assert not decision.allowed and "requester, an approver or an admin" in decision.reason
    assert not can_cancel(CONFIG, GUEST, r).allowed


def _example() -> dict[str, object]:
    data = yaml.safe_load(EXAMPLE.read_text())
    assert isinstance(data, dict)
    return data


def slack_in(config: Config, user: str) -> Actor:
    person = config.person_by("slack", user)
    return Actor(Platform.SLACK, user, person.key if person else None, "C0DEPLOYS")
