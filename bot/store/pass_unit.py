"""One transaction for a pass of webhooks (issue 27 items 2 and 4): each webhook in a savepoint of its own, so a
failing one rolls back alone, and a request's card queued once per pass (per state it went through) instead of
once per webhook.

``enqueue_card`` (bot.deploys.messages) hands a request's new state to ``defer_card`` when its unit is a
``PassUnit``; the state stays staged in the webhook's savepoint and joins the pass's cards only when that savepoint
is released (a rolled-back webhook leaves no card behind). ``take_cards`` gives them back at the end of the pass,
still inside its transaction, so the card is committed with the state change that causes it (DESIGN rule 5).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.domain import DeployRequest
from bot.store.store import Store, Unit


class PassBroken(Exception):
    """The pass's transaction cannot go on (a savepoint could not be rolled back): the whole pass is undone."""


class NotInPass(Exception):
    """Raised in a pass by work that must not run inside its transaction (a call to GitHub, up to 15 s, would hold
    the database meanwhile): the worker rolls the webhook back and applies it on its own."""


class PassUnit(Unit):
    """A Unit whose request cards are deferred to the end of the transaction, with per-webhook savepoints."""

    def __init__(self, u: Unit) -> None:
        super().__init__(u.c)
        self._cards: dict[str, list[DeployRequest]] = {}  # request id -> its states, one snapshot per state
        self._staged: list[DeployRequest] | None = None  # the open savepoint's cards

    def defer_card(self, r: DeployRequest) -> None:
        if self._staged is None:
            self._merge([r])
        else:
            self._staged.append(r)

    def _merge(self, snapshots: list[DeployRequest]) -> None:
        """Keep the newest snapshot of each state run: a card edited in place shows only its newest state anyway
        (the outbox coalesces), while a state the request passed through still gets its card (a Teams webhook
        posts one card per state it wants; quiet hours hold a final state's line)."""
        for r in snapshots:
            states = self._cards.setdefault(r.id, [])
            if states and states[-1].state is r.state:
                states[-1] = r
            else:
                states.append(r)

    def take_cards(self) -> list[DeployRequest]:
        """The deferred cards in the order their requests first changed; the list is emptied."""
        out = [r for states in self._cards.values() for r in states]
        self._cards = {}
        return out

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """Run one webhook's writes in a savepoint: an exception rolls back its writes and its cards and is
        raised again; when the rollback itself fails the transaction is lost, and ``PassBroken`` says so."""
        await self.c.execute("SAVEPOINT webhook")
        self._staged = []
        try:
            yield
        except Exception as exc:  # a cancellation leaves the whole transaction, which rolls back
            self._staged = None
            try:
                await self.c.execute("ROLLBACK TO SAVEPOINT webhook")
                await self.c.execute("RELEASE SAVEPOINT webhook")
            except Exception as broken:
                raise PassBroken(f"cannot roll back a webhook's savepoint: {type(broken).__name__}") from exc
            raise
        staged, self._staged = self._staged, None
        await self.c.execute("RELEASE SAVEPOINT webhook")
        self._merge(staged)


async def lock_webhooks(u: Unit) -> None:
    """Take the webhooks' lock for the rest of ``u``'s transaction (PostgreSQL; SQLite has one writer at a time).

    Webhooks are applied one transaction at a time across replicas. Each replica claims different webhooks, often
    of the same runs; in parallel, two chunks that wrote run X's request and run Y's in opposite orders deadlocked
    (PostgreSQL fails one after ``deadlock_timeout``), and two chunks that merged jobs into the same request read
    before either committed lost one of them; a run's request created by one replica, not committed yet, was not
    found by the other, which dropped the run's next webhook. Sorting the chunks by run cannot do it: a deployment's
    history follows the order its runs completed in. A transaction-level advisory lock, per schema (two bots may
    share a server), released at commit or rollback:
    https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS."""
    if u.c.dialect == "postgres":
        await u.c.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':chatops-webhooks'))")


@asynccontextmanager
async def webhook_unit(store: Store) -> AsyncIterator[Unit]:
    """``store.unit()`` holding the webhooks' lock (``lock_webhooks``): every transaction that applies webhooks."""
    async with store.unit() as u:
        await lock_webhooks(u)
        yield u


@asynccontextmanager
async def pass_unit(store: Store) -> AsyncIterator[PassUnit]:
    """A transaction for a pass of webhooks (``webhook_unit`` with deferred cards and savepoints)."""
    async with webhook_unit(store) as u:
        yield PassUnit(u)
