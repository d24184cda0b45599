"""The pure command parser: text -> Command | Reply."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import Config, load_config
from bot.deploys.commands import USAGE, parse, validate_ref
from bot.domain import (
    ApproveCommand,
    ApproveListCommand,
    CancelCommand,
    DeployCommand,
    LockCommand,
    RejectCommand,
    Reply,
    RollbackCommand,
    StatusCommand,
    UnlockCommand,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "chatops.yml"


def _config_with_a_production_only_service(tmp: Path) -> Config:
    # The example plus one service that only production may receive (the parser's per-service environments).
    data = yaml.safe_load(EXAMPLE.read_text())
    data["services"]["infra"] = {"workflow": "infra-apply.yml", "environments": ["production"]}
    path = tmp / "chatops.yml"
    path.write_text(yaml.safe_dump(data))
    return load_config(path, env={"TEAMS_OPS_WEBHOOK_URL": "https://example.invalid/hook"})


CONFIG: Config = _config_with_a_production_only_service(
    Path(tempfile.mkdtemp(prefix="chatops-commands-")))


def deploy(text: str) -> object:
    return parse(text, command="deploy", config=CONFIG)


def approve(text: str) -> object:
    return parse(text, command="/approve", config=CONFIG)


def rollback(text: str) -> object:
    return parse(text, command="rollback", config=CONFIG)


def error(result: object, command: str, *words: str) -> str:
    """Assert ``result`` is an error reply naming ``words`` and showing the usage line; return its text."""
    assert isinstance(result, Reply), result
    assert result.ok is False
    assert USAGE[command] in result.text
    for w in words:
        assert w.lower() in result.text.lower(), (w, result.text)
    return result.text


# ------------------------------------------------------------------------------------------ /deploy


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("api v1.4.2 to staging", DeployCommand("api", "v1.4.2", "staging")),
        ("  api   v1.4.2   TO   production  ", DeployCommand("api", "v1.4.2", "production")),
        ("worker main to dev", DeployCommand("worker", "main", "dev")),
        ("web feature/login-page to dev", DeployCommand("web", "feature/login-page", "dev")),
        ("infra " + "a" * 40 + " to production", DeployCommand("infra", "a" * 40, "production")),
        ("api v1.4.2 to production --force", DeployCommand("api", "v1.4.2", "production", force=True)),
        ("--force api v1.4.2 to production", DeployCommand("api", "v1.4.2", "production", force=True)),
        ("status", StatusCommand(None)),
        ("status api", StatusCommand("api")),
        ("STATUS web", StatusCommand("web")),
        ("lock production", LockCommand("production", None, "")),
        ("lock production for 2h", LockCommand("production", 7200, "")),
        ("lock production for 2h release freeze", LockCommand("production", 7200, "release freeze")),
        ("lock staging db migration", LockCommand("staging", None, "db migration")),
        ("unlock production", UnlockCommand("production")),
    ],
)
def test_deploy_usages(text: str, expected: object) -> None:
    assert deploy(text) == expected


@pytest.mark.parametrize("text", ["help", "HELP", "help me", "  help  "])
@pytest.mark.parametrize("command", ["deploy", "approve", "rollback"])
def test_help(command: str, text: str) -> None:
    result = parse(text, command=command, config=CONFIG)
    assert isinstance(result, Reply) and result.ok and result.text == USAGE[command]


def test_unknown_command() -> None:
    result = parse("x", command="/nuke", config=CONFIG)
    assert isinstance(result, Reply) and not result.ok and "/deploy" in result.text


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", ["what to deploy"]),
        ("billing v1 to staging", ["unknown service", "billing", "api"]),
        ("api v1 to qa", ["unknown environment", "qa", "staging"]),
        ("infra v1 to staging", ["infra", "cannot be deployed to", "staging", "production"]),
        ("api v1 staging", ["missing `to`"]),
        ("api v1", ["missing `to <env>`"]),
        ("api", ["missing"]),
        ("api v1 to staging now", ["too many"]),
        ("api -rf to staging", ["malformed ref", "'-'"]),
        ("api v1..v2 to staging", ["malformed ref"]),
        ("api v1;rm to staging", ["malformed ref"]),
        ("api $(id) to staging", ["malformed ref"]),
        ("api `id` to staging", ["malformed ref"]),
        ("api main.lock to staging", ["malformed ref"]),
        ("api " + "a" * 256 + " to staging", ["malformed ref", "255"]),
        ("status api web", ["at most one"]),
        ("status billing", ["unknown service", "billing"]),
        ("lock", ["needs an environment"]),
        ("lock qa", ["needs an environment", "production"]),
        ("lock production for ever", ["not a duration"]),
        ("lock production for 2 hours", ["not a duration"]),
        ("unlock", ["needs an environment"]),
        ("unlock production now", ["one env"]),
        ("x" * 2001, ["too long"]),
    ],
)
def test_deploy_errors_name_the_problem(text: str, words: list[str]) -> None:
    error(deploy(text), "deploy", *words)


def test_unknown_service_is_checked_before_the_ref() -> None:
    error(deploy("billing -x to staging"), "deploy", "unknown service")


# ------------------------------------------------------------------------------------------ /approve


def test_approve_usages() -> None:
    assert approve("") == ApproveListCommand()
    assert approve("   ") == ApproveListCommand()
    assert approve("r-abcd2345") == ApproveCommand("r-abcd2345", "")
    assert approve("r-abcd2345 looks good, ship it") == ApproveCommand("r-abcd2345", "looks good, ship it")
    assert approve("reject r-abcd2345") == RejectCommand("r-abcd2345", "")
    assert approve("REJECT r-abcd2345 not during the freeze") == RejectCommand("r-abcd2345", "not during the freeze")


def test_approve_comment_is_bounded() -> None:
    result = approve("r-abcd2345 " + "x" * 1900)
    assert isinstance(result, ApproveCommand) and len(result.comment) == 500


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("123", ["`123` is not a request id"]),
        ("r-ABCD2345", ["not a request id"]),
        ("r-abc", ["not a request id"]),
        ("reject", ["needs a request id"]),
        ("reject 42 because", ["needs a request id"]),
    ],
)
def test_approve_errors(text: str, words: list[str]) -> None:
    error(approve(text), "approve", *words)


# ------------------------------------------------------------------------------------------ /rollback


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("api production", RollbackCommand("api", "production", "")),
        ("api production to v1.4.1", RollbackCommand("api", "production", "v1.4.1")),
        ("web staging TO v2.0.0-rc.1", RollbackCommand("web", "staging", "v2.0.0-rc.1")),
        ("api production --force", RollbackCommand("api", "production", "", force=True)),
    ],
)
def test_rollback_usages(text: str, expected: object) -> None:
    assert rollback(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", ["name the service"]),
        ("api", ["name the service"]),
        ("api production to", ["name the service"]),
        ("billing production", ["unknown service", "billing"]),
        ("api qa", ["unknown environment", "qa"]),
        ("infra staging", ["cannot be deployed to", "staging"]),
        ("infra production", ["no rollback_workflow"]),
        ("api production at v1", ["expected `to <version>`"]),
        ("api production to -v1", ["malformed version", "'-'"]),
        ("api production to $(id)", ["malformed version"]),
    ],
)
def test_rollback_errors(text: str, words: list[str]) -> None:
    error(rollback(text), "rollback", *words)


# ------------------------------------------------------------------------------------------ refs


@pytest.mark.parametrize(
    "ref",
    [
        "main",
        "v1.4.2",
        "release/2026-11",
        "feature/JIRA-123_login",
        "dependabot/npm_and_yarn/lodash-4.17.21",
        "a" * 40,
        "0123456789abcdef0123456789abcdef01234567",
        "abc1234",
        "v2.0.0-rc.1+build.5",
        "x" * 255,
    ],
)
def test_valid_refs(ref: str) -> None:
    assert validate_ref(ref) is None
    assert deploy(f"api {ref} to staging") == DeployCommand("api", ref, "staging")


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "-rf",
        "--upload-pack=evil",
        "a..b",
        "..",
        "main;rm",
        "$(id)",
        "x$(id)",
        "`id`",
        "a b",
        "a|b",
        "a&b",
        "a>b",
        "a\nb",
        "main.lock",
        "refs/heads/x.lock",
        "x" * 256,
        "main/",
        "/main",
        "a//b",
        "main.",
        "a~1",
        "a^",
        "a:b",
        "a?b",
        "a*b",
        "a[b",
        "a\\b",
        "a@{1}",
        "ünïcode",
    ],
)
def test_invalid_refs(ref: str) -> None:
    reason = validate_ref(ref)
    assert reason is not None
    if ref and " " not in ref and "\n" not in ref:
        error(deploy(f"api {ref} to staging"), "deploy", "malformed ref")


# ------------------------------------------------------------------------------------------ properties


WORDS = st.sampled_from(
    ["api", "web", "worker", "infra", "to", "TO", "staging", "production", "dev", "qa", "status", "lock",
     "unlock", "for", "2h", "help", "--force", "reject", "r-abcd2345", "v1.4.2", "main", "-x", "a..b",
     "$(id)", "`x`", "main.lock", "a" * 40, "a" * 300]
)
TEXTS = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(WORDS, st.text(min_size=1, max_size=20)), max_size=7).map(" ".join),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, command=st.sampled_from(["deploy", "/deploy", "approve", "rollback", "/rollback"]))
def test_parse_never_raises_and_only_accepts_valid_refs(text: str, command: str) -> None:
    result = parse(text, command=command, config=CONFIG)
    assert isinstance(
        result,
        Reply | DeployCommand | RollbackCommand | StatusCommand | ApproveListCommand | ApproveCommand
        | RejectCommand | LockCommand | UnlockCommand,
    )
    if isinstance(result, DeployCommand):
        assert validate_ref(result.ref) is None
        assert result.service in CONFIG.services
        assert result.environment in CONFIG.services[result.service].environments
    if isinstance(result, RollbackCommand):
        assert result.target_version == "" or validate_ref(result.target_version) is None
    if isinstance(result, Reply) and not result.ok and command.lstrip("/") in USAGE:
        assert USAGE[command.lstrip("/")] in result.text


@settings(max_examples=300, deadline=None)
@given(ref=st.text(max_size=300))
def test_validate_ref_accepted_refs_are_safe(ref: str) -> None:
    if validate_ref(ref) is None:
        assert 0 < len(ref) <= 255
        assert not ref.startswith("-")
        assert ".." not in ref and not ref.endswith(".lock")
        assert not set(ref) & set(" \t\n;$`|&<>()'\"\\*?[]~^:@{}")


def test_lock_duration_is_capped() -> None:
    reply = parse("lock production for 99999999999d", command="deploy", config=CONFIG)
    assert isinstance(reply, Reply) and not reply.ok
    reply = parse("lock production for 91d", command="deploy", config=CONFIG)
    assert isinstance(reply, Reply) and "90 days" in reply.text


def test_deploy_cancel_takes_one_request_id() -> None:
    assert parse("cancel r-abcd2345", command="/deploy", config=CONFIG) == CancelCommand("r-abcd2345")
    for text in ("cancel", "cancel api", "cancel r-abcd2345 now"):
        answer = parse(text, command="/deploy", config=CONFIG)
        assert isinstance(answer, Reply) and "`cancel` takes one request id" in answer.text
    assert "/deploy cancel <id>" in USAGE["deploy"]
