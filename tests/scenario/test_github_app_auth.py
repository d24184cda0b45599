"""GitHub App auth: app JWT -> installation token (cached), used for every call; no personal token needed."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.stack import Stack, wait_for


async def test_bot_dispatches_with_an_installation_token(tmp_path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    key_file = tmp_path / "app.pem"
    key_file.write_text(private_pem)
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", extra_env={
        "GITHUB_TOKEN": "", "GITHUB_APP_ID": "4242", "GITHUB_APP_PRIVATE_KEY_FILE": str(key_file),
        "GITHUB_APP_INSTALLATION_ID": "1"})
    stack.github.app_id, stack.github.app_public_key = 4242, public_pem
    async with stack:
        for env in ("dev", "staging"):
            await stack.command("U0DEV", f"api v1.4.2 to {env}")
        await wait_for(lambda: len(stack.github.dispatches) == 2, what="two dispatches")
    assert len(stack.github.installation_tokens) == 1, "the installation token is cached, not minted per call"
    token = next(iter(stack.github.installation_tokens))
    api_calls = [r for r in stack.github.requests if "/repos/" in r.path]
    assert api_calls and all(r.headers.get("Authorization", "").endswith(token) for r in api_calls)


async def test_a_wrong_app_key_cannot_dispatch(tmp_path) -> None:
    real = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode()
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", extra_env={
        "GITHUB_TOKEN": "", "GITHUB_APP_ID": "4242", "GITHUB_APP_PRIVATE_KEY": pem,
        "GITHUB_APP_INSTALLATION_ID": "1"})
    stack.github.app_id = 4242
    stack.github.app_public_key = real.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    async with stack:
        await stack.command("U0DEV", "api v1.4.2 to staging", key="k")
        await wait_for(lambda: any("could not start" in r["text"] or "GitHub" in r["text"]
                                   for r in stack.slack.responses("k")), timeout=20, what="failure notice")
    assert stack.github.dispatches == []
    assert stack.github.installation_tokens == {}
