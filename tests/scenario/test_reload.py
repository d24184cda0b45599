"""Issue 14.6: config reload without restart. A valid change applies to new commands without dropping an
in-flight request; an invalid file keeps the old config and logs every problem."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from chatops.app import PIPELINE, RELOADER
from sandbox.stack import EXAMPLE_CONFIG, Stack, message_text, wait_for


async def test_a_valid_change_applies_and_an_invalid_one_is_refused(tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data["people"]["newbie"] = {"slack": "U0NEW"}
    path = tmp_path / "chatops.yml"
    path.write_text(yaml.safe_dump(data))
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=path) as stack:
        assert stack.app is not None
        _, answer = await stack.command("U0DEV", "api v1.4.2 to production")  # in flight: waits for approval
        rid = answer["text"].split("`")[1]
        await wait_for(lambda: any(rid in message_text(m) and "Approve" in message_text(m)
                                   for m in stack.card_messages("C0APPROVALS")), what="approval card")
        _, before = await stack.command("U0NEW", "api v1.4.2 to staging")
        assert "not a deployer for staging" in before["text"]

        data["groups"]["deployers"].append("newbie")
        path.write_text(yaml.safe_dump(data))
        assert stack.app[RELOADER].reload()
        _, after = await stack.command("U0NEW", "api v1.4.2 to staging")
        assert after["text"].startswith(":rocket:"), after["text"]
        _, approved = await stack.command("U0LEAD", rid, command="/approve")  # the in-flight request goes on
        assert "Approved" in approved["text"]
        await wait_for(lambda: {d.inputs["environment"] for d in stack.github.dispatches} == {"staging", "production"},
                       what="both dispatched")

        serving = stack.app[PIPELINE].config
        bad = dict(data, environments={**data["environments"], "qa": {"deployers": ["nobody"], "gate": "maybe"}})
        path.write_text(yaml.safe_dump(bad))
        with caplog.at_level(logging.ERROR, logger="bot.runtime.reload"):
            assert not stack.app[RELOADER].reload()
        assert stack.app[PIPELINE].config is serving
        logged = [r.getMessage() for r in caplog.records]
        assert any("environments.qa.deployers[0]: 'nobody' is neither a group nor a person" in m for m in logged)
        assert any("environments.qa.gate: 'maybe' is not one of" in m for m in logged)
        _, still = await stack.command("U0NEW", "api v1.4.2 to dev")
        assert still["text"].startswith(":rocket:")
