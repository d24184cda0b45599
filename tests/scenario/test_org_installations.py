"""Issue 14.2: a GitHub App across installations. Without GITHUB_APP_INSTALLATION_ID the bot finds each
repository's installation and uses that installation's (cached) token for that repository's calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from chatops.app import STORE
from sandbox.stack import EXAMPLE_CONFIG, Stack, wait_for


def app_stack(tmp_path: Path) -> Stack:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    data: dict[str, Any] = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data["services"]["api"]["repository"] = "acme/api"
    data["services"]["web"]["repository"] = "globex/web"
    data["services"]["worker"]["repository"] = "initech/worker"
    path = tmp_path / "chatops.yml"
    path.write_text(yaml.safe_dump(data))
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=path,
                  extra_env={"GITHUB_TOKEN": "", "GITHUB_APP_ID": "4242", "GITHUB_APP_PRIVATE_KEY": pem})
    stack.github.app_id = 4242
    stack.github.app_public_key = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    stack.github.installation_id = 11
    stack.github.add_repository("acme/api", installation_id=11)
    stack.github.add_repository("globex/web", installation_id=22)
    stack.github.add_repository("initech/worker", installation_id=33)
    stack.github.not_installed.add("initech/worker")
    return stack


async def test_each_repository_uses_its_own_installations_token(tmp_path: Path) -> None:
    async with app_stack(tmp_path) as stack:
        api, web = stack.github.repo("acme/api"), stack.github.repo("globex/web")
        await stack.command("U0DEV", "api v1.4.2 to staging")
        await stack.command("U0DEV", "web v1.4.2 to staging")
        await wait_for(lambda: len(api.dispatches) == 1 and len(web.dispatches) == 1, what="both dispatches")
        tokens = stack.github.token_installations
        assert sorted(tokens.values()) == [11, 22], "one cached token per installation, not one per call"
        for fake, inst in ((api, 11), (web, 22)):
            used = {r.headers["Authorization"].split(" ", 1)[1] for r in fake.requests}
            assert used and all(tokens.get(t) == inst for t in used), (fake.repository, used)
        lookups = [r.path for r in stack.github.requests if r.path.endswith("/installation")]
        assert lookups == ["/repos/acme/api/installation", "/repos/globex/web/installation"]


async def test_a_repository_without_the_app_gets_a_clear_answer_and_nothing_dispatched(tmp_path: Path) -> None:
    async with app_stack(tmp_path) as stack:
        await stack.command("U0DEV", "worker v1.4.2 to staging", key="w")
        await wait_for(lambda: any("not installed on initech/worker" in r["text"]
                                   for r in stack.slack.responses("w")), what="the reason, to the requester")
        assert stack.github.all_dispatches() == []
        assert stack.app is not None
        async with stack.app[STORE].unit() as u:
            rows = await u.c.fetch("SELECT action, result, detail FROM audit WHERE action = 'dispatch'")
        assert [(r["result"], "not installed on initech/worker" in r["detail"]) for r in rows] == [("failed", True)]


async def test_check_config_online_prints_one_line_per_check_and_fails_on_any(tmp_path: Path) -> None:
    import asyncio
    import os
    import subprocess
    import sys

    from sandbox.stack import ROOT

    stack = app_stack(tmp_path)
    await stack.start_fakes()
    try:
        del stack.github.repo("globex/web").workflows["rollback.yml"]

        def run(*extra: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "bot", "check-config", str(stack.config_path), *extra],
                                  cwd=ROOT, env={**os.environ, **stack.env}, capture_output=True, text=True,
                                  timeout=60)

        before = len(stack.github.all_requests())
        offline = await asyncio.to_thread(run)
        assert offline.returncode == 0 and len(stack.github.all_requests()) == before, "nothing contacted"
        online = await asyncio.to_thread(run, "--online")
    finally:
        await stack.stop()
    out = online.stdout + online.stderr
    assert online.returncode == 1, out
    assert "ok: slack: the bot token works" in out
    assert "ok: github acme/api: credentials work" in out
    assert "ok: services.api.workflow: api-ci.yml accepts the bot's dispatch" in out
    assert "FAIL: services.web.rollback_workflow: rollback.yml is missing in globex/web" in out
    assert "FAIL: github initech/worker: the GitHub App is not installed on initech/worker" in out
    assert "BEGIN" not in out and "ghs_" not in out  # no key, no token
