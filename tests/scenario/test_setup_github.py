"""`chatops-bot setup-github` enables the bot's custom deployment protection rule on gated environments through the
REST API (issue 23, item 2), idempotently; `check-config --online` reports a gated environment without it. Against
the GitHub fake's deployment_protection_rules endpoints, with the bot's real PyGithub client."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth, Github, GithubException

from bot.config import load_config
from bot.deploys.online_check import online_checks
from bot.deploys.setup_github import setup_github
from sandbox.stack import EXAMPLE_CONFIG, ROOT, Stack

APP_ID = "4242"


async def test_setup_enables_the_rule_once_and_check_config_sees_it(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=EXAMPLE_CONFIG)
    stack.github.app_id = int(APP_ID)
    stack.github.app_public_key = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    await stack.start_fakes()
    # check-config runs as the bot (App auth); setup-github with an admin's token, naming the App by its id
    env = {**stack.env, "GITHUB_APP_ID": APP_ID, "GITHUB_APP_PRIVATE_KEY": pem}
    config = load_config(EXAMPLE_CONFIG, env=env)
    try:
        before = dict((line, ok) for ok, line in await online_checks(config, env))
        first = await setup_github(config, env)
        posts = [r for r in stack.github.requests if r.method == "POST" and "protection_rules" in r.path]
        second = await setup_github(config, env)
        posts_after = [r for r in stack.github.requests if r.method == "POST" and "protection_rules" in r.path]
        after = dict((line, ok) for ok, line in await online_checks(config, env))
    finally:
        await stack.stop()
    # the example gates production only (gate: bot), and every service deploys there
    assert before["acme/platform environment production: the bot's protection rule (App 4242) is missing: run "
                  "`chatops-bot setup-github`"] is False
    assert first == [(True, "acme/platform environment production: enabled the bot's protection rule (App 4242)")]
    assert [r.body for r in posts] == [{"integration_id": 4242}]
    rules = stack.github.protection_rules
    assert list(rules) == ["production"] and rules["production"][0]["app"]["id"] == 4242
    assert second == [(True, "acme/platform environment production: the bot's protection rule is already enabled "
                             "(unchanged)")]
    assert len(posts_after) == 1, "the second run changed nothing"
    assert after["acme/platform environment production: the bot's protection rule is already enabled (unchanged)"]


async def test_the_fake_follows_the_documented_endpoints(tmp_path: Path) -> None:
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=EXAMPLE_CONFIG)
    await stack.start_fakes()
    gh = Github(auth=Auth.Token(stack.env["GITHUB_TOKEN"]), base_url=stack.github.url, retry=None,
                seconds_between_requests=0, seconds_between_writes=0)
    base = "/repos/acme/platform/environments"
    try:
        status, _, body = await asyncio.to_thread(
            gh.requester.requestJson, "POST", f"{base}/staging/deployment_protection_rules",
            input={"integration_id": 7})
        _, listed = await asyncio.to_thread(
            gh.requester.requestJsonAndCheck, "GET", f"{base}/staging/deployment_protection_rules")
        with pytest.raises(GithubException) as missing:
            await asyncio.to_thread(gh.requester.requestJsonAndCheck, "GET", f"{base}/qa/deployment_protection_rules")
        with pytest.raises(GithubException) as bad:
            await asyncio.to_thread(gh.requester.requestJsonAndCheck, "POST",
                                    f"{base}/staging/deployment_protection_rules", input={"integration_id": "x"})
    finally:
        await stack.stop()
    assert status == 201 and '"enabled": true' in body.replace('":true', '": true')
    assert listed["total_count"] == 1 and listed["custom_deployment_protection_rules"][0]["app"]["id"] == 7
    assert missing.value.status == 404 and bad.value.status == 422


def test_setup_github_without_an_app_id_fails_clearly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_APP_")}
    done = subprocess.run([sys.executable, "-m", "bot", "setup-github", str(EXAMPLE_CONFIG)], cwd=ROOT,
                          env={**env, "GITHUB_TOKEN": "x", "TEAMS_OPS_WEBHOOK_URL": "https://example.invalid/h"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "GITHUB_APP_ID is not set" in done.stderr
