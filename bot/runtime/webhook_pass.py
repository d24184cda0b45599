"""A worker pass's webhooks applied in few transactions (issue 27 items 2 and 4).

The webhooks a pass claimed are applied in inbox order. A run of consecutive webhooks that need only the database
(``GitHubEvents.batchable``) shares ONE transaction, each webhook in a savepoint of its own: one that fails rolls
back alone and is retried or parked as before, while the others are applied. Their cards are queued once per
request (and state) at the end, and each webhook's inbox row is marked done in the same transaction as its effects,
so a crash (SIGKILL) either leaves the whole chunk undone and its rows claimable again when their lease runs out, or
commits effects and "done" together: nothing is applied twice with a visible effect. On PostgreSQL each such
transaction first takes the webhooks' lock (``bot.store.pass_unit.lock_webhooks``): replicas apply webhooks one
transaction at a time, as SQLite's single writer does.

On SQLite the connection is used on the event loop and its statements never suspend, so a long transaction would
hold the loop and the ingest's group commit: a chunk ends after ``CHUNK_S`` (or ``CHUNK_MAX`` webhooks) and the
next one starts after a turn of the loop. A webhook that must ask GitHub (a protection rule, a push, a check, or a
run whose binding needs the bot's own login not read yet: ``NotInPass``) ends the chunk and is applied on its own,
outside any transaction, in its place in the order. If a chunk's transaction fails as a whole (a commit, a
savepoint that cannot be rolled back, the deferred cards), its webhooks are applied again one by one, the way every
webhook was before. Usually nothing of the chunk was committed then; when the failure came after the server
committed (a connection lost during or after COMMIT), applying again changes nothing visible: every write is
conditional (the inbox row only counts one more attempt). A chunk whose transaction could not even start took no
webhook: that error goes up to the worker loop, which waits before its next pass.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bot.delivery.pending import PendingCards
from bot.deploys.cards import card_key
from bot.deploys.github_events import GitHubEvents
from bot.deploys.messages import enqueue_deferred_cards
from bot.deploys.update_codec import github_update_from_json
from bot.domain import GitHubUpdate
from bot.errors import GitHubError, StoreConflict
from bot.store.pass_unit import NotInPass, PassBroken, pass_unit
from bot.store.store import Store, Unit

log = logging.getLogger(__name__)
CHUNK_S = 0.02  # a chunk's transaction stops taking webhooks after this long (the loop and ingest wait meanwhile)
CHUNK_MAX = 50
TRANSIENT_ATTEMPTS = 8  # a transient error (GitHub's, or another replica's transaction winning) is retried this often

Outcome = tuple[int, str, str]  # inbox id, state ("done", "pending", "failed"), error


def failed(item: dict[str, Any], exc: Exception) -> Outcome:
    """What a failing item becomes: retried (a transient GitHub error, or any error the first few times), then
    parked. Call it in the ``except`` block (it logs the traceback)."""
    if isinstance(exc, GitHubError):
        log.warning("github job %s failed (%s)", item["kind"], exc)
        tries, error = (TRANSIENT_ATTEMPTS if exc.transient else 0), str(exc)
    elif isinstance(exc, StoreConflict):  # another replica's transaction won this time: transient, like GitHub's
        log.warning("applying github item %s: %s", item["kind"], exc)
        tries, error = TRANSIENT_ATTEMPTS, type(exc).__name__
    else:
        log.exception("applying github item %s failed", item["kind"])
        tries, error = 5, type(exc).__name__
    return int(item["id"]), ("pending" if item["attempts"] < tries else "failed"), error


async def write_outcomes(u: Unit, outcomes: list[Outcome]) -> None:
    await u.inbox_done_many([i for i, state, _ in outcomes if state == "done"])
    for item_id, state, error in outcomes:
        if state != "done":
            await u.inbox_done(item_id, state=state, error=error)


class WebhookPass:
    def __init__(self, *, events: GitHubEvents, store: Store, wake_outbox: Callable[[], None],
                 pending: PendingCards | None = None) -> None:
        self.events = events
        self.store = store
        self.wake_outbox = wake_outbox
        self.pending = pending  # told which webhooks are applied and which run each card shows

    def applied(self, items: list[dict[str, Any]]) -> None:
        """These webhooks' effects and cards are committed (or their failure, or that they repeat what their run
        shows): the outbox need not wait for them."""
        if self.pending is not None:
            self.pending.forget(str(item["key"]) for item in items)

    async def apply(self, items: list[dict[str, Any]], updates: dict[int, GitHubUpdate]) -> int:
        """Apply claimed webhooks in order (``updates``: the parsed ones by inbox id); returns how many."""
        i = 0
        while i < len(items):
            up = updates.get(int(items[i]["id"]))
            if up is not None and self.events.batchable(up):
                i = await self._chunk(items, i, updates)
            else:
                await self._alone(items[i], up)
                i += 1
        return len(items)

    async def _alone(self, item: dict[str, Any], up: GitHubUpdate | None) -> None:
        """One webhook on its own path (its own transactions, GitHub calls outside them), then its outcome."""
        outcome: Outcome = (int(item["id"]), "done", "")
        try:
            await self.events.apply(up or github_update_from_json(item["body"]))
        except Exception as exc:
            outcome = failed(item, exc)
        async with self.store.unit() as u:
            await write_outcomes(u, [outcome])
        self.applied([item])

    async def _chunk(self, items: list[dict[str, Any]], start: int, updates: dict[int, GitHubUpdate]) -> int:
        """Apply batchable webhooks from ``items[start]`` on in one transaction; returns the next index."""
        began = time.monotonic()
        taken: list[dict[str, Any]] = []
        alone: dict[str, Any] | None = None  # the webhook that ended the chunk needing GitHub: applied after it
        try:
            async with pass_unit(self.store) as u:
                outcomes: list[Outcome] = []
                for item in items[start:start + CHUNK_MAX]:
                    up = updates.get(int(item["id"]))
                    if up is None or not self.events.batchable(up) or (
                            taken and time.monotonic() - began >= CHUNK_S):
                        break
                    taken.append(item)
                    try:
                        async with u.savepoint():
                            await self.events.apply_in(u, up)
                    except NotInPass:
                        alone = item
                        break
                    except PassBroken:
                        raise
                    except Exception as exc:
                        outcomes.append(failed(item, exc))
                    else:
                        outcomes.append((int(item["id"]), "done", ""))
                queued = await enqueue_deferred_cards(u, self.events.config)
                await write_outcomes(u, outcomes)
        except Exception:
            if not taken:
                raise  # no transaction (the database is gone): the loop backs off instead of trying again at once
            log.exception("a pass of %d webhooks failed as a whole; applying them one by one", len(taken))
            for item in taken:
                await self._alone(item, updates.get(int(item["id"])))
            return start + len(taken)
        if self.pending is not None:
            for r in queued:
                if r.run_id is not None:
                    self.pending.card_shows(card_key(r.id), r.run_id)
            self.applied(taken if alone is None else taken[:-1])
        self.wake_outbox()  # the cards are committed: the outbox may send them now
        if alone is not None:  # its own path asks GitHub for the bot's login outside any transaction
            await self._alone(alone, updates.get(int(alone["id"])))
        return start + len(taken)
