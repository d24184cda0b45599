"""``make demo``: a scripted tour of the bot against the loopback sandbox (SQLite, no accounts needed).

Prints what each channel and person saw. Exits non-zero if any step did not produce what it should.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from sandbox import github_payloads as gp
from sandbox.demo_alerts import alerts_step
from sandbox.pagerduty_fake import PagerDutyFake
from sandbox.rehearsal import FirstRun
from sandbox.stack import EXAMPLE_CONFIG, Stack, message_text, wait_for

CHANNELS = {"C0DEPLOYS": "#deploys", "C0APPROVALS": "#approvals", "C0SECURITY": "#security"}
WEB_REPOSITORY = "acme/web"
_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")
PD = PagerDutyFake()  # the PagerDuty Events API v2 fake the alerts step pages
CLOCK_OFFSET = [timedelta(0)]  # the bot's clock; the alerts step moves it past security.escalate_after


class StepFailed(Exception):
    pass


def _plain(text: str) -> str:
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    for emoji, sym in ((":white_check_mark:", "[ok]"), (":red_circle:", "[x]"), (":hourglass_flowing_sand:", "[..]"),
                       (":large_blue_circle:", "[-]"), (":no_entry:", "[denied]"), (":rocket:", ">>"),
                       (":warning:", "[!]"), (":lock:", "[lock]"), (":x:", "[x]")):
        text = text.replace(emoji, sym)
    # what Slack shows for its mrkdwn escapes (api.slack.com/reference/surfaces/formatting#escaping)
    return text.replace("*", "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def say(who: str, text: str) -> None:
    body = textwrap.indent(_plain(text).strip(), "    ")
    print(f"  {who}\n{body}")


def show_card(stack: Stack, channel: str, match: str) -> Any:
    msgs = [m for m in stack.card_messages(channel) if match in message_text(m)]
    if not msgs:
        raise StepFailed(f"no card mentioning {match!r} in {CHANNELS.get(channel, channel)}")
    m = msgs[-1]
    lines = [ln for ln in message_text(m).splitlines() if ln.strip()]
    # fold "label\nvalue" field pairs onto one line for reading
    say(f"{CHANNELS.get(channel, channel)} card (posted once, updated {m.edits}x in place):", "\n".join(lines[1:]))
    return m


async def expect(predicate: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    try:
        await wait_for(predicate, timeout=timeout, what=what)
    except TimeoutError as exc:
        raise StepFailed(str(exc)) from exc


def request_id(answer: dict[str, Any]) -> str:
    m = re.search(r"`(r-[a-z0-9]{8})`", answer.get("text", ""))
    if not m:
        raise StepFailed(f"no request id in the answer: {answer.get('text')!r}")
    return m.group(1)


async def command(stack: Stack, user: str, line: str) -> dict[str, Any]:
    cmd, _, text = line.partition(" ")
    print(f"\n> {user}: {line}")
    status, answer = await stack.command(user, text, command=cmd)
    if status != 200:
        raise StepFailed(f"{line!r} answered HTTP {status}")
    say(f"(only {user} sees)", answer.get("text", ""))
    return answer


def show_jobs(first_run: FirstRun, workflow: str) -> None:
    """What the rehearsal ran for the last run of ``workflow``: each job, its steps, and what stood in for what."""
    results = [r for p in first_run.pipelines for wf, r in p.results if wf == workflow]
    jobs: dict[str, Any] = {}
    for result in results:  # the last run of each job
        jobs[result.job] = result
    for job, result in jobs.items():
        ran = [name for name, outcome in result.steps if outcome != "skipped"]
        print(f"  runner: {workflow} job {job}: {result.outcome} in {result.seconds:.1f} s, {len(ran)} steps ran")
        for step, what in result.stand_ins:
            if "@" not in step and not what.startswith(("actions/", "aws-actions/")):
                print(f"    stand-in in {step[:50]!r}: {what[:150]}")


def show_alias(first_run: FirstRun, env: str) -> None:
    state = first_run.accounts[env].alias(FirstRun.FUNCTION)
    print(f"  AWS ({env}): Lambda {FirstRun.FUNCTION} alias live -> version {state['version']} "
          f"(release {state['release']})")


async def scenario(stack: Stack, first_run: FirstRun) -> None:
    print("== 0. The pipeline as a team installs it")
    print(f"  chatops-bot install-workflows {first_run.repo}  (workflows, actions, the vendored release engine)")
    print("  GitHub variables: what infra/modules/github-environments sets from infra/environments/production.tfvars")
    print("  AWS: one moto server per environment account; production already runs 1.4.1 from last week")
    first_run.released_before("production", "v1.4.1")
    show_alias(first_run, "production")

    print("\n== 1. A deployer ships api v1.4.2 to staging (no approval needed)")
    rid = staging_rid = request_id(await command(stack, "U0DEV", "/deploy api v1.4.2 to staging"))
    await expect(lambda: any(d.inputs.get("request_id") == rid for d in stack.github.dispatches), "dispatch")
    d = stack.github.dispatches[-1]
    print(f"  GitHub: workflow_dispatch {d.workflow} at {d.ref} inputs={d.inputs}")
    await expect(lambda: any(rid in message_text(m) and "succeeded" in message_text(m)
                             for m in stack.card_messages("C0DEPLOYS")), "staging card shows success", timeout=120)
    show_card(stack, "C0DEPLOYS", rid)
    show_alias(first_run, "staging")
    show_jobs(first_run, "api-ci.yml")

    print("\n== 2. Promotion order: production takes only what succeeded in staging (promote_from: staging)")
    refused = request_id(await command(stack, "U0DEV", "/deploy api v1.3.0 to production"))
    await expect(lambda: any(refused in message_text(m) and "could not start" in message_text(m)
                             for m in stack.card_messages("C0DEPLOYS")), "the refused promotion's card")
    show_card(stack, "C0DEPLOYS", refused)
    staged = next(m for m in stack.card_messages("C0DEPLOYS") if staging_rid in message_text(m))
    if "Promote to production" not in message_text(staged):
        raise StepFailed("the staging card has no Promote to production button")
    print("\n> U0DEV clicks [Promote to production] on the staging card")
    before = len(stack.github.dispatches)
    await stack.click("U0DEV", "promote", staging_rid, channel="C0DEPLOYS", message_ts=staged.ts, key="promote")
    await expect(lambda: bool(stack.slack.responses("promote")), "the promotion's answer")
    say("(only U0DEV sees)", stack.slack.responses("promote")[0]["text"])
    rid = request_id(stack.slack.responses("promote")[0])
    print("   Production needs another person's approval")
    await expect(lambda: any(rid in message_text(m) and "Approve" in message_text(m)
                             for m in stack.card_messages("C0APPROVALS")), "approval card")
    card = show_card(stack, "C0APPROVALS", rid)
    print("\n> U0DEV clicks [Approve] on their own request")
    await stack.click("U0DEV", "approve", rid, message_ts=card.ts, key="self")
    await expect(lambda: bool(stack.slack.responses("self")), "refusal")
    say("(only U0DEV sees)", stack.slack.responses("self")[0]["text"])
    if len(stack.github.dispatches) != before:
        raise StepFailed("a self-approval dispatched a workflow")
    print("\n> U0LEAD clicks [Approve]")
    await stack.click("U0LEAD", "approve", rid, message_ts=card.ts, key="lead")
    await expect(lambda: bool(stack.slack.responses("lead")), "approval answer")
    say("(only U0LEAD sees)", stack.slack.responses("lead")[0]["text"])
    await expect(lambda: any(d.inputs.get("request_id") == rid for d in stack.github.dispatches), "dispatch")
    d = stack.github.dispatches[-1]
    print(f"  GitHub: workflow_dispatch {d.workflow} at {d.ref} inputs={d.inputs}")
    await expect(lambda: any(rid in message_text(m) and "succeeded" in message_text(m)
                             for m in stack.card_messages("C0APPROVALS")), "production card shows success",
                 timeout=120)
    show_card(stack, "C0APPROVALS", rid)
    show_alias(first_run, "production")

    print("\n== 3. Someone who is not in the people list is refused")
    before = len(stack.github.dispatches)
    answer = await command(stack, "U0GUEST", "/deploy api v1.4.2 to staging")
    if "Not allowed" not in answer.get("text", ""):
        raise StepFailed("the guest was not refused")
    await asyncio.sleep(0.3)
    if len(stack.github.dispatches) != before:
        raise StepFailed("the guest's command dispatched a workflow")

    print("\n== 4. A bad command gets the usage line")
    answer = await command(stack, "U0DEV", "/deploy api v1.4.2 staging")
    if "Usage:" not in answer.get("text", ""):
        raise StepFailed("no usage line for a malformed command")

    print("\n== 5. The lead rolls production back (production's approval policy applies to rollbacks too)")
    rid = request_id(await command(stack, "U0LEAD", "/rollback api production to v1.4.1"))
    await expect(lambda: any(rid in message_text(m) and "Approve" in message_text(m)
                             for m in stack.card_messages("C0APPROVALS")), "rollback approval card")
    if any(d.inputs.get("request_id") == rid for d in stack.github.dispatches):
        raise StepFailed("a production rollback was dispatched before its approval")
    card = next(m for m in stack.card_messages("C0APPROVALS") if rid in message_text(m))
    print("\n> U0SRE clicks [Approve]")
    await stack.click("U0SRE", "approve", rid, message_ts=card.ts, key="sre-rollback")
    await expect(lambda: any(d.inputs.get("request_id") == rid for d in stack.github.dispatches), "rollback dispatch")
    d = stack.github.dispatches[-1]
    print(f"  GitHub: workflow_dispatch {d.workflow} at {d.ref} inputs={d.inputs}")
    await expect(lambda: any(rid in message_text(m) and "succeeded" in message_text(m)
                             for m in stack.card_messages("C0DEPLOYS")), "rollback card shows success", timeout=120)
    show_card(stack, "C0DEPLOYS", rid)
    show_alias(first_run, "production")
    show_jobs(first_run, "rollback.yml")
    if first_run.accounts["production"].alias(FirstRun.FUNCTION)["release"] != "1.4.1":
        raise StepFailed("the engine did not move production's alias back to release 1.4.1")

    print("\n== 6. What is deployed where")
    answer = await command(stack, "U0SRE", "/deploy status api")
    if "production: v1.4.1" not in answer.get("text", "") and "production: previous" not in answer.get("text", ""):
        raise StepFailed("status does not show the rollback")

    await preview_and_stats(stack)
    await other_repository(stack, first_run)
    await alerts_step(stack, PD, CLOCK_OFFSET, expect=expect, show=lambda m: show_card(stack, "C0SECURITY", m) and None)

    await expect(lambda: len(stack.teams.accepted("ops")) >= 3, "Teams cards")
    print(f"\n== Teams channel 'ops' received {len(stack.teams.accepted('ops'))} Adaptive Cards "
          "(one per deployment, plus the approval request: a Teams webhook cannot edit a posted card, so it gets "
          "what needs a person and the outcome; teams.webhooks.ops.updates: all would post every change)")

    from chatops.app import STORE

    assert stack.app is not None
    async with stack.app[STORE].unit() as u:
        entries = await u.audit_log()
    print("\n== Audit log")
    for e in entries:
        print(f"  {e.at:%H:%M:%S} {e.actor:<13} {e.action:<9} {e.target:<20} {e.result:<7} {e.detail[:60]}")
    if not any(e.actor == "slack:U0GUEST" and e.result == "denied" for e in entries):
        raise StepFailed("the guest's refusal is not in the audit log")


async def preview_and_stats(stack: Stack) -> None:
    print("\n== 7. What an approver sees: the changes since what runs in production, and their checks")
    now = time.time()
    titles = ["Add retry budget to the payments client (#231)", "Fix timezone in invoices (#232)",
              "Bump boto3 (#233)", "Cache the price list (#234)", "Log request ids (#235)",
              "Split the orders table (#236)", "Drop the legacy /v0 endpoint (#237)"]
    base = stack.github.resolve("main") or ""  # the rollback ran at main: what production's record says runs
    shas = stack.github.add_commits(base, [(t, "dev-gh", now - (7 - i) * 3600) for i, t in enumerate(titles)],
                                    tag="v1.5.0")
    stack.github.add_check_run(shas[-1], "unit tests", "success")
    stack.github.add_check_run(shas[-1], "lint", "failure")
    # CI put v1.5.0 on staging outside the bot: GitHub's Deployments API is the promotion order's second record
    stack.github.deployments.append(gp.deployment(stack.github.url, "acme/platform", dep_id=990_001, sha=shas[-1],
                                                  ref="v1.5.0", environment="staging", creator="ci", ts=now,
                                                  task="deploy", payload=None, description=None))
    stack.github.deployment_statuses.append({"id": 890_001, "deployment_id": 990_001, "state": "success"})
    rid = request_id(await command(stack, "U0DEV", "/deploy api v1.5.0 to production"))
    await expect(lambda: any(rid in message_text(m) and "failing: lint" in message_text(m)
                             for m in stack.card_messages("C0APPROVALS")), "approval preview with the checks")
    show_card(stack, "C0APPROVALS", rid)
    answer = await command(stack, "U0LEAD", f"/approve reject {rid} lint is failing")
    if "Rejected" not in answer.get("text", ""):
        raise StepFailed("the reject was not taken")

    print("\n== 8. How are we doing? Delivery figures from the bot's own records")
    answer = await command(stack, "U0SRE", "/deploy stats api production 30d")
    if "Deployment frequency" not in answer.get("text", ""):
        raise StepFailed("/deploy stats did not print the figures")


async def other_repository(stack: Stack, first_run: FirstRun) -> None:
    print("\n== 9. One bot, several repositories: web lives in acme/web (services.web.repository)")
    web = stack.github.repo(WEB_REPOSITORY)
    rid = request_id(await command(stack, "U0DEV", "/deploy web v1.4.2 to staging"))
    await expect(lambda: any(d.inputs.get("request_id") == rid for d in web.dispatches), "dispatch in acme/web")
    d = next(d for d in web.dispatches if d.inputs.get("request_id") == rid)
    calls = [f"{r.method} {r.path}" for r in web.requests if r.path.endswith("/dispatches")]
    print(f"  GitHub: {calls[-1]} (ref {d.ref}, inputs={d.inputs})")
    if any(x.inputs.get("request_id") == rid for x in stack.github.dispatches):
        raise StepFailed("the web deploy was dispatched in acme/platform too")
    await expect(lambda: any(rid in message_text(m) and WEB_REPOSITORY in message_text(m)
                             and "succeeded" in message_text(m) for m in stack.card_messages("C0DEPLOYS")),
                 "the web card names acme/web and shows success", timeout=120)
    show_card(stack, "C0DEPLOYS", rid)
    show_jobs(first_run, "web-ci.yml")
    site = first_run.web("staging")
    print(f"  AWS (staging): S3 bucket holds {site['objects']} objects; CloudFront origin -> {site['origin_path']}, "
          f"{site['invalidations']} invalidation(s)")
    if site["objects"] == 0 or site["invalidations"] == 0 or not site["origin_path"].startswith("/releases/"):
        raise StepFailed("the web deploy put nothing in S3 or did not switch and invalidate CloudFront")


def demo_config(tmp: Path) -> Path:
    """The example config with web moved to its own repository (the example keeps one repository for the tests
    that share it)."""
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data["services"]["web"]["repository"] = WEB_REPOSITORY
    data["environments"]["production"]["promote_from"] = "staging"  # issue 25: promotion order
    data["pagerduty"] = {"routing_key_env": "PAGERDUTY_ROUTING_KEY"}  # escalations page the PagerDuty fake
    path = tmp / "chatops.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


async def main() -> int:
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        await PD.start()
        stack = Stack(database_url=f"sqlite:///{tmp}/demo.db", config_path=demo_config(Path(tmp)),
                      channel_interval=0.05, step_delay=0.1, extra_env=PD.env(),
                      clock=lambda: datetime.now(UTC) + CLOCK_OFFSET[0])
        stack.github.add_repository(WEB_REPOSITORY)  # another repository on the same GitHub, same installation
        await stack.start()
        first_run = FirstRun(stack, Path(tmp))
        try:
            print(f"Sandbox: bot {stack.url} · Slack fake {stack.slack.url} · GitHub fake {stack.github.url}")
            print("Setting up the pipeline (installing the release engine's pinned requirements into a job venv)...\n")
            await asyncio.to_thread(first_run.start)
            await scenario(stack, first_run)
        except StepFailed as exc:
            print(f"\nDEMO FAILED: {exc}", file=sys.stderr)
            return 1
        finally:
            first_run.stop()
            await stack.stop()
            await PD.stop()
    print("\nDemo finished: every step produced what it should.")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
