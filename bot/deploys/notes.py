"""Deploy notes (issue 25 item 4): a successful deploy to an environment with ``deploy_notes`` (production by
default) posts the commits it shipped since the previous deploy there, with authors and PR links, from GitHub's
compare API; in the request card's Slack thread, and as a notice to its Teams destinations. Where ``grafana`` is
configured, an annotation marks the deploy on Grafana's dashboards.

Both are durable GitHub jobs (``ghjob`` inbox items, bot.runtime.worker), queued in the transaction that records
the success (bot.deploys.github_events), so the API calls never run inside the webhook's transaction and survive
restarts."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from bot.actions.changes import shipped
from bot.actions.github import GitHubClient
from bot.config import Config
from bot.deploys import cards
from bot.deploys.grafana import annotate
from bot.deploys.messages import request_targets
from bot.deploys.settings import deploy_settings
from bot.domain import Card, DeployRequest, Link, Op, OutboundMessage, Platform, RequestKind
from bot.errors import GitHubError
from bot.previews import Changes
from bot.store.store import Store, Unit

log = logging.getLogger(__name__)
WEB = "https://github.com"


async def queue_notes(u: Unit, config: Config, r: DeployRequest, *, base: str, head: str) -> None:
    """Called where the success is recorded: queue the notes (and the Grafana annotation) once per request."""
    env = config.environments.get(r.environment)
    if env is None or not env.deploy_notes or r.kind is not RequestKind.DEPLOY or not head:
        return
    body = {"op": "notes", "request_id": r.id, "repository": config.repo_of(r.service), "base": base, "head": head}
    await u.inbox_add(source="ghjob", key=f"notes:{r.id}", kind="notes", body=json.dumps(body))
    if config.raw.get("grafana") is not None:
        await u.inbox_add(source="ghjob", key=f"annotate:{r.id}", kind="annotate",
                          body=json.dumps({**body, "op": "annotate"}))


def notes_card(r: DeployRequest, changes: Changes | None, *, repository: str, base: str) -> Card:
    """Plain text fields (commit titles and authors are untrusted): escaped by each surface where rendered."""
    title = f"Shipped to {r.environment}: {r.service} {r.ref} ({r.sha[:7]})"
    links = [Link(f"#{c.pr}", f"{WEB}/{repository}/pull/{c.pr}") for c in (changes.commits if changes else ())
             if c.pr][:8]
    if base and base != r.sha:
        links.append(Link("All changes", f"{WEB}/{repository}/compare/{base}...{r.sha}"))
    if changes is None:
        text = "GitHub could not list the commits; the compare link has them."
    elif not changes.commits:
        text = f"No new commits since the previous {r.environment} deploy."
    else:
        since = f"since {base[:7]}" if base else "(the first deploy the bot knows of here)"
        lines = [f"{changes.total or len(changes.commits)} commit(s) {since}:"]
        lines += [f"• {c.title} ({c.sha[:7]}) by {c.author or 'unknown'}" + (f", PR #{c.pr}" if c.pr else "")
                  for c in changes.commits]
        if changes.total > len(changes.commits):
            lines.append(f"+{changes.total - len(changes.commits)} more")
        text = "\n".join(lines)
    return Card(kind="deployment", title=title, status="deploy notes", tone="good", text=text,
                links=tuple(links), footer=f"{r.id} · {repository}")


async def post_notes(*, store: Store, config: Config, github: GitHubClient, body: Mapping[str, Any]) -> None:
    """The ``notes`` job. Raises GitHubError (transient) to be retried; a lasting refusal posts without the list."""
    async with store.unit() as u:
        r = await u.get_request(str(body["request_id"]))
    if r is None:
        return
    base, head = str(body.get("base") or ""), str(body["head"])
    try:
        changes: Changes | None = await shipped(github, base=base, head=head)
    except GitHubError as exc:
        if exc.transient:
            raise
        log.warning("listing what %s shipped failed: %s", r.id, exc)
        changes = None
    card = notes_card(r, changes, repository=str(body["repository"]), base=base)
    key = cards.card_key(r.id)
    async with store.unit() as u:
        for dest in request_targets(config, r):
            thread = dest.platform is Platform.SLACK  # Slack: a reply in the card's thread; Teams: a notice
            await u.enqueue(OutboundMessage(f"notes:{r.id}|{dest.platform}:{dest.address}", dest, Op.POST, card,
                                            card_key=key if thread else ""))


async def post_annotation(*, store: Store, config: Config, env: Mapping[str, str], body: Mapping[str, Any]) -> None:
    """The ``annotate`` job: one Grafana annotation for the deploy (DeliveryError when a retry may help)."""
    grafana = deploy_settings(config, env).grafana
    async with store.unit() as u:
        r = await u.get_request(str(body["request_id"]))
    if grafana is None or r is None:
        return
    at = r.updated_at or r.created_at
    text = (f"Deployed {r.service} {r.ref} ({r.sha[:7]}) to {r.environment} by {r.requester or '?'}"
            + (f" · {r.run_url}" if r.run_url else ""))
    found = await annotate(grafana, text=text, tags=["deploy", r.service, r.environment],
                           at_ms=int(at.timestamp() * 1000))
    log.info("grafana annotation for %s: %s", r.id, "refused" if found is None else found)
