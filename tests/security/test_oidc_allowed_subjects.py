"""Issue 22 item 14 through the composed app: which successful GitHub OIDC assumptions raise a card.

The default allow-list was ``repo:<github.repository>:*``: a successful assumption from any branch or pull request
of the main repository was silent, and the shipped workflows of the other configured repositories raised false
alerts. Now the default is exactly the subjects the shipped workflows present (bot/oidc_subjects.py, the same
source as the github-oidc trust policies), for every configured repository. Signed EventBridge events go to
/aws/events; cards are read from the Slack fake. CloudTrail shape: the published fixture
tests/fixtures/cloudtrail/assume-role-with-web-identity.github-unexpected-subject.derived.json (SOURCES.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.oidc_subjects import job_subjects
from sandbox.stack import Stack
from tests.scenario.test_github_flow import write_config
from tests.security.test_alert_storm_lane import post, until
from tests.security.test_storm_hides_nothing import assume, cards

MAIN = "acme/platform"  # examples/chatops.yml github.repository
OTHER = "acme/payments"  # a service in its own repository
WF = ".github/workflows"


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    config = write_config(tmp_path, **{
        "security": {"responders": ["admins"]},
        "services.payments": {"workflow": "api-ci.yml", "repository": OTHER, "environments": ["dev", "production"]},
    })
    s = await Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=config, channel_interval=0.05).start()
    yield s
    await s.stop()


async def _settle(stack: Stack, n: int) -> None:
    # every item taken off the inbox (an allowed subject matches no rule: nothing but the inbox row shows it)
    await until(stack, "SELECT COUNT(*) AS n FROM inbox WHERE source = 'security' AND state = 'done'",
                lambda r: r[0]["n"] == n, what="every event processed")
    await until(stack, "SELECT COUNT(*) AS n FROM outbox WHERE address = 'C0SECURITY' AND state = 'pending'",
                lambda r: r[0]["n"] == 0, what="cards delivered")


async def test_only_the_shipped_workflows_subjects_are_silent(stack: Stack) -> None:
    shipped = [
        f"repo:{MAIN}:environment:production:job_workflow_ref:{MAIN}/{WF}/web-ci.yml@refs/heads/main",
        f"repo:{MAIN}:environment:production:job_workflow_ref:{MAIN}/{WF}/lambda-release.yml@refs/tags/v1.4.2",
        f"repo:{MAIN}:pull_request:job_workflow_ref:{MAIN}/{WF}/infra-ci.yml@refs/pull/17/merge",
        # the other configured repository's shipped workflows: no false alert any more
        f"repo:{OTHER}:environment:dev:job_workflow_ref:{OTHER}/{WF}/api-ci.yml@refs/heads/main",
        f"repo:{OTHER}:ref:refs/heads/main:job_workflow_ref:{OTHER}/{WF}/security.yml@refs/heads/main",
    ]
    assert shipped[0] in job_subjects("web-deploy", repository=MAIN, environment="production")
    suspicious = [
        # a branch of the main repository (silenced by the old repo:<repo>:* default)
        f"repo:{MAIN}:ref:refs/heads/feature-x:job_workflow_ref:{MAIN}/{WF}/web-ci.yml@refs/heads/feature-x",
        # the default template's subject (no workflow named): not what our repositories present
        f"repo:{MAIN}:environment:production",
        # a shipped workflow file name, but another repository's copy of it
        f"repo:{MAIN}:environment:production:job_workflow_ref:evil-org/tools/{WF}/web-ci.yml@refs/heads/main",
        # a workflow that assumes no role in the shipped set
        f"repo:{OTHER}:environment:dev:job_workflow_ref:{OTHER}/{WF}/mine.yml@refs/heads/main",
    ]
    for i, subject in enumerate(shipped + suspicious):
        await post(stack, assume(i, subject, failed=False))
    await _settle(stack, len(shipped + suspicious))

    posted = cards(stack)
    named = [f":{subject} (WebIdentityUser)" for subject in shipped + suspicious]  # the card's principal line
    for subject, line in zip(shipped, named, strict=False):
        assert not any(line in c for c in posted), f"false alert for {subject}: {posted}"
    for subject, line in zip(suspicious, named[len(shipped):], strict=True):
        assert sum(line in c for c in posted) == 1, f"no card for {subject}: {posted}"
    assert len(posted) == len(suspicious)
    # the card's GitHub line shows the context's ref, not the appended workflow reference
    assert any("acme/platform · refs/heads/feature-x\n" in c for c in posted), posted
