"""GitHub App and organization events: parse what the bot acts on into an ``OrgChange``; the rest is answered 2xx.

Payload fields as documented in https://docs.github.com/en/webhooks/webhook-events-and-payloads (``installation``:
``installation.id`` with action ``deleted`` / ``suspend``; ``membership``: ``member.login``, ``organization.login``;
``organization``: ``membership.user.login`` with ``member_removed``; ``team``: ``organization.login``;
``github_app_authorization``: action ``revoked``, the account in ``sender.id``) and the octokit payload examples in
tests/fixtures/published/github/events.
"""

from __future__ import annotations

from typing import Any

from bot.domain import OrgChange
from handlers.github_parse import MAX_ID, BadPayload

# sent to a GitHub App or an organization webhook whether or not a repository is involved
ORG_EVENTS = frozenset({"installation", "installation_repositories", "installation_target", "github_app_authorization",
                        "membership", "organization", "team", "member"})
# every webhook event GitHub documents (https://docs.github.com/en/webhooks/webhook-events-and-payloads): the
# label of the ignored-events counter; any other header value is counted as "other" (the header is not signed)
KNOWN_EVENTS = frozenset({
    "branch_protection_configuration", "branch_protection_rule", "check_run", "check_suite", "code_scanning_alert",
    "commit_comment", "create", "custom_property", "custom_property_values", "delete", "dependabot_alert",
    "deploy_key", "deployment", "deployment_protection_rule", "deployment_review", "deployment_status",
    "discussion", "discussion_comment", "fork", "github_app_authorization", "gollum", "installation",
    "installation_repositories", "installation_target", "issue_comment", "issues", "label", "marketplace_purchase",
    "member", "membership", "merge_group", "meta", "milestone", "org_block", "organization", "package",
    "page_build", "personal_access_token_request", "ping", "project", "project_card", "project_column",
    "projects_v2", "projects_v2_item", "projects_v2_status_update", "public", "pull_request",
    "pull_request_review", "pull_request_review_comment", "pull_request_review_thread", "push", "registry_package",
    "release", "repository", "repository_advisory", "repository_dispatch", "repository_import",
    "repository_ruleset", "repository_vulnerability_alert", "secret_scanning_alert",
    "secret_scanning_alert_location", "secret_scanning_scan", "security_advisory", "security_and_analysis",
    "sponsorship", "star", "status", "sub_issues", "team", "team_add", "watch", "workflow_dispatch", "workflow_job",
    "workflow_run",
})


def event_label(event: str) -> str:
    return event if event in KNOWN_EVENTS else "other"


def _login(obj: Any) -> str:
    value = obj.get("login") if isinstance(obj, dict) else None
    return value if isinstance(value, str) and len(value) <= 100 else ""


def parse_org_event(event: str, payload: dict[str, Any]) -> OrgChange | None:
    """The change an organization or App event makes to what the bot caches; None when it makes none."""
    action = payload.get("action")
    org = _login(payload.get("organization"))
    if event == "installation":
        if action not in ("deleted", "suspend"):
            return None
        inst = payload.get("installation")
        inst_id = inst.get("id") if isinstance(inst, dict) else None
        if not isinstance(inst_id, int) or isinstance(inst_id, bool) or not 0 < inst_id <= MAX_ID:
            raise BadPayload("installation.id is missing or not a number")
        return OrgChange("installation", installation_id=inst_id)
    if event == "github_app_authorization":  # "someone revokes their authorization of a GitHub App"
        if action != "revoked":
            return None
        sender = payload.get("sender")
        uid = sender.get("id") if isinstance(sender, dict) else None
        if not isinstance(uid, int) or isinstance(uid, bool) or not 0 < uid <= MAX_ID:
            raise BadPayload("sender.id is missing or not a number")
        return OrgChange("authorization_revoked", github_id=uid)
    if event == "membership":  # added or removed, to a team or (via a parent team) its children
        return OrgChange("team_members", org=org, login=_login(payload.get("member")))
    if event == "organization" and action in ("member_removed", "member_added"):
        membership = payload.get("membership")
        return OrgChange("team_members", org=org,
                         login=_login(membership.get("user") if isinstance(membership, dict) else None))
    if event == "team":  # created, deleted, edited (a new parent changes who is in it), repository changes
        return OrgChange("team_members", org=org)
    return None
