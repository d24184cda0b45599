"""What scenario tests read back from the bot's store: a request, waiting for a request's state, the audit log."""

from __future__ import annotations

import asyncio

from bot.domain import AuditEntry, DeployRequest, RequestState
from chatops.app import STORE
from sandbox.stack import Stack


async def request(stack: Stack, rid: str) -> DeployRequest:
    assert stack.app is not None
    async with stack.app[STORE].unit() as u:
        r = await u.get_request(rid)
    assert r is not None
    return r


async def until(stack: Stack, rid: str, *wanted: RequestState) -> DeployRequest:
    for _ in range(750):
        r = await request(stack, rid)
        if r.state in wanted:
            return r
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{rid} never reached {wanted}")


async def audit(stack: Stack) -> list[AuditEntry]:
    assert stack.app is not None
    async with stack.app[STORE].unit() as u:
        return await u.audit_log()
