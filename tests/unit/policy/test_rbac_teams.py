"""Issue 22 item 15: ``github-team:`` entries in every rule of bot/identity/rbac.py, not only approvers.

Deployers, service owners, admins (``--force``, ``--emergency``, locks, cancel), viewers: each let in through a
confirmed team membership and refused without one, and each refusal says why. The ``TeamView`` is what
``Pipeline.who`` builds from GitHub's answer (bot/identity/teams.py); the rules themselves are pure, so the view is
built here the same way: a verified login, the confirmed entries, and the ones GitHub could not confirm.
Each test kills mutants that ``make mutation`` found surviving (docs/testing.md).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.config import Config, parse_config
from bot.domain import Actor, Approval, DeployRequest, Platform, RequestKind, RequestState
from bot.identity.rbac import (
    approvers_of,
    can_cancel,
    can_decide,
    can_deploy,
    can_lock,
    can_view,
    is_admin,
    listed,
    same_person,
    viewer_entries,
)
from bot.identity.teams import NO_TEAMS, TeamView

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
OPS, SRE, DEVS, LEADS, VIEW = ("github-team:acme/ops", "github-team:acme/sre", "github-team:acme/devs",
                               "github-team:acme/leads", "github-team:acme/viewers")


def config(**overrides: Any) -> Config:
    data: dict[str, Any] = {
        "github": {"repository": "acme/platform"},
        "slack": {"team_id": "T0SANDBOX", "channels": {"deploys": "C0D", "approvals": "C0A"}},
        "people": {"ann": {"slack": "U0ANN", "github": "ann-gh"}, "bob": {"slack": "U0BOB", "github": "bob-gh"},
                   "eve": {"slack": "U0EVE"}},
        "admins": ["eve", SRE],
        "access": {"viewers": [VIEW]},
        "environments": {
            "staging": {"deployers": [DEVS, "bob"], "require_verified_identity": False},
            "production": {"deployers": [OPS], "approvers": [LEADS], "approvals": 1},
        },
        "services": {
            "api": {"workflow": "api.yml", "environments": ["staging", "production"], "owners": [OPS, DEVS]},
            "web": {"workflow": "web.yml", "environments": ["staging", "production"], "approvers": ["bob"]},
        },
        "routes": [],
    }
    data.update(overrides)
    for svc in data["services"].values():  # an override may leave out an environment
        svc["environments"] = [e for e in svc["environments"] if e in data["environments"]]
    return parse_config(data, env={})


CONFIG = config()


def person(key: str | None, user: str = "U0X") -> Actor:
    return Actor(Platform.SLACK, user, key, "C0D")


ANN, BOB, EVE = person("ann", "U0ANN"), person("bob", "U0BOB"), person("eve", "U0EVE")
LINKED = Actor(Platform.SLACK, "U0NEW", "github:4242", "C0D")  # known only through a verified GitHub link


def member(*teams: str, login: str = "ann-gh") -> TeamView:
    return TeamView(login, frozenset(teams))


def request(**changes: Any) -> DeployRequest:
    r = DeployRequest(
        id="r-abcd2345", kind=RequestKind.DEPLOY, service="api", environment="production", ref="v1",
        requester="bob", requester_platform=Platform.SLACK, requester_id="U0BOB", channel="C0D",
        state=RequestState.PENDING_APPROVAL, created_at=NOW, workflow="api.yml", approvals_required=1,
        expires_at=NOW + timedelta(hours=1),
    )
    return replace(r, **changes)


# ------------------------------------------------------------------------------------------ deployers and owners


def test_a_team_deployer_may_deploy_and_a_non_member_may_not() -> None:
    assert can_deploy(CONFIG, ANN, "production", service="api", teams=member(OPS)).allowed
    refused = can_deploy(CONFIG, ANN, "production", service="api", teams=member(DEVS))
    assert not refused.allowed
    assert refused.reason == "you are not a deployer for production (rule: environments.production.deployers)"


def test_a_person_known_only_by_a_link_counts_through_a_team() -> None:
    assert can_deploy(CONFIG, LINKED, "production", service="api", teams=member(OPS, login="new-gh")).allowed
    refused = can_deploy(CONFIG, LINKED, "production", service="api", teams=member(login="new-gh"))
    assert not refused.allowed and "not a deployer" in refused.reason
    # a person key that looks like neither is nobody
    stranger = can_deploy(CONFIG, person("mallory"), "staging", teams=member(DEVS))
    assert not stranger.allowed and "people list" in stranger.reason


def test_team_refusals_say_why_the_team_did_not_count() -> None:
    unlinked = can_deploy(CONFIG, ANN, "production", service="api", teams=NO_TEAMS)
    assert unlinked.reason == ("you are not a deployer for production (rule: environments.production.deployers; "
                               "github-team rules count only a verified GitHub login: link yours with "
                               "`/deploy link`)")
    unknown = TeamView("ann-gh", frozenset(), {OPS: "GitHub could not confirm acme/ops membership"})
    assert can_deploy(CONFIG, ANN, "production", service="api", teams=unknown).reason == (
        "you are not a deployer for production (rule: environments.production.deployers; GitHub could not "
        "confirm acme/ops membership)")
    # a rule with no team entry has nothing to explain
    no_team = config(environments={"staging": {"deployers": ["bob"]}})
    assert can_deploy(no_team, ANN, "staging").reason == (
        "you are not a deployer for staging (rule: environments.staging.deployers)")


def test_owners_may_be_a_team_too() -> None:
    # staging: ann deploys through the devs team; api's owners are ops and devs
    assert can_deploy(CONFIG, ANN, "staging", service="api", teams=member(DEVS)).allowed
    # bob is a staging deployer by name but in neither owner team
    refused = can_deploy(CONFIG, BOB, "staging", service="api", teams=member(login="bob-gh"))
    assert not refused.allowed
    assert refused.reason == "you are not an owner of api (rule: services.api.owners)"
    unlinked = can_deploy(CONFIG, BOB, "staging", service="api")
    assert unlinked.reason.startswith("you are not an owner of api (rule: services.api.owners; github-team rules")
    # web names no owners: any deployer; an unknown service name adds no rule
    assert can_deploy(CONFIG, BOB, "staging", service="web").allowed
    assert can_deploy(CONFIG, BOB, "staging", service="").allowed


def test_production_wants_a_verified_login_even_for_a_named_deployer() -> None:
    named = config(environments={"production": {"deployers": ["ann"], "approvers": [LEADS], "approvals": 1}},
                   services={"web": {"workflow": "w.yml", "environments": ["production"]}})
    refused = can_deploy(named, ANN, "production", service="web")
    assert refused.reason.startswith("requesters in production need a verified GitHub identity")
    assert "environments.production.require_verified_identity" in refused.reason
    assert can_deploy(named, ANN, "production", service="web", teams=member()).allowed


# ------------------------------------------------------------------------------------------ admins


def test_admins_through_a_team_may_force_and_declare_emergencies() -> None:
    teams = member(OPS, SRE)
    assert is_admin(CONFIG, ANN, teams) and not is_admin(CONFIG, ANN, member(OPS)) and is_admin(CONFIG, EVE)
    for flag in ({"force": True}, {"emergency": True}):
        assert can_deploy(CONFIG, ANN, "production", service="api", teams=teams, **flag).allowed
        refused = can_deploy(CONFIG, ANN, "production", service="api", teams=member(OPS), **flag)
        assert not refused.allowed
    assert can_deploy(CONFIG, ANN, "production", service="api", teams=member(OPS), force=True).reason == (
        "only admins may use --force (rule: admins)")
    assert can_deploy(CONFIG, ANN, "production", service="api", teams=member(OPS), emergency=True).reason == (
        "only admins may deploy with --emergency (rule: admins)")


def test_locks_are_for_team_deployers_and_team_admins() -> None:
    assert can_lock(CONFIG, ANN, "production", teams=member(OPS)).allowed  # a deployer through ops
    assert can_lock(CONFIG, ANN, "production", teams=member(SRE)).allowed  # an admin through sre
    refused = can_lock(CONFIG, ANN, "production", teams=member(DEVS))
    assert not refused.allowed and refused.reason == (
        "only production deployers and admins may lock or unlock it (rule: environments.production.deployers, "
        "admins)")
    assert can_lock(CONFIG, EVE, "production").allowed  # an admin by name
    assert can_lock(CONFIG, ANN, "qa", teams=member(SRE)).reason == "unknown environment qa"
    assert "people list" in can_lock(CONFIG, person(None), "production", teams=member(SRE)).reason


# ------------------------------------------------------------------------------------------ viewers


def test_viewers_are_people_access_viewers_and_members_of_any_named_team() -> None:
    assert viewer_entries(CONFIG) == (VIEW, SRE, DEVS, OPS, LEADS)
    assert can_view(CONFIG, ANN).allowed  # in people
    assert can_view(CONFIG, LINKED, member(VIEW, login="x")).allowed
    assert can_view(CONFIG, LINKED, member(LEADS, login="x")).allowed
    refused = can_view(CONFIG, LINKED, member("github-team:acme/unnamed", login="x"))
    assert not refused.allowed and "(rule: access.viewers)" in refused.reason
    assert not can_view(CONFIG, person(None)).allowed


def test_a_viewer_listed_by_name_in_access_viewers_counts() -> None:
    cfg = config(access={"viewers": ["ann"]})
    assert "ann" in viewer_entries(cfg) and "bob" not in viewer_entries(cfg)


# ------------------------------------------------------------------------------------------ approvers


def test_service_approvers_replace_the_environments() -> None:
    assert approvers_of(CONFIG, request(service="web")) == (("bob",), "services.web.approvers")
    assert approvers_of(CONFIG, request()) == ((LEADS,), "environments.production.approvers")
    assert approvers_of(CONFIG, request(environment="qa")) == ((), "environments.qa.approvers")


def test_a_team_approver_decides_and_a_team_that_could_not_be_confirmed_does_not() -> None:
    assert can_decide(CONFIG, ANN, request(), [], at=NOW, teams=member(LEADS)).allowed
    unknown = TeamView("ann-gh", frozenset(), {LEADS: "GitHub could not confirm acme/leads membership"})
    refused = can_decide(CONFIG, ANN, request(), [], at=NOW, teams=unknown)
    assert refused.reason == ("you are not an approver for production (rule: environments.production.approvers; "
                              "GitHub could not confirm acme/leads membership)")
    assert can_decide(CONFIG, ANN, request(expires_at=None), [], at=NOW + timedelta(days=30),
                      teams=member(LEADS)).allowed  # no expiry: never expired


def test_cancel_by_a_team_approver_or_a_team_admin() -> None:
    r = request()
    assert can_cancel(CONFIG, ANN, r, teams=member(LEADS)).allowed
    assert can_cancel(CONFIG, ANN, r, teams=member(SRE)).allowed
    assert can_cancel(CONFIG, BOB, r).allowed  # the requester
    refused = can_cancel(CONFIG, ANN, r, teams=member(OPS))
    assert refused.reason == ("only the requester, an approver or an admin may cancel r-abcd2345 (rule: "
                              "environments.production.approvers, admins)")
    unlinked = can_cancel(CONFIG, ANN, r)
    assert unlinked.reason.endswith("admins; github-team rules count only a verified GitHub login: link yours with "
                                    "`/deploy link`)")
    # production needs a verified identity of approvers, also to cancel
    verified_cfg = config(environments={"production": {"deployers": [OPS], "approvers": ["ann"], "approvals": 1}})
    assert not can_cancel(verified_cfg, ANN, r).allowed
    assert can_cancel(verified_cfg, ANN, r, teams=member()).allowed
    # a request for an environment that is gone: an approver of its service may still cancel it
    assert can_cancel(CONFIG, BOB, request(service="web", environment="qa", requester="eve",
                                           requester_id="U0EVE")).allowed
    assert "people list" in can_cancel(CONFIG, person("mallory"), r).reason


def test_same_person_compares_keys_platform_ids_and_frozen_identities() -> None:
    ann = Actor(Platform.SLACK, "U0ANN", "ann", identities=frozenset({"github:11"}))
    assert same_person(ann, (), "ann", ("teams", "x"))
    assert same_person(ann, (), "bob", ("slack", "U0ANN"))
    assert not same_person(ann, (), "bob", ("teams", "U0ANN"))
    assert same_person(ann, ("github:11",), "bob", ("teams", "x"))
    assert same_person(ann, ("slack:U0ANN",), "bob", ("teams", "x"))  # its own platform identity counts
    assert not same_person(ann, ("github:12", "slack:U0BOB"), "bob", ("teams", "x"))
    nobody = Actor(Platform.SLACK, "U0ZZ", None)
    assert not same_person(nobody, (), "", ("teams", "x"))  # no person key is not the empty requester


def test_listed_needs_the_name_or_a_confirmed_team_entry() -> None:
    assert listed(("ann",), ANN) and not listed(("bob",), ANN)
    assert listed((OPS,), ANN, member(OPS)) and not listed((OPS,), ANN, member(DEVS))
    # a confirmed membership of a team that the rule does not name lets nobody in
    assert not listed(("bob",), ANN, member(OPS))
    # a person key spelled like a team entry is not a team membership
    assert not listed(("github-team:acme/ops",), person("github-team:acme/x"), member())


def test_an_earlier_decision_by_the_same_person_through_a_team_is_refused() -> None:
    earlier = Approval("r-abcd2345", "ann", Platform.TEAMS, "aad-ann", "approve", "", NOW,
                       identities=("github:11",))
    again = Actor(Platform.SLACK, "U0ANN", "ann", identities=frozenset({"github:11"}))
    refused = can_decide(CONFIG, again, request(), [earlier], at=NOW, teams=member(LEADS))
    assert refused.reason == "you already decided on r-abcd2345 (as one of your chat or GitHub identities)"


@pytest.mark.parametrize("state", [RequestState.APPROVED, RequestState.DISPATCH_FAILED])
def test_decisions_name_the_state_in_words(state: RequestState) -> None:
    refused = can_decide(CONFIG, ANN, request(state=state), [], at=NOW, teams=member(LEADS))
    assert refused.reason == f"r-abcd2345 is {state.value.replace('_', ' ')}, not waiting for approval"
    expired = can_decide(CONFIG, ANN, request(), [], at=NOW + timedelta(hours=1), teams=member(LEADS))
    assert expired.reason == "r-abcd2345 expired at 2026-11-28 10:00 UTC"


# ------------------------------------------------------------------------------------------ exact reasons


def test_every_refusal_reads_as_documented() -> None:
    """Users read these; the audit log keeps them. Exact text, so a changed word is noticed."""
    assert can_deploy(CONFIG, person(None), "staging").reason == (
        "you are not in this bot's people list and have no linked GitHub account; ask an admin to add you or use "
        "`/deploy link`")
    assert can_deploy(CONFIG, ANN, "qa", teams=member(OPS)).reason == "unknown environment qa"
    assert can_decide(CONFIG, ANN, request(environment="qa"), [], at=NOW, teams=member(LEADS)).reason == (
        "unknown environment qa")
    assert can_view(CONFIG, LINKED, member(login="x")).reason == (
        "you are not in this bot's people list or access.viewers, and no team named in the config counts you as a "
        "member; ask an admin (rule: access.viewers)")
    assert can_decide(CONFIG, BOB, request(), [], at=NOW, teams=member(LEADS, login="bob-gh")).reason == (
        "you requested this deploy (as one of your chat or GitHub identities); someone else must approve it "
        "(four eyes)")
    unverified = config(environments={"production": {"deployers": [OPS], "approvers": ["ann"], "approvals": 1}})
    assert can_decide(unverified, ANN, request(), [], at=NOW).reason == (
        "approvers in production need a verified GitHub identity: link yours with `/deploy link` (rule: "
        "environments.production.require_verified_identity)")
    assert can_cancel(unverified, ANN, request()).reason == can_decide(unverified, ANN, request(), [], at=NOW).reason
    assert can_deploy(CONFIG, ANN, "production", service="api", teams=NO_TEAMS).allowed is False


def test_two_unconfirmed_teams_name_the_first() -> None:
    cfg = config(environments={"production": {"deployers": [OPS, DEVS], "approvers": [LEADS], "approvals": 1}})
    unknown = TeamView("ann-gh", frozenset(), {DEVS: "devs: GitHub timed out", OPS: "ops: GitHub timed out"})
    assert can_deploy(cfg, ANN, "production", teams=unknown).reason.endswith("; ops: GitHub timed out)")


def test_the_requester_is_recognised_by_the_platform_account_alone() -> None:
    """A requester whose person key changed since (relinked) and who froze no identities: the same Slack account is
    still the requester, for four eyes and for cancelling."""
    same_account = Actor(Platform.SLACK, "U0BOB", "ann")
    r = request()
    assert can_decide(CONFIG, same_account, r, [], at=NOW, teams=member(LEADS)).reason.startswith(
        "you requested this deploy")
    assert can_cancel(CONFIG, same_account, r).allowed
    other_platform = Actor(Platform.TEAMS, "U0BOB", "ann")  # the same id string on another platform is not them
    assert can_decide(CONFIG, other_platform, r, [], at=NOW, teams=member(LEADS)).allowed
    assert not can_cancel(CONFIG, other_platform, r, teams=member(OPS)).allowed
    # an earlier decider recognised the same way
    earlier = Approval("r-abcd2345", "eve", Platform.SLACK, "U0ANN", "approve", "", NOW)
    assert can_decide(CONFIG, ANN, r, [earlier], at=NOW, teams=member(LEADS)).reason.startswith(
        "you already decided")
    elsewhere = Approval("r-abcd2345", "eve", Platform.TEAMS, "U0ANN", "approve", "", NOW)
    assert can_decide(CONFIG, ANN, r, [elsewhere], at=NOW, teams=member(LEADS)).allowed
    by_key = Approval("r-abcd2345", "ann", Platform.TEAMS, "aad-ann", "approve", "", NOW)
    assert not can_decide(CONFIG, ANN, r, [by_key], at=NOW, teams=member(LEADS)).allowed


def test_no_service_means_no_owner_rule_whatever_the_services_are_called() -> None:
    cfg = config(services={"XXXX": {"workflow": "x.yml", "environments": ["staging"], "owners": ["eve"]}})
    assert can_deploy(cfg, BOB, "staging").allowed  # no service named: only the environment's deployers count
    assert not can_deploy(cfg, BOB, "staging", service="XXXX").allowed


def test_the_requester_may_cancel_from_another_account_by_person_key() -> None:
    bob_on_teams = Actor(Platform.TEAMS, "aad-bob", "bob")  # no frozen identities, another platform account
    assert can_cancel(CONFIG, bob_on_teams, request()).allowed
