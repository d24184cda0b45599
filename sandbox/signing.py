"""Request signing for the sandbox and tests: Slack v0 signatures, Slack form bodies, GitHub HMAC."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import quote, urlencode


def sign_slack(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack sends: ``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def sign_github(secret: str, body: bytes) -> dict[str, str]:
    """``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``."""
    return {"X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def slash_command_body(
    command: str,
    text: str,
    user_id: str,
    channel_id: str,
    *,
    trigger_id: str | None = None,
    response_url: str = "https://hooks.slack.com/commands/T111/1/x",
    team_id: str = "T0SANDBOX",
    user_name: str | None = None,
    channel_name: str = "sandbox",
) -> bytes:
    """Form body of a slash command, field for field as Slack sends it (see the bolt-python fixture)."""
    fields = {
        "token": "verification_token",
        "team_id": team_id,
        "team_domain": "sandbox",
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name or user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": "A0SANDBOX",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or f"{int(time.time())}.{time.time_ns() % 10**9}.sandbox",
    }
    return urlencode(fields).encode()


def block_actions_body(
    action_id: str,
    value: str,
    user_id: str,
    channel_id: str,
    message_ts: str,
    *,
    block_id: str = "actions",
    trigger_id: str | None = None,
    response_url: str = "https://hooks.slack.com/actions/T111/1/x",
    team_id: str = "T0SANDBOX",
    action_ts: str | None = None,
    button_text: str = "Button",
    message: dict[str, Any] | None = None,
) -> bytes:
    """``payload=<json>`` form body of a button click (see the bolt-python block_actions fixture)."""
    now = time.time()
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team_id},
        "api_app_id": "A0SANDBOX",
        "token": "verification_token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id or f"{int(now)}.{time.time_ns() % 10**9}.sandbox",
        "team": {"id": team_id, "domain": "sandbox"},
        "channel": {"id": channel_id, "name": "sandbox"},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": button_text, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": action_ts or f"{now:.6f}",
            }
        ],
    }
    if message is not None:
        payload["message"] = message
    return ("payload=" + quote(json.dumps(payload))).encode()
