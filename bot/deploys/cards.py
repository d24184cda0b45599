"""Domain state -> platform-neutral Cards (rendered per platform by bot.egress).

Card fields hold plain text (branch names, titles, actors come from outside and are untrusted): never put
chat markup in them. Each surface escapes every field where it renders it (``bot.egress.slack.escape_mrkdwn``,
``bot.egress.teams.escape_markdown``); links go in ``Card.links`` and mentions in ``Card.mention``."""

from __future__ import annotations

from datetime import datetime

from bot.domain import Approval, Button, Card, DeployRequest, Fact, Link, RequestKind, RequestState
from bot.previews import Changes, preview_facts, preview_links, warning

_STATUS = {
    RequestState.RECEIVED: ("requested", "neutral"),
    RequestState.PENDING_APPROVAL: ("waiting for approval", "warning"),
    RequestState.APPROVED: ("approved, starting", "neutral"),
    RequestState.DISPATCHING: ("starting", "neutral"),
    RequestState.DISPATCHED: ("queued", "neutral"),
    RequestState.RUNNING: ("in progress", "neutral"),
    RequestState.SUCCEEDED: ("succeeded", "good"),
    RequestState.FAILED: ("failed", "danger"),
    RequestState.CANCELLED: ("cancelled", "warning"),
    RequestState.REJECTED: ("rejected", "danger"),
    RequestState.EXPIRED: ("expired", "warning"),
    RequestState.DISPATCH_FAILED: ("could not start", "danger"),
    RequestState.LOST: ("lost", "danger"),
}


def card_key(request_id: str) -> str:
    return f"req:{request_id}"


def _duration(start: datetime, end: datetime | None) -> str:
    if end is None:
        return ""
    secs = max(0, int((end - start).total_seconds()))
    return f"{secs // 60}m {secs % 60:02d}s" if secs >= 60 else f"{secs}s"


def _approval_facts(r: DeployRequest, approvals: list[Approval]) -> list[Fact]:
    """Approvals so far (and when the request expires) of a request that needs them."""
    if not r.approvals_required:
        return []
    ok = [a for a in approvals if a.decision == "approve"]
    no = [a for a in approvals if a.decision == "reject"]
    text = f"{len(ok)}/{r.approvals_required}"
    if ok:
        text += " · approved by " + ", ".join(a.person for a in ok)
    if no:
        text += " · rejected by " + ", ".join(a.person for a in no)
    facts = [Fact("Approvals", text)]
    if r.state is RequestState.PENDING_APPROVAL and r.expires_at:
        facts.append(Fact("Expires", f"{r.expires_at:%Y-%m-%d %H:%M} UTC"))
    return facts


def _buttons(r: DeployRequest, promote_to: str) -> tuple[Button, ...]:
    """What can be done from the card in the request's state."""
    if r.state is RequestState.PENDING_APPROVAL:
        return (Button("approve", "Approve", r.id, "primary"), Button("reject", "Reject", r.id, "danger"))
    if r.state is RequestState.FAILED and r.kind is RequestKind.DEPLOY:
        return (Button("rerun", "Re-run failed jobs", r.id), Button("rollback", "Roll back", r.id, "danger"))
    if r.state is RequestState.SUCCEEDED and r.kind is RequestKind.DEPLOY and r.sha and promote_to:
        return (Button("promote", f"Promote to {promote_to}", r.id, "primary"),)
    return ()


def request_card(
    r: DeployRequest,
    approvals: list[Approval],
    *,
    repository: str,
    web_url: str = "https://github.com",
    previous_sha: str = "",
    changes: Changes | None = None,
    preview: bool = False,
    promote_to: str = "",
) -> Card:
    """``preview``: show what the deploy changes (``changes`` None: still being looked up). ``promote_to``: the
    environment that promotes from this one (a successful deploy's card offers **Promote to …**)."""
    status, tone = _STATUS[r.state]
    if r.state is RequestState.APPROVED and r.queued_behind:
        status = f"queued behind {r.queued_behind}"
    elif r.cancel_requested_by and not r.state.final:
        status = "cancelling"
    verb = "Rollback" if r.kind is RequestKind.ROLLBACK else "Deploy"
    what = r.target_version or "previous version" if r.kind is RequestKind.ROLLBACK else r.ref
    title = f"{verb} {r.service} {what}" + (f" → {r.environment}" if r.environment else "")
    facts = [Fact("Request", r.id), Fact("Requested by", f"{r.requester}")]
    if r.emergency:  # marked wherever the card lives: who went past the rules, and why
        title = f"EMERGENCY {title}"
        facts.append(Fact("Emergency", r.emergency))
    if r.auto_deploy:  # made by auto-deploy (bot.deploys.auto) on behalf of the pusher
        title = f"{title} (auto-deploy)"
        facts.append(Fact("Auto-deploy", f"green push to {r.auto_deploy}"))
    if r.promoted_from:
        facts.append(Fact("Promoted from", f"{r.promoted_from} ({r.sha[:7]})"))
    if r.kind is RequestKind.DEPLOY:
        facts.append(Fact("Ref", f"{r.ref} @ {r.sha[:7] if r.sha else 'resolving…'}"))
    facts.extend(_approval_facts(r, approvals))
    if r.state.final and r.updated_at:
        facts.append(Fact("Duration", _duration(r.created_at, r.updated_at)))
    if preview and r.state is not RequestState.RECEIVED:
        facts.extend(preview_facts(changes))
    if r.jobs:
        facts.append(Fact("Jobs", "\n".join(f"{j[0]}: {j[1]}" for j in r.jobs[:8])))
    buttons = _buttons(r, promote_to)
    links = []
    if r.run_url:
        links.append(Link("Workflow run", r.run_url))
    if r.kind is RequestKind.DEPLOY and r.sha:
        links.append(Link(f"Commit {r.sha[:7]}", f"{web_url}/{repository}/commit/{r.sha}"))
    if preview:
        links.extend(preview_links(changes, repository=repository, web_url=web_url))
    elif previous_sha and r.sha and previous_sha != r.sha:
        links.append(Link("Changes since last deploy", f"{web_url}/{repository}/compare/{previous_sha}...{r.sha}"))
    return Card(
        kind="rollback" if r.kind is RequestKind.ROLLBACK else "deployment",
        title=title,
        status=status,
        tone="danger" if r.emergency and tone == "neutral" else tone,
        text="\n".join(t for t in (warning(changes) if preview and changes else "", _queue_line(r), r.detail) if t),
        facts=tuple(facts),
        buttons=buttons,
        links=tuple(links),
        footer=f"{r.workflow} · {repository}",
    )


def _queue_line(r: DeployRequest) -> str:
    """Why an approved request has not started, or who asked to cancel its run (until the run says it ended)."""
    if r.state is RequestState.APPROVED and r.queued_behind:
        return (f"Queued behind {r.queued_behind}: it starts when that run of {r.service} in {r.environment} "
                "has finished.")
    if r.cancel_requested_by and not r.state.final:
        return f"Cancel requested by {r.cancel_requested_by}; waiting for GitHub to stop the run."
    return ""


def notice(text: str, *, tone: str = "neutral") -> Card:
    """A one-off message (ephemeral reply, thread note)."""
    return Card(kind="info", title=text, tone=tone)


def failure_card(r: DeployRequest, *, repository: str, web_url: str = "https://github.com") -> Card:
    """A high-priority alert for a failed deployment, naming the failed job and step, with actions."""
    failed = [j for j in r.jobs if len(j) >= 2 and j[1] in ("failure", "timed_out", "cancelled")]
    facts = [Fact("Service", r.service), Fact("Environment", r.environment or "?"),
             Fact("Ref", f"{r.ref} @ {r.sha[:7]}" if r.sha else r.ref), Fact("Requested by", r.requester)]
    if failed:
        facts.append(Fact("Failed", "\n".join(
            f"{j[0]}" + (f" → step “{j[2]}”" if len(j) > 2 and j[2] else "") for j in failed[:5])))
    links = [Link("Workflow run", r.run_url)] if r.run_url else []
    return Card(
        kind="failure",
        title=f"Deployment failed: {r.service} → {r.environment or '?'}",
        status="failed",
        tone="danger",
        text=r.detail,
        facts=tuple(facts),
        buttons=(Button("rerun", "Re-run failed jobs", r.id), Button("rollback", "Roll back", r.id, "danger")),
        links=tuple(links),
        footer=f"{r.id} · {r.workflow} · {repository}",
    )


def review_card(*, run_id: int, environment: str, reviewers: list[str], html_url: str, title: str,
                head_sha: str, requestor: str) -> Card:
    """A run waits for native GitHub environment reviewers."""
    return Card(
        kind="approval",
        title=f"Review needed: {title or f'run {run_id}'} → {environment}",
        status="waiting for reviewers",
        tone="warning",
        facts=(Fact("Reviewers", ", ".join(reviewers) or "(none listed)"), Fact("Commit", head_sha[:7]),
               Fact("Requested by", requestor or "?")),
        links=(Link("Review the deployment", html_url),) if html_url else (),
    )


def rollback_alert_card(*, service: str, environment: str, description: str, sha: str, creator: str,
                        log_url: str, state: str) -> Card:
    """An automatic rollback reported by the release engine through a deployment status."""
    return Card(
        kind="rollback",
        title=f"Automatic rollback: {service or 'deployment'} in {environment}",
        status="rolled back",
        tone="danger" if state in ("failure", "error") else "warning",
        text=description,
        facts=(Fact("Environment", environment), Fact("Commit", sha[:7]), Fact("Started by", creator or "?")),
        links=(Link("Logs", log_url),) if log_url.startswith("https://") else (),
    )
