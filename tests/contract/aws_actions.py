"""From what a job runs to the IAM actions it needs: `aws` CLI commands, ECR login and docker push, and the
release engine's commands (whose calls are recorded by engine_recorder while the engine's moto tests run)."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bot.contract import ENGINE_MODULE

# CLI service name -> IAM service prefix, where they differ.
SERVICE_PREFIX = {"s3api": "s3", "monitoring": "cloudwatch", "stepfunctions": "states"}
# API operations whose IAM action is not the operation's name.
OPERATION_ACTION = {
    ("s3", "ListObjectsV2"): ("s3:ListBucket",),
    ("s3", "ListObjects"): ("s3:ListBucket",),
    ("s3", "HeadBucket"): ("s3:ListBucket",),
    ("s3", "HeadObject"): ("s3:GetObject",),
    ("s3", "DeleteObjects"): ("s3:DeleteObject",),
    ("s3", "CopyObject"): ("s3:GetObject", "s3:PutObject"),
    ("lambda", "Invoke"): ("lambda:InvokeFunction",),
}
# CLI customisations that are no API operation of their own: the operation they call.
CLI_COMMANDS = {("ecr", "get-login-password"): "ecr:GetAuthorizationToken"}
# `aws <service> wait <waiter>`: the operation each waiter polls.
WAITERS = {
    ("ecr", "image-scan-complete"): "ecr:DescribeImageScanFindings",
    ("ecr", "lifecycle-policy-preview-complete"): "ecr:GetLifecyclePolicyPreview",
    ("lambda", "function-updated"): "lambda:GetFunctionConfiguration",
    ("lambda", "function-updated-v2"): "lambda:GetFunction",
    ("lambda", "function-active"): "lambda:GetFunctionConfiguration",
    ("lambda", "published-version-active"): "lambda:GetFunctionConfiguration",
    ("cloudfront", "invalidation-completed"): "cloudfront:GetInvalidation",
    ("cloudfront", "distribution-deployed"): "cloudfront:GetDistribution",
}
# `aws s3 <command>` (the high-level commands) -> actions.
S3_COMMANDS = {
    "cp": ("s3:GetObject", "s3:PutObject"),
    "mv": ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"),
    "sync": ("s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"),
    "ls": ("s3:ListBucket",),
    "rm": ("s3:DeleteObject",),
}
ECR_LOGIN = "aws-actions/amazon-ecr-login"
DOCKER_PUSH = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
)
_AWS = re.compile(r"(?:^|[\s;|&(`])aws\s+([a-z][a-z0-9-]*)\s+([a-z][a-z0-9-]*)(?:\s+([a-z][a-z0-9-]*))?")
_DOCKER_PUSH = re.compile(r"\bdocker\s+(?:image\s+)?push\b|\bdocker\s+buildx\s+build\b[^\n]*--push\b")
_ENGINE = re.compile(rf"python3?\s+-m\s+(?:bot\.actions\.release|{re.escape(ENGINE_MODULE)})\s+([a-z][a-z0-9-]*)")

# The engine's entry points (module.qualname of its outermost frame) and the command that runs them.
ENGINE_ENTRIES = {
    "lambda_release.LambdaReleaser.deploy": "lambda-deploy",
    "lambda_release.LambdaReleaser.rollback": "lambda-rollback",
    "lambda_release.LambdaReleaser.status": "lambda-status",
    "lambda_release.LambdaReleaser.alias_state": "lambda-status",
    "lambda_release.LambdaReleaser.record_of": "lambda-status",
    "web.WebReleaser.publish": "web-publish",
    "web.WebReleaser.rollback": "web-rollback",
    "web.WebReleaser.ledger": "web-status",
    "web.WebReleaser.live_origin_path": "web-status",
    "health.AlarmHealthCheck.__call__": "lambda-deploy",
    "health.InvokeHealthCheck.__call__": "lambda-deploy",
    "health.VersionMetricsCheck.__call__": "lambda-deploy",
}


def _pascal(kebab: str) -> str:
    return "".join(part.capitalize() for part in kebab.split("-"))


def cli_actions(script: str) -> list[tuple[str, str]]:
    """(IAM action, command) for every `aws ...` in a shell script."""
    script = script.replace("\\\n", " ")
    found: list[tuple[str, str]] = []
    for m in _AWS.finditer(script):
        service, command, extra = m.group(1), m.group(2), m.group(3)
        prefix = SERVICE_PREFIX.get(service, service)
        text = f"aws {service} {command}" + (f" {extra}" if command == "wait" and extra else "")
        if service == "s3" and command in S3_COMMANDS:
            found.extend((a, text) for a in S3_COMMANDS[command])
        elif (service, command) in CLI_COMMANDS:
            found.append((CLI_COMMANDS[(service, command)], text))
        elif command == "wait":
            waiter = WAITERS.get((service, extra or ""))
            found.append((waiter or f"<unknown waiter {service} {extra}>", text))
        elif service not in ("configure", "help", "sts"):
            found.append((f"{prefix}:{_pascal(command)}", text))
    return found


def step_actions(step: dict[str, Any]) -> list[tuple[str, str]]:
    """IAM actions one step needs, besides the engine's."""
    if str(step.get("uses", "")).startswith(ECR_LOGIN):
        return [("ecr:GetAuthorizationToken", ECR_LOGIN)]
    texts = [str(step.get("run", ""))] + [str(v) for v in (step.get("with") or {}).values()]
    found: list[tuple[str, str]] = []
    for text in texts:
        found.extend(cli_actions(text))
        if _DOCKER_PUSH.search(text):
            found.extend((a, "docker push") for a in DOCKER_PUSH)
    return found


def engine_commands(step: dict[str, Any]) -> list[str]:
    texts = [str(step.get("run", ""))] + [str(v) for v in (step.get("with") or {}).values()]
    return [m.group(1) for text in texts for m in _ENGINE.finditer(text)]


def iam_actions(service: str, operation: str) -> tuple[str, ...]:
    operation = re.sub(r"\d{4}_\d{2}_\d{2}$", "", operation)
    prefix = SERVICE_PREFIX.get(service, service)
    return OPERATION_ACTION.get((prefix, operation), (f"{prefix}:{operation}",))


def engine_calls(log: Path) -> tuple[dict[str, set[str]], set[str]]:
    """Command -> IAM actions from a recorder log; and the entry points no command is known for."""
    by_command: dict[str, set[str]] = defaultdict(set)
    unmapped: set[str] = set()
    for line in log.read_text().splitlines():
        call = json.loads(line)
        command = next((ENGINE_ENTRIES[f] for f in call["frames"] if f in ENGINE_ENTRIES), None)
        if command is None:
            unmapped.add(" > ".join(call["frames"]) + f" ({call['service']}.{call['operation']})")
            continue
        by_command[command].update(iam_actions(call["service"], call["operation"]))
    return by_command, unmapped


def missing(needed: Iterable[tuple[str, str]], allowed: frozenset[str]) -> list[str]:
    return sorted({f"{action} ({why})" for action, why in needed if action not in allowed})
