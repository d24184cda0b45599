"""Composition root: builds the aiohttp application and wires everything. No logic lives here."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from bot.alerts.actions import handle_alert_action
from bot.alerts.pagerduty import PagerDutySender, PagerDutySettings, pagerduty_settings
from bot.alerts.settings import SecuritySettings, security_settings
from bot.alerts.sqs import SqsPoller
from bot.alerts.worker import SecurityWorker
from bot.config import Config
from bot.delivery.outbox import Outbox
from bot.delivery.pending import PendingCards
from bot.delivery.settings import delivery_settings
from bot.deploys.pipeline import Pipeline, utcnow
from bot.deploys.reconcile import Reconciler
from bot.deploys.redeliver import Redeliverer
from bot.deploys.repos import GitHubRepos
from bot.domain import Actor, Platform
from bot.egress import Sender
from bot.egress.slack import SlackSender
from bot.egress.teams import TeamsSender, TeamsSenders
from bot.environment import Secrets
from bot.errors import ConfigError, StoreUnavailable
from bot.identity.commands import IdentityCommands
from bot.identity.oauth import oauth_settings
from bot.identity.org_events import OrgEvents
from bot.identity.revoke import revoke_links
from bot.identity.teams import TeamDirectory, github_fetch
from bot.logs import protect_handlers, quiet_libraries
from bot.runtime.chat import ChatRunner
from bot.runtime.ratelimit import KeyedRateLimiter
from bot.runtime.reload import Reloader
from bot.runtime.shutdown import GRACE_S, LIFECYCLE, Lifecycle, release_leases, stop_tasks
from bot.runtime.socket_mode import SocketMode
from bot.runtime.worker import Worker
from bot.store.store import Store
from bot.store.teams import StoreConversationRefs
from handlers.aws import add_routes as add_aws_routes
from handlers.body import BODY_POLICY, GITHUB_MAX_BODY, BodyPolicy
from handlers.github import GitHubWebhookHandler
from handlers.github_oauth import CALLBACK_PATH, OAuthCallbackHandler
from handlers.health import HealthHandler
from handlers.slack import SlackHandler, build_bolt
from handlers.teams import DEFAULT_OPENID_METADATA_URL, BotTokenVerifier, add_teams_routes

if TYPE_CHECKING:  # the Agents SDK is imported only by a bot that serves Teams (0.4 s of every start otherwise)
    from microsoft_agents.hosting.aiohttp import CloudAdapter

log = logging.getLogger(__name__)

STORE: web.AppKey[Store] = web.AppKey("store", Store)
PIPELINE: web.AppKey[Pipeline] = web.AppKey("pipeline", Pipeline)
OUTBOX: web.AppKey[Outbox] = web.AppKey("outbox", Outbox)
WORKER: web.AppKey[Worker] = web.AppKey("worker", Worker)
RELOADER: web.AppKey[Reloader] = web.AppKey("reloader", Reloader)


STORE_RETRY_AFTER_S = 5


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except StoreUnavailable:  # never acknowledge what could not be stored: the sender retries (issue 24 item 5)
        log.warning("store unavailable on %s %s: refused with 503", request.method, request.path)
        return web.json_response({"error": "store unavailable; nothing was recorded, retry later"}, status=503,
                                 headers={"Retry-After": str(STORE_RETRY_AFTER_S)})
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response({"error": "internal error; nothing was changed"}, status=500)


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        return float(env.get(name, default))
    except ValueError:
        return default


def _teams_bot_adapter(env: Mapping[str, str]) -> CloudAdapter | None:
    """The Teams bot's SDK adapter (replies and proactive posts), when TEAMS_APP_ID is set."""
    if not env.get("TEAMS_APP_ID"):
        return None
    missing = [n for n in ("TEAMS_APP_PASSWORD", "TEAMS_APP_TENANT_ID") if not env.get(n)]
    if missing:
        raise ConfigError([f"env {n}: is not set (needed because TEAMS_APP_ID is set)" for n in missing])
    from bot.egress.teams_auth import bot_connections  # the Agents SDK: loaded only by a bot that serves Teams
    from bot.egress.teams_bot import build_adapter

    return build_adapter(bot_connections(app_id=env["TEAMS_APP_ID"], app_password=env["TEAMS_APP_PASSWORD"],
                                         tenant_id=env["TEAMS_APP_TENANT_ID"],
                                         authority_url=env.get("TEAMS_AUTHORITY_URL", ""),
                                         token_url=env.get("TEAMS_TOKEN_URL", "")))


def _add_teams_bot(app: web.Application, *, adapter: CloudAdapter, config: Config, store: Store,
                   pipeline: Pipeline, env: Mapping[str, str]) -> None:
    """The Teams bot (interactive approvals) at POST /teams/messages."""
    from bot.egress.teams_bot import TeamsBot

    def person_of(aad_object_id: str) -> str | None:
        person = pipeline.config.person_by("teams", aad_object_id)  # the config in force (reloads)
        return person.key if person else None

    bot = TeamsBot(ChatRunner(pipeline), person_of=person_of, refs=StoreConversationRefs(store))
    verifier = BotTokenVerifier(app_id=env["TEAMS_APP_ID"],
                                metadata_url=env.get("TEAMS_OPENID_METADATA_URL", DEFAULT_OPENID_METADATA_URL))
    if not config.teams_tenant_id:
        raise ConfigError(["teams.tenant_id: is required when the Teams bot is enabled (TEAMS_APP_ID is set)"])
    add_teams_routes(app, verifier=verifier, adapter=adapter, bot=bot, tenant_id=config.teams_tenant_id)


@dataclass
class _Parts:
    """What build_app wires together (each built once, shared by routes and background tasks)."""

    store: Store
    slack_client: AsyncWebClient
    github: GitHubRepos
    teams_sender: TeamsSender
    teams_adapter: CloudAdapter | None
    outbox: Outbox
    pipeline: Pipeline
    identity: IdentityCommands
    worker: Worker
    reconciler: Reconciler
    redeliverer: Redeliverer
    security: SecuritySettings
    pagerduty: PagerDutySettings | None
    security_worker: SecurityWorker
    epoch: Callable[[], float]


async def _parts(config: Config, secrets: Secrets, env: Mapping[str, str], clock: Callable[[], datetime]) -> _Parts:
    store = await Store.open(secrets.database_url)
    slack_client = AsyncWebClient(token=secrets.slack_bot_token, base_url=secrets.slack_api_url)
    pipeline_ref: list[Pipeline] = []  # the repositories come from the config in force (reloads)
    github = GitHubRepos(env=env, base_url=secrets.github_api_url,
                         repositories=lambda: pipeline_ref[0].config.repositories,
                         throttle=env.get("GITHUB_THROTTLE", "1") != "0")
    teams_sender = TeamsSender(urls=secrets.teams_urls,
                               formats={n: w.format for n, w in config.teams_webhooks.items()})
    teams_adapter = _teams_bot_adapter(env)
    teams_bot_sender = None
    if teams_adapter is not None:
        from bot.egress.teams_bot import TeamsBotSender

        teams_bot_sender = TeamsBotSender(teams_adapter, app_id=env["TEAMS_APP_ID"],
                                          references=StoreConversationRefs(store).reference)
    if teams_adapter is None and config.teams_approvals_conversation:
        log.warning("teams.bot.approvals_conversation is set but TEAMS_APP_ID is not: those cards will fail")
    senders: dict[Platform, Sender] = {
        Platform.SLACK: SlackSender(slack_client),
        Platform.TEAMS: TeamsSenders(webhooks=teams_sender, bot=teams_bot_sender),
    }
    pending = PendingCards()  # webhooks acked and not applied yet: a card's slot waits for them (issue 27 item 2)
    outbox = Outbox(store=store, senders=senders, interval=_float(env, "CHATOPS_CHANNEL_INTERVAL", 1.0),
                    backoff_base=_float(env, "CHATOPS_OUTBOX_BACKOFF_BASE", 1.0),
                    max_backoff=_float(env, "CHATOPS_OUTBOX_MAX_BACKOFF", 300.0),
                    give_up_after=_float(env, "CHATOPS_OUTBOX_GIVE_UP_AFTER", 86400.0), pending=pending)
    wakers: list[Callable[[], None]] = [outbox.wake]

    def wake() -> None:
        for w in wakers:
            w()

    pipeline = Pipeline(config=config, store=store, wake=wake, clock=clock, pending=pending)
    pipeline_ref.append(pipeline)
    pipeline.directory = TeamDirectory(github_fetch(github.org_client), ttl_s=lambda: pipeline.config.team_cache_ttl_s)
    pipeline.commands = identity = IdentityCommands(pipeline, oauth_settings(env))
    worker = Worker(pipeline=pipeline, github=github, wake_outbox=outbox.wake, clock=clock, pending=pending,
                    retention_days=int(_float(env, "CHATOPS_RETENTION_DAYS", 30)),
                    audit_retention_days=int(_float(env, "CHATOPS_AUDIT_RETENTION_DAYS", 365)), env=env)
    wakers.append(worker.wake)
    pipeline.wake_worker = worker.wake  # a recorded webhook is the worker's: nothing for the outbox yet
    security = security_settings(config)
    pagerduty = pagerduty_settings(config, env)  # issue 25: escalations paged through the Events API v2

    def epoch() -> float:
        return clock().timestamp()

    return _Parts(
        store=store, slack_client=slack_client, github=github, teams_sender=teams_sender,
        teams_adapter=teams_adapter, outbox=outbox, pipeline=pipeline, identity=identity, worker=worker,
        reconciler=Reconciler(events=worker.events, clock=clock),  # issue 24: runs whose webhooks were lost
        redeliverer=Redeliverer(store=store, github=github, config=lambda: pipeline.config),
        security=security, pagerduty=pagerduty,
        security_worker=SecurityWorker(store, config, settings=security, clock=epoch, page=pagerduty is not None),
        epoch=epoch)


def _routes(app: web.Application, p: _Parts, config: Config, secrets: Secrets, env: Mapping[str, str],
            lifecycle: Lifecycle) -> SocketMode | None:
    """Every route; the Slack transport (Socket Mode when an app token is set, else signed HTTP)."""
    store, pipeline = p.store, p.pipeline

    async def alert_action(*, action_id: str, alert_id: str, actor: Actor) -> str:
        return await handle_alert_action(store, config, action_id=action_id, alert_id=alert_id, actor=actor)

    bolt = build_bolt(pipeline=pipeline, signing_secret=secrets.slack_signing_secret,
                      client=p.slack_client, alert_action=alert_action, hooks_url=secrets.slack_hooks_url)
    org_events = OrgEvents(directory=lambda: pipeline.directory, forget_installation=p.github.forget_installation,
                           revoke=lambda github_id: revoke_links(pipeline.store, github_id, clock=pipeline.clock))
    gh = GitHubWebhookHandler(pipeline=pipeline, secret=secrets.github_webhook_secret, org_events=org_events)
    health = HealthHandler(pipeline, not_ready=lifecycle.not_ready)
    socket = None if not secrets.slack_app_token else SocketMode(
        bolt=bolt, app_token=secrets.slack_app_token, api_url=secrets.slack_api_url, team_id=config.slack_team_id)
    if socket is not None:
        lifecycle.add_check(socket.not_ready)
    else:
        slack = SlackHandler(bolt, signing_secret=secrets.slack_signing_secret, team_id=config.slack_team_id)
        app.router.add_post("/slack/events", slack.handle)
    app.router.add_post("/github/webhook", gh.handle)
    callbacks = KeyedRateLimiter(per_minute=max(1.0, _float(env, "CHATOPS_OAUTH_CALLBACKS_PER_MINUTE", 20.0)),
                                 burst=max(1, int(_float(env, "CHATOPS_OAUTH_CALLBACK_BURST", 20))))
    app.router.add_get(CALLBACK_PATH, OAuthCallbackHandler(  # issue 14.5; rate-limited: issue 22.9
        p.identity, limiter=callbacks, proxy_hops=int(_float(env, "CHATOPS_TRUSTED_PROXY_HOPS", 0))).handle)
    add_aws_routes(app.router, store=store, settings=p.security, api_key=secrets.events_api_key)
    if p.teams_adapter is not None:
        _add_teams_bot(app, adapter=p.teams_adapter, config=config, store=store, pipeline=pipeline, env=env)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    return socket


def _background(app: web.Application, p: _Parts, config: Config, socket: SocketMode | None,
                lifecycle: Lifecycle) -> None:
    """The background tasks: started with the app, stopped (leases released) when it stops."""
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    store = p.store

    async def start(_: web.Application) -> None:
        if socket is not None:
            try:
                await socket.start()  # a refused app token stops start-up here, before any worker runs
            except BaseException:
                await p.teams_sender.close()  # aiohttp runs no on_cleanup after a failed start-up
                await store.close()
                raise
        tasks.append(asyncio.create_task(p.worker.run(stop), name="worker"))
        tasks.append(asyncio.create_task(p.outbox.run(stop), name="outbox"))
        tasks.append(asyncio.create_task(p.reconciler.run(stop), name="reconcile"))
        tasks.append(asyncio.create_task(p.redeliverer.run(stop), name="redeliver"))
        tasks.append(asyncio.create_task(p.security_worker.run(stop), name="security"))
        if p.pagerduty is not None:
            tasks.append(asyncio.create_task(PagerDutySender(store, p.pagerduty, clock=p.epoch).run(stop),
                                             name="pagerduty"))
        for url in p.security.sqs.drained():  # the target queue and the delivery dead-letter queue
            poller = SqsPoller(store, config, settings=p.security, queue_url=url)
            tasks.append(asyncio.create_task(poller.run(stop), name=f"sqs:{url.rsplit('/', 1)[-1]}"))

    async def stop_intake(_: web.Application) -> None:  # SIGTERM: the port is closed already
        lifecycle.drain()
        stop.set()  # workers finish their current step and claim nothing more
        if socket is not None:
            await socket.close(grace=GRACE_S)

    async def shutdown(_: web.Application) -> None:
        stop.set()
        await stop_tasks(tasks, within=GRACE_S)
        await release_leases(store, keep_outbox=p.outbox.in_flight)  # another replica takes the rest at once
        await p.teams_sender.close()
        await store.close()

    app.on_startup.append(start)
    app.on_shutdown.append(stop_intake)
    app.on_cleanup.append(shutdown)


async def build_app(config: Config, secrets: Secrets, *, env: Mapping[str, str] | None = None,
                    clock: Callable[[], datetime] = utcnow, config_path: str = "") -> web.Application:
    env = os.environ if env is None else env
    quiet_libraries()
    protect_handlers(secrets.slack_hooks_url)
    delivery_settings(config)  # a bad metrics/digest/quiet-hours section stops start-up here
    p = await _parts(config, secrets, env, clock)
    lifecycle = Lifecycle()
    app = web.Application(client_max_size=GITHUB_MAX_BODY, middlewares=[_errors])
    app[BODY_POLICY] = BodyPolicy(timeout_s=_float(env, "CHATOPS_BODY_TIMEOUT", 10.0),
                                  max_pending=max(1, int(_float(env, "CHATOPS_MAX_PENDING_BODIES", 200))),
                                  max_bytes=int(max(1.0, _float(env, "CHATOPS_MAX_BODY_MIB", 64)) * 1024 * 1024))
    app[STORE], app[PIPELINE], app[OUTBOX], app[WORKER] = p.store, p.pipeline, p.outbox, p.worker
    app[LIFECYCLE] = lifecycle
    if config_path:  # SIGHUP re-reads it (bot/runtime/reload.py)
        app[RELOADER] = Reloader(path=config_path, pipeline=p.pipeline, env=env)
    socket = _routes(app, p, config, secrets, env, lifecycle)
    _background(app, p, config, socket, lifecycle)
    return app
