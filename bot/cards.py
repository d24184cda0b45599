"""Domain state -> platform-neutral Cards (rendered per platform by bot.egress)."""

from __future__ import annotations

from datetime import datetime

from bot.domain import Approval, Button, Card, DeployRequest, Fact, Link, RequestKind, RequestState

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
}


def card_key(request_id: str) -> str:
    return f"req:{request_id}"


def _duration(start: datetime, end: datetime | None) -> str:
    if end is None:
        return ""
    secs = max(0, int((end - start).total_seconds()))
    return f"{secs // 60}m {secs % 60:02d}s" if secs >= 60 else f"{secs}s"


def request_card(
    r: DeployRequest,
    approvals: list[Approval],
    *,
    repository: str,
    web_url: str = "https://github.com",
    jobs: tuple[tuple[str, str], ...] = (),
    previous_sha: str = "",
) -> Card:
    status, tone = _STATUS[r.state]
    verb = "Rollback" if r.kind is RequestKind.ROLLBACK else "Deploy"
    what = r.target_version or "previous version" if r.kind is RequestKind.ROLLBACK else r.ref
    title = f"{verb} {r.service} {what} → {r.environment}"
    facts = [Fact("Request", r.id), Fact("Requested by", f"{r.requester}")]
    if r.kind is RequestKind.DEPLOY:
        sha = f"<{web_url}/{repository}/commit/{r.sha}|{r.sha[:7]}>" if r.sha else "resolving…"
        facts.append(Fact("Ref", f"{r.ref} @ {sha}"))
    if r.approvals_required:
        ok = [a for a in approvals if a.decision == "approve"]
        no = [a for a in approvals if a.decision == "reject"]
        text = f"{len(ok)}/{r.approvals_required}"
        if ok:
            text += " · approved by " + ", ".join(a.person for a in ok)
        if no:
            text += " · rejected by " + ", ".join(a.person for a in no)
        facts.append(Fact("Approvals", text))
        if r.state is RequestState.PENDING_APPROVAL and r.expires_at:
            facts.append(Fact("Expires", f"{r.expires_at:%Y-%m-%d %H:%M} UTC"))
    if r.state.final and r.updated_at:
        facts.append(Fact("Duration", _duration(r.created_at, r.updated_at)))
    if jobs:
        facts.append(Fact("Jobs", "\n".join(f"{name}: {state}" for name, state in jobs[:8])))
    buttons: tuple[Button, ...] = ()
    if r.state is RequestState.PENDING_APPROVAL:
        buttons = (Button("approve", "Approve", r.id, "primary"), Button("reject", "Reject", r.id, "danger"))
    elif r.state is RequestState.FAILED and r.kind is RequestKind.DEPLOY:
        buttons = (Button("rerun", "Re-run", r.id), Button("rollback", "Roll back", r.id, "danger"))
    links = []
    if r.run_url:
        links.append(Link("Workflow run", r.run_url))
    if previous_sha and r.sha and previous_sha != r.sha:
        links.append(Link("Changes since last deploy", f"{web_url}/{repository}/compare/{previous_sha}...{r.sha}"))
    return Card(
        kind="rollback" if r.kind is RequestKind.ROLLBACK else "deployment",
        title=title,
        status=status,
        tone=tone,
        text=r.detail,
        facts=tuple(facts),
        buttons=buttons,
        links=tuple(links),
        footer=f"{r.workflow} · {repository}",
    )


def notice(text: str, *, tone: str = "neutral") -> Card:
    """A one-off message (ephemeral reply, thread note)."""
    return Card(kind="info", title=text, tone=tone)
